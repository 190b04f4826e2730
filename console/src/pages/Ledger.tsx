// 审计账本: search the platform's audit entries, export a verifiable bundle (audit
// administrator), and download the ledger's public key to verify it with.
import { useState } from "react";
import type { Dayjs } from "dayjs";
import { Alert, Button, Form, Space, Table, Tag, Typography } from "antd";
import { DownloadOutlined } from "@ant-design/icons";
import { api, rawFetch, unwrap, type Schemas } from "../api/client";
import { useSession } from "../app/session";
import { CriteriaForm } from "../components/CriteriaForm";
import { ExportButton } from "../components/ExportButton";
import { useT } from "../i18n";
import { saveResponse } from "../lib/download";
import { formatTime, zoneLabel } from "../lib/time";

type Entry = Schemas["AuditEntryPublic"];
type Criteria = { actor?: string; action?: string; target?: string; outcome?: "success" | "denied" | "failed"; range?: [Dayjs, Dayjs] };

function toQuery(criteria: Criteria): Record<string, string> {
  const q: Record<string, string> = {};
  for (const key of ["actor", "action", "target", "outcome"] as const) {
    const value = criteria[key];
    if (value) q[key] = value;
  }
  if (criteria.range) {
    q.start = criteria.range[0].toISOString();
    q.end = criteria.range[1].toISOString();
  }
  return q;
}

export default function Ledger() {
  const { t, locale } = useT();
  const { can } = useSession();
  const [form] = Form.useForm<Criteria>();
  const [items, setItems] = useState<Entry[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const search = async (criteria: Criteria, after?: string | null) => {
    setLoading(true);
    setError(null);
    try {
      const page = unwrap(await api.GET("/api/v1/audit/entries", { params: { query: { ...toQuery(criteria), limit: 50, cursor: after ?? undefined } } }));
      setItems((current) => (after ? [...current, ...page.items] : page.items));
      setCursor(page.next_cursor ?? null);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setLoading(false);
    }
  };

  const publicKey = async () => {
    const response = await rawFetch("/api/v1/audit/public-key");
    if (response.ok) await saveResponse(response, "ledger-pub.pem");
  };

  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Typography.Title level={3}>{t("ledger.entries")}</Typography.Title>
      <CriteriaForm<Criteria>
        form={form}
        keys={[
          { name: "actor", label: t("ledger.actor"), width: 160 },
          { name: "action", label: t("ledger.action"), width: 180 },
          { name: "target", label: t("ledger.target"), width: 160 },
        ]}
        outcome={{ label: t("ledger.outcome"), width: 120, options: ["success", "denied", "failed"].map((o) => ({ value: o, label: o })) }}
        submit={{ label: t("ledger.search"), loading }}
        onSearch={(v) => void search(v)}
      />
      <Space>
        {can("audit.export") && (
          <ExportButton
            request={() => rawFetch(`/api/v1/audit/export?${new URLSearchParams(toQuery(form.getFieldsValue()))}`)}
            filename="audit-export.zip"
            label={t("ledger.export")}
            busyLabel={t("ledger.exporting")}
            done={(name) => t("ledger.exported", { name })}
            testId="export"
          />
        )}
        <Button icon={<DownloadOutlined />} onClick={() => void publicKey()} data-testid="public-key">
          {t("ledger.publicKey")}
        </Button>
      </Space>
      <Typography.Text type="secondary">{t("ledger.exportNote")}</Typography.Text>
      {error && <Alert type="error" showIcon message={error} />}
      <Table<Entry>
        size="small"
        rowKey="seq"
        loading={loading}
        dataSource={items}
        pagination={false}
        expandable={{ expandedRowRender: (e) => <pre className="mono original">{JSON.stringify(e.payload, null, 2)}</pre> }}
        columns={[
          { title: t("ledger.seq"), dataIndex: "seq", width: 90 },
          { title: `${t("ledger.time")} · ${zoneLabel()}`, dataIndex: "ts", width: 210, render: (v: string) => formatTime(v, locale) },
          { title: t("ledger.action"), dataIndex: "action", render: (a: string) => <Tag>{a}</Tag> },
          { title: t("ledger.actor"), dataIndex: "actor" },
          { title: t("ledger.target"), dataIndex: "target" },
          { title: t("ledger.outcome"), dataIndex: "outcome", render: (o: string) => <Tag color={o === "success" ? "green" : o === "denied" ? "orange" : "red"}>{o}</Tag> },
        ]}
      />
      {cursor && <Button onClick={() => void search(form.getFieldsValue(), cursor)}>{t("events.more")}</Button>}
    </Space>
  );
}
