// 我的授权: the signed-in person's grants, their current terms, who approved them and how many
// records the trace has counted under each (the cap is checked on every access).
import { Alert, Progress, Space, Table, Tag, Typography } from "antd";
import { api, unwrap, type Schemas } from "../api/client";
import { useT, type MessageKey } from "../i18n";
import { formatTime } from "../lib/time";
import { useApi } from "../lib/useApi";
import { termsSummary } from "./RequestAccess";

type Grant = Schemas["GrantPublic"];

export default function MyGrants() {
  const { t, locale } = useT();
  const { data, error, loading } = useApi(async () => unwrap(await api.GET("/api/v1/me/access/grants")), []);
  if (error) return <Alert type="error" showIcon message={t("app.error")} description={error.message} />;
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Typography.Title level={3}>{t("grants.title")}</Typography.Title>
      <Table<Grant>
        size="small"
        rowKey="id"
        loading={loading}
        dataSource={data ?? []}
        pagination={false}
        locale={{ emptyText: t("grants.empty") }}
        onRow={(g) => ({ "data-grant-id": g.id }) as object}
        columns={[
          { title: t("grants.id"), dataIndex: "id", render: (v: string) => <span className="mono">{v}</span> },
          {
            title: t("gov.status"),
            dataIndex: "status",
            render: (s: string) => <Tag color={s === "active" ? "green" : "default"}>{t(`grants.status.${s}` as MessageKey)}</Tag>,
          },
          { title: t("gov.assets"), dataIndex: "terms", render: (terms: Record<string, unknown>) => termsSummary(terms) },
          { title: t("gov.purpose"), dataIndex: "purpose" },
          {
            title: t("gov.window"),
            dataIndex: "terms",
            key: "window",
            render: (terms: Record<string, unknown>) => `${formatTime(String(terms.valid_from), locale)} – ${formatTime(String(terms.valid_to), locale)}`,
          },
          { title: t("gov.region"), dataIndex: "terms", key: "region", render: (terms: Record<string, unknown>) => String(terms.region ?? "—") },
          {
            title: t("grants.used"),
            key: "used",
            render: (_, g) => {
              const cap = (g.terms as Record<string, unknown>).record_cap as number | null;
              const used = g.used ?? 0;
              return cap ? (
                <Space>
                  <span data-testid="grant-used">
                    {used} / {cap}
                  </span>
                  <Progress percent={Math.min(100, Math.round((used / cap) * 100))} size="small" style={{ width: 80 }} status={used > cap ? "exception" : "normal"} showInfo={false} />
                </Space>
              ) : (
                used
              );
            },
          },
          { title: t("gov.export"), dataIndex: "terms", key: "export", render: (terms: Record<string, unknown>) => (terms.export ? t("gov.yes") : t("gov.no")) },
          { title: t("grants.approvers"), dataIndex: "approvers", render: (a: string[]) => a.join(", ") },
          { title: t("grants.issued"), dataIndex: "issued_at", render: (v: string) => formatTime(v, locale) },
        ]}
      />
    </Space>
  );
}
