// 通报发件箱: the outbox's notifications by status; dead letters (通报失败) with their last error,
// resent by someone who may handle alerts (under the same idempotency key).
import { useState } from "react";
import { Link } from "react-router-dom";
import { App, Button, Segmented, Space, Table, Typography } from "antd";
import { api, unwrap, type Schemas } from "../api/client";
import { useSession } from "../app/session";
import { More } from "../components/More";
import { useT, type MessageKey } from "../i18n";
import { formatTime, zoneLabel } from "../lib/time";
import { usePaged } from "../lib/usePaged";

type Notification = Schemas["NotificationPublic"];
type Status = "dead" | "pending" | "delivered";

export default function Notifications() {
  const { t, locale } = useT();
  const { can } = useSession();
  const { message } = App.useApp();
  const [status, setStatus] = useState<Status>("dead");
  const paged = usePaged(
    async (cursor) => unwrap(await api.GET("/api/v1/notifications", { params: { query: { status, limit: 100, cursor } } })),
    [status],
  );
  const { items, loading, reload } = paged;
  const resend = async (id: number) => {
    try {
      unwrap(await api.POST("/api/v1/notifications/{notification_id}/resend", { params: { path: { notification_id: id } } }));
      message.success(t("notifications.resent"));
      void reload();
    } catch (e) {
      message.error((e as Error).message);
    }
  };
  return (
    <>
      <Space style={{ marginBottom: 12 }}>
        <Typography.Title level={3} style={{ margin: 0 }}>
          {t("notifications.title")}
        </Typography.Title>
        <Segmented<Status>
          value={status}
          onChange={setStatus}
          options={(["dead", "pending", "delivered"] as const).map((s) => ({ value: s, label: t(`notifications.status.${s}`) }))}
        />
      </Space>
      <Table<Notification>
        size="small"
        rowKey="id"
        loading={loading}
        dataSource={items}
        pagination={false}
        locale={{ emptyText: t("notifications.none") }}
        columns={[
          { title: "#", dataIndex: "id", width: 64 },
          { title: t("notifications.channel"), dataIndex: "channel", width: 120 },
          { title: t("notifications.kind"), dataIndex: "kind", width: 100 },
          {
            title: t("notifications.alert"),
            dataIndex: "alert_id",
            width: 150,
            render: (v: string | null) => (v ? <Link to={`/alerts/${v}`}>{v.slice(0, 14)}</Link> : "—"),
          },
          { title: t("notifications.status"), dataIndex: "status", width: 150, render: (s: string) => t(`notifications.status.${s}` as MessageKey) },
          { title: t("notifications.attempts"), dataIndex: "attempts", width: 80, align: "right" },
          { title: `${t("notifications.created")} · ${zoneLabel()}`, dataIndex: "created_at", width: 190, render: (v: string) => formatTime(v, locale) },
          { title: t("notifications.lastError"), dataIndex: "last_error", render: (v: string | null) => v ?? "—" },
          {
            key: "resend",
            width: 80,
            render: (_: unknown, n) =>
              n.status === "dead" && can("alerts.handle") ? (
                <Button size="small" onClick={() => void resend(n.id)} data-testid="resend">
                  {t("notifications.resend")}
                </Button>
              ) : null,
          },
        ]}
      />
      <More paged={paged} />
    </>
  );
}
