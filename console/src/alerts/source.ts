// The queue's data and the alert lifecycle, behind one small interface over the alert store's API
// (/api/v1/alerts, its server-sent change events, and the 处置 / 分派 / 备注 / 闭环 / 重开 actions),
// so the queue and detail pages never build requests themselves and tests can hand in another source.
import { api, unwrap, type Schemas } from "../api/client";

export type AlertItem = Schemas["AlertPublic"];
/** An SSE event's data (`ChangeEventPublic` on the server: the change and the alert as it stands). */
export type AlertChange = Schemas["ChangePublic"] & { alert: AlertItem | null };
export type Level = "red" | "orange" | "yellow" | "blue";
export type Status = "new" | "notified" | "in_progress" | "closed";
export type Resolution = "resolved" | "false_positive" | "accepted_risk";
export const LEVELS: Level[] = ["red", "orange", "yellow", "blue"];
export const STATUSES: Status[] = ["new", "notified", "in_progress", "closed"];
export const RESOLUTIONS: Resolution[] = ["resolved", "false_positive", "accepted_risk"];
/** The queue's default: everything not closed yet. */
export const OPEN_STATUSES: Status[] = ["new", "notified", "in_progress"];

export type AlertFilter = {
  level?: Level[];
  status?: Status[];
  assignee?: string;
  text?: string;
};
export type AlertPage = { items: AlertItem[]; next_cursor?: string | null };

export interface AlertSource {
  list(filter: AlertFilter, cursor?: string | null): Promise<AlertPage>;
  /** Alert changes from now on as they happen (each with the alert as it stands); returns the unsubscribe. */
  subscribe(onChange: (change: AlertChange) => void, onLive: (live: boolean) => void): () => void;
  // 处置: take the alert in hand (assigned to the caller when nobody has it).
  start(id: string, note?: string): Promise<AlertItem>;
}

const path = (alertId: string) => ({ params: { path: { alert_id: alertId } } });

export const storeAlerts: AlertSource = {
  async list(filter, cursor) {
    const query = {
      level: filter.level?.length ? filter.level : undefined,
      status: filter.status?.length ? filter.status : undefined,
      assignee: filter.assignee || undefined,
      text: filter.text || undefined,
      cursor: cursor ?? undefined,
      limit: 100,
    };
    return unwrap(await api.GET("/api/v1/alerts", { params: { query } }));
  },
  subscribe(onChange, onLive) {
    const source = new EventSource("/api/v1/alerts/stream", { withCredentials: true });
    source.onopen = () => onLive(true);
    source.onerror = () => onLive(false); // EventSource reconnects by itself, with Last-Event-ID
    source.addEventListener("alert", (event) => onChange(JSON.parse((event as MessageEvent).data) as AlertChange));
    source.addEventListener("expired", () => {
      source.close();
      onLive(false);
    });
    return () => source.close();
  },
  async start(id, note) {
    return unwrap(await api.POST("/api/v1/alerts/{alert_id}/start", { ...path(id), body: { note: note ?? null } }));
  },
};

/** The lifecycle actions of one alert (each answers the alert as it now stands). */
export const alertActions = {
  start: storeAlerts.start,
  async assign(id: string, assignee: string | null) {
    return unwrap(await api.POST("/api/v1/alerts/{alert_id}/assign", { ...path(id), body: { assignee } }));
  },
  async comment(id: string, text: string) {
    return unwrap(await api.POST("/api/v1/alerts/{alert_id}/comments", { ...path(id), body: { text } }));
  },
  async close(id: string, resolution: Resolution, note: string) {
    return unwrap(await api.POST("/api/v1/alerts/{alert_id}/close", { ...path(id), body: { resolution, note } }));
  },
  async reopen(id: string, note: string) {
    return unwrap(await api.POST("/api/v1/alerts/{alert_id}/reopen", { ...path(id), body: { note } }));
  },
  // An upper platform's acknowledgement recorded by hand (it came by phone or paper): 通报 done.
  async receipt(id: string, channel: string) {
    return unwrap(await api.POST("/api/v1/alerts/{alert_id}/receipts", { ...path(id), body: { channel } }));
  },
};

/** Whether `alert` passes `filter` (a live change is shown in the queue only when it does). */
export function matches(alert: AlertItem, filter: AlertFilter): boolean {
  if (alert.suppressed_by) return false;
  if (filter.level?.length && !filter.level.includes(alert.warning_level)) return false;
  const statuses = filter.status?.length ? filter.status : STATUSES;
  if (!statuses.includes(alert.status)) return false;
  if (filter.assignee && alert.assignee !== filter.assignee) return false;
  if (filter.text) {
    const hay = `${alert.rule_title} ${Object.values(alert.group).join(" ")}`.toLowerCase();
    if (!hay.includes(filter.text.toLowerCase())) return false;
  }
  return true;
}

/** The person and the data asset an alert is about, from its group key (what the queue shows). */
export function subjectOf(alert: AlertItem): { user?: string; asset?: string; ip?: string } {
  const g = alert.group;
  return { user: g["user.name"] ?? g["user.id"], asset: g["data.asset.name"] ?? g["data.asset.id"], ip: g["source.ip"] };
}
