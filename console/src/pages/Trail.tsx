// 留痕检索与复核 (事后可追溯): the audit administrator searches the ledger by actor, asset, grant,
// kind, time and outcome, records a review of the selection (note, finding, sign-off) as a ledger
// entry, and exports the selection: a bundle proven complete, a CSV and the HTML and PDF report.
import { useState } from "react";
import type { Dayjs } from "dayjs";
import { Alert, App, Button, Card, Checkbox, Form, Input, Space, Table, Tag, Typography } from "antd";
import { api, rawFetch, unwrap, type Schemas } from "../api/client";
import { useSession } from "../app/session";
import { CriteriaForm } from "../components/CriteriaForm";
import { ExportButton } from "../components/ExportButton";
import { useT, type MessageKey } from "../i18n";
import { formatTime, zoneLabel } from "../lib/time";

type Entry = Schemas["TrailEntry"];
type Criteria = { actor?: string; subject?: string; grant?: string; kind?: string; outcome?: string; range?: [Dayjs, Dayjs] };
type Selection = Schemas["SelectionIn"];
const OUTCOMES = ["allowed", "violation", "open", "success", "denied", "failed"];
const OUTCOME_COLORS: Record<string, string> = { allowed: "green", success: "green", open: "blue", violation: "red", denied: "orange", failed: "red" };

function selectionOf(c: Criteria): Selection {
  return {
    actor: c.actor || null,
    subject: c.subject || null,
    grant: c.grant || null,
    kind: c.kind || null,
    since: c.range ? c.range[0].toISOString() : null,
    until: c.range ? c.range[1].toISOString() : null,
  };
}

export default function Trail() {
  const { t, locale } = useT();
  const { can } = useSession();
  const { message } = App.useApp();
  const [form] = Form.useForm<Criteria>();
  const [review] = Form.useForm<{ note: string; finding?: string; signoff?: boolean }>();
  const [items, setItems] = useState<Entry[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const hasKey = (c: Criteria) => Boolean(c.actor || c.subject || c.grant || c.kind);
  // Every trail action needs a key (the API refuses a selection of the whole ledger); else say so.
  const keyed = () => {
    if (hasKey(form.getFieldsValue())) return true;
    setError(t("trail.needKey"));
    return false;
  };

  const search = async (criteria: Criteria, after?: string | null) => {
    if (!hasKey(criteria)) {
      setError(t("trail.needKey"));
      return;
    }
    setLoading(true);
    setError(null);
    try {
      const s = selectionOf(criteria);
      const query = { ...Object.fromEntries(Object.entries(s).filter(([, v]) => v)), outcome: criteria.outcome || undefined, limit: 50, cursor: after ?? undefined };
      const page = unwrap(await api.GET("/api/v1/audit/trail", { params: { query } }));
      setItems((current) => (after ? [...current, ...page.items] : page.items));
      setCursor(page.next_cursor ?? null);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setLoading(false);
    }
  };

  const recordReview = async (values: { note: string; finding?: string; signoff?: boolean }) => {
    if (!keyed()) return;
    const criteria = form.getFieldsValue();
    try {
      const done = unwrap(
        await api.POST("/api/v1/audit/trail/reviews", {
          body: { selection: selectionOf(criteria), note: values.note, finding: values.finding ?? "", signoff: values.signoff ?? false },
        }),
      );
      message.success(t("trail.reviewed", { seq: done.seq ?? "—" }));
      review.resetFields();
    } catch (e) {
      message.error((e as Error).message);
    }
  };

  const exportTrail = () =>
    rawFetch("/api/v1/audit/trail/export", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(selectionOf(form.getFieldsValue())),
    });

  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Typography.Title level={3}>{t("trail.title")}</Typography.Title>
      <Typography.Text type="secondary">{t("trail.intro")}</Typography.Text>
      <CriteriaForm<Criteria>
        form={form}
        keys={[
          { name: "actor", label: t("trail.actor"), width: 150 },
          { name: "subject", label: t("trail.subject"), width: 150 },
          { name: "grant", label: t("trail.grant"), width: 170 },
          { name: "kind", label: t("trail.kind"), width: 150 },
        ]}
        outcome={{ label: t("trail.outcome"), width: 130, options: OUTCOMES.map((o) => ({ value: o, label: t(`trail.outcome.${o}` as MessageKey) })) }}
        rangeLabel={t("trail.range")}
        submit={{ label: t("trail.search"), loading, testId: "trail-search" }}
        onSearch={(v) => void search(v)}
      />
      {error && <Alert type="error" showIcon message={error} />}
      <Table<Entry>
        size="small"
        rowKey="seq"
        loading={loading}
        dataSource={items}
        pagination={false}
        expandable={{ expandedRowRender: (e) => <pre className="mono original">{JSON.stringify(e.payload, null, 2)}</pre> }}
        onRow={(e) => ({ "data-seq": e.seq, "data-outcome": e.outcome }) as object}
        columns={[
          { title: t("trail.seq"), dataIndex: "seq", width: 80 },
          { title: `${t("trail.time")} · ${zoneLabel()}`, dataIndex: "ts", width: 200, render: (v: string) => formatTime(v, locale) },
          { title: t("trail.kind"), dataIndex: "kind", render: (k: string) => <Tag>{k}</Tag> },
          { title: t("trail.actor"), dataIndex: "actor" },
          { title: t("trail.subject"), dataIndex: "subject" },
          { title: t("trail.grant"), key: "grant", render: (_, e) => String(e.payload["approval.id"] ?? "—") },
          {
            title: t("trail.outcome"),
            dataIndex: "outcome",
            render: (o: string) => <Tag color={OUTCOME_COLORS[o]}>{OUTCOMES.includes(o) ? t(`trail.outcome.${o}` as MessageKey) : o}</Tag>,
          },
          {
            title: t("trail.violations"),
            key: "violations",
            render: (_, e) => ((e.payload["trace.violations"] as string[] | undefined) ?? []).join(", ") || "—",
          },
          { title: `${t("grants.used")} / ${t("gov.cap")}`, key: "used", render: (_, e) => (e.payload["trace.used"] !== undefined ? `${String(e.payload["trace.used"])} / ${String(e.payload["trace.cap"] ?? "—")}` : "—") },
        ]}
      />
      {cursor && <Button onClick={() => void search(form.getFieldsValue(), cursor)}>{t("events.more")}</Button>}
      {can("audit.review") && (
        <Card title={t("trail.review")} size="small">
          <Form form={review} layout="vertical" onFinish={(v) => void recordReview(v)} style={{ maxWidth: 720 }}>
            <Form.Item name="note" label={t("trail.reviewNote")} rules={[{ required: true, max: 4000 }]}>
              <Input.TextArea rows={2} />
            </Form.Item>
            <Form.Item name="finding" label={t("trail.finding")} rules={[{ max: 4000 }]}>
              <Input.TextArea rows={2} />
            </Form.Item>
            <Form.Item name="signoff" valuePropName="checked">
              <Checkbox>{t("trail.signoff")}</Checkbox>
            </Form.Item>
            <Button htmlType="submit" data-testid="record-review">
              {t("trail.recordReview")}
            </Button>
          </Form>
        </Card>
      )}
      {can("audit.export") && (
        <Space direction="vertical">
          <ExportButton
            request={exportTrail}
            ready={keyed}
            filename="trail-export.zip"
            label={t("trail.export")}
            busyLabel={t("trail.exporting")}
            done={(name) => t("trail.exported", { name })}
            testId="trail-export"
          />
          <Typography.Text type="secondary">{t("trail.exportNote")}</Typography.Text>
        </Space>
      )}
    </Space>
  );
}
