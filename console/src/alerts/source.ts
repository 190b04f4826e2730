// The queue's data, behind one small interface: today the interim read-only API (/api/v1/alerts
// and its server-sent events); issue 17's alert store implements the same interface, adding
// `acknowledge`, without the queue page changing.
import { api, unwrap, type Schemas } from "../api/client";

export type AlertItem = Schemas["AlertSummary"];
export type AlertFilter = {
  warning_level?: "red" | "orange" | "yellow" | "blue";
  status?: "new" | "acknowledged" | "in_progress" | "resolved" | "false_positive";
  text?: string;
};
export type AlertPage = { items: AlertItem[]; next_cursor?: string | null };

export interface AlertSource {
  list(filter: AlertFilter, cursor?: string | null): Promise<AlertPage>;
  /** New alerts after `position` as they arrive; returns the unsubscribe function. */
  subscribe(position: number, onAlert: (alert: AlertItem) => void, onLive: (live: boolean) => void): () => void;
  /** Absent until the alert store has a lifecycle (issue 17). */
  acknowledge?: (id: string) => Promise<void>;
}

export const interimAlerts: AlertSource = {
  async list(filter, cursor) {
    const query = { ...filter, text: filter.text || undefined, cursor: cursor ?? undefined, limit: 100 };
    return unwrap(await api.GET("/api/v1/alerts", { params: { query } }));
  },
  subscribe(position, onAlert, onLive) {
    const source = new EventSource(`/api/v1/alerts/stream?after=${position}`, { withCredentials: true });
    source.onopen = () => onLive(true);
    source.onerror = () => onLive(false); // EventSource reconnects by itself, with Last-Event-ID
    source.addEventListener("alert", (event) => onAlert(JSON.parse((event as MessageEvent).data) as AlertItem));
    source.addEventListener("expired", () => {
      source.close();
      onLive(false);
    });
    return () => source.close();
  },
};
