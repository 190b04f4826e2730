// 通报路由: the routing rules (from the settings file, read-only, and those made through the API)
// and the configured channels (never their secrets; robots' URLs show their host only).
import { Card, Space, Table, Tag, Typography } from "antd";
import { api, unwrap, type Schemas } from "../api/client";
import { useT, type MessageKey } from "../i18n";
import { useApi } from "../lib/useApi";

type Route = Schemas["RoutePublic"];

function List({ values, prefix }: { values: string[]; prefix?: string }) {
  const { t } = useT();
  if (!values.length) return <Typography.Text type="secondary">{t("routes.any")}</Typography.Text>;
  return (
    <>
      {values.map((v) => (
        <Tag key={v}>{prefix ? t(`${prefix}.${v}` as MessageKey) : v}</Tag>
      ))}
    </>
  );
}

export default function RoutesPage() {
  const { t } = useT();
  const routes = useApi(async () => unwrap(await api.GET("/api/v1/notifications/routes", {})), []);
  const channels = useApi(async () => unwrap(await api.GET("/api/v1/notifications/channels", {})), []);
  return (
    <Space direction="vertical" style={{ width: "100%" }} size="middle">
      <Typography.Title level={3} style={{ margin: 0 }}>
        {t("routes.title")}
      </Typography.Title>
      <Typography.Text type="secondary">{t("routes.intro")}</Typography.Text>
      <Table<Route>
        size="small"
        rowKey="id"
        loading={routes.loading}
        dataSource={routes.data ?? []}
        pagination={false}
        columns={[
          { title: t("routes.name"), dataIndex: "name", width: 140 },
          { title: t("routes.channels"), dataIndex: "channels", render: (v: string[]) => <List values={v} /> },
          { title: t("routes.levels"), dataIndex: "levels", render: (v: string[]) => <List values={v} prefix="level" /> },
          { title: t("routes.grades"), dataIndex: "grades", render: (v: string[]) => <List values={v} prefix="grade" /> },
          { title: t("routes.tags"), dataIndex: "tags", render: (v: string[]) => <List values={v} /> },
          { title: t("routes.sources"), dataIndex: "sources", render: (v: string[]) => <List values={v} /> },
          { title: t("routes.hours"), dataIndex: "hours", width: 110, render: (v: string) => v || t("routes.any") },
          { title: t("routes.kinds"), dataIndex: "kinds", render: (v: string[]) => <List values={v} /> },
          { title: t("routes.enabled"), dataIndex: "enabled", width: 70, render: (v: boolean) => (v ? "✓" : "—") },
          { title: t("routes.origin"), dataIndex: "origin", width: 90 },
        ]}
      />
      <Card size="small" title={t("routes.channelList")}>
        <Table
          size="small"
          rowKey="name"
          loading={channels.loading}
          dataSource={channels.data ?? []}
          pagination={false}
          columns={[
            { title: t("routes.name"), dataIndex: "name", width: 160 },
            { title: t("routes.type"), dataIndex: "type", width: 120 },
            { title: t("routes.receipt"), dataIndex: "receipt", width: 120 },
            { title: t("routes.target"), dataIndex: "target", render: (v: string) => <span className="mono">{v}</span> },
          ]}
        />
      </Card>
    </Space>
  );
}
