// 事件检索: time range, fields and full text (Chinese included: the store searches trigrams);
// an event's original log on demand, a read the API records in the ledger.
import { useState } from "react";
import dayjs, { type Dayjs } from "dayjs";
import { Alert, Button, DatePicker, Form, Input, Modal, Select, Space, Table, Typography } from "antd";
import { api, unwrap, type Schemas } from "../api/client";
import { GradeTag } from "../components/Labels";
import { useT, type MessageKey } from "../i18n";
import { formatTime, zoneLabel } from "../lib/time";

type EventItem = Schemas["EventSummary"];
type Criteria = {
  range?: [Dayjs, Dayjs];
  text?: string;
  action?: string;
  user?: string;
  asset?: string;
  classification?: "general" | "important" | "core";
};

export default function Events() {
  const { t, locale } = useT();
  const [form] = Form.useForm<Criteria>();
  const [items, setItems] = useState<EventItem[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [query, setQuery] = useState<Record<string, string> | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [original, setOriginal] = useState<Schemas["EventFull"] | null>(null);

  const run = async (criteria: Criteria, after?: string | null) => {
    setLoading(true);
    setError(null);
    const q: Record<string, string> = {};
    if (criteria.range) {
      q.start = criteria.range[0].toISOString();
      q.end = criteria.range[1].toISOString();
    }
    for (const key of ["text", "action", "user", "asset", "classification"] as const) {
      const value = criteria[key];
      if (value) q[key] = value;
    }
    try {
      const page = unwrap(await api.GET("/api/v1/events", { params: { query: { ...q, limit: 50, cursor: after ?? undefined } } }));
      setItems((current) => (after ? [...current, ...page.items] : page.items));
      setCursor(page.next_cursor ?? null);
      setQuery(q);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setLoading(false);
    }
  };

  const openOriginal = async (id: string) => {
    setOriginal(unwrap(await api.GET("/api/v1/events/{event_id}", { params: { path: { event_id: id } } })));
  };

  return (
    <>
      <Typography.Title level={3}>{t("menu.events")}</Typography.Title>
      <Form
        form={form}
        layout="inline"
        initialValues={{ range: [dayjs().subtract(7, "day"), dayjs().add(1, "minute")] }}
        onFinish={(values) => void run(values)}
        style={{ marginBottom: 16, rowGap: 8 }}
      >
        <Form.Item name="range" label={t("events.range")}>
          <DatePicker.RangePicker showTime />
        </Form.Item>
        <Form.Item name="text">
          <Input aria-label={t("events.search")} placeholder={t("events.search")} style={{ width: 240 }} allowClear />
        </Form.Item>
        <Form.Item name="action">
          <Input aria-label={t("events.action")} placeholder={t("events.action")} style={{ width: 150 }} allowClear />
        </Form.Item>
        <Form.Item name="user">
          <Input aria-label={t("events.user")} placeholder={t("events.user")} style={{ width: 130 }} allowClear />
        </Form.Item>
        <Form.Item name="asset">
          <Input aria-label={t("events.asset")} placeholder={t("events.asset")} style={{ width: 130 }} allowClear />
        </Form.Item>
        <Form.Item name="classification">
          <Select
            aria-label={t("events.classification")}
            placeholder={t("events.classification")}
            allowClear
            style={{ width: 130 }}
            options={["core", "important", "general"].map((g) => ({ value: g, label: t(`grade.${g}` as MessageKey) }))}
          />
        </Form.Item>
        <Button type="primary" htmlType="submit" loading={loading}>
          {t("events.submit")}
        </Button>
      </Form>
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Table<EventItem>
        size="small"
        rowKey="id"
        loading={loading}
        dataSource={items}
        pagination={false}
        locale={{ emptyText: query ? t("events.none") : " " }}
        expandable={{
          expandedRowRender: (event) => <pre className="mono original">{JSON.stringify(event.fields, null, 2)}</pre>,
        }}
        columns={[
          { title: `${t("events.time")} · ${zoneLabel()}`, dataIndex: "timestamp", width: 210, render: (v: string) => formatTime(v, locale) },
          { title: t("events.action"), render: (_, e) => String(e.fields["event.action"] ?? "") },
          { title: t("events.user"), render: (_, e) => String(e.fields["user.name"] ?? "—") },
          { title: t("events.asset"), render: (_, e) => String(e.fields["data.asset.name"] ?? "—") },
          { title: t("events.classification"), width: 110, render: (_, e) => <GradeTag grade={e.fields["data.classification"] as string | undefined} /> },
          { title: t("events.stage"), render: (_, e) => (e.fields["datasoc.lifecycle"] ? t(`stage.${e.fields["datasoc.lifecycle"]}` as MessageKey) : "—") },
          { title: t("events.outcome"), render: (_, e) => String(e.fields["event.outcome"] ?? "") },
          { title: t("events.source"), render: (_, e) => String(e.fields["event.dataset"] ?? "") },
          {
            title: t("events.original"),
            width: 120,
            render: (_, e) => (
              <Button size="small" onClick={() => void openOriginal(e.id)}>
                {t("events.original")}
              </Button>
            ),
          },
        ]}
      />
      {cursor && query && (
        <Button style={{ marginTop: 12 }} onClick={() => void run(form.getFieldsValue(), cursor)}>
          {t("events.more")}
        </Button>
      )}
      <Modal open={original !== null} title={t("events.originalTitle")} footer={null} onCancel={() => setOriginal(null)} width={800}>
        <Space direction="vertical" style={{ width: "100%" }}>
          <Alert type="info" showIcon message={t("events.originalNote")} />
          <pre className="mono original" data-testid="original-log">
            {original?.original}
          </pre>
        </Space>
      </Modal>
    </>
  );
}
