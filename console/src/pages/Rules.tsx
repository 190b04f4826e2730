// 检测规则: every rule file with its tests and the engine's per-rule figures.
import { Alert, Badge, Collapse, Space, Spin, Table, Tag, Typography } from "antd";
import { api, unwrap, type Schemas } from "../api/client";
import { useT } from "../i18n";
import { useApi } from "../lib/useApi";

type Rule = Schemas["RulePublic"];

function RuleText({ ruleKey }: { ruleKey: string }) {
  const { t } = useT();
  const { data } = useApi(async () => unwrap(await api.GET("/api/v1/rules/{key}", { params: { path: { key: ruleKey } } })), [ruleKey]);
  if (!data) return <Spin />;
  return (
    <Collapse
      items={[
        { key: "rule", label: t("rules.text"), children: <pre className="mono original">{data.text}</pre> },
        { key: "tests", label: t("rules.testsText"), children: <pre className="mono original">{data.tests_text ?? t("rules.noTests")}</pre> },
      ]}
    />
  );
}

export default function Rules() {
  const { t } = useT();
  const { data, error, loading } = useApi(async () => unwrap(await api.GET("/api/v1/rules")), []);
  if (error) return <Alert type="error" showIcon message={t("app.error")} description={error.message} />;
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Typography.Title level={3}>{t("rules.title")}</Typography.Title>
      {data && <Typography.Text type="secondary">{t("rules.engine", { engine: data.engine })}</Typography.Text>}
      <Alert type="info" showIcon message={t("rules.toggleNote")} />
      <Table<Rule>
        size="small"
        rowKey="key"
        loading={loading}
        dataSource={data?.items ?? []}
        pagination={false}
        expandable={{ expandedRowRender: (rule) => <RuleText ruleKey={rule.key} /> }}
        columns={[
          { title: t("alerts.rule"), dataIndex: "title" },
          { title: t("rules.key"), dataIndex: "key", render: (k: string) => <span className="mono">{k}</span> },
          { title: t("rules.level"), dataIndex: "level", width: 90, render: (l: string) => <Tag>{l}</Tag> },
          { title: t("rules.kind"), dataIndex: "kind", width: 90, render: (k: string) => (k === "correlation" ? t("rules.kindCorrelation") : t("rules.kindSingle")) },
          { title: t("rules.tests"), width: 150, render: (_, r) => t("rules.testsCount", { positive: r.tests_positive, negative: r.tests_negative }) },
          { title: t("rules.matches"), width: 90, align: "right", render: (_, r) => r.health.matches ?? "—" },
          { title: t("rules.errors"), width: 80, align: "right", render: (_, r) => r.health.errors ?? "—" },
          { title: t("rules.timePerEvent"), width: 130, align: "right", render: (_, r) => (r.health.micros_per_event == null ? "—" : r.health.micros_per_event.toFixed(2)) },
          {
            title: t("alerts.status"),
            width: 110,
            render: (_, r) => (r.running ? <Badge status="success" text={t("rules.running")} /> : <Badge status="error" text={`${t("rules.rejected")}: ${r.rejected[0] ?? ""}`} />),
          },
        ]}
      />
    </Space>
  );
}
