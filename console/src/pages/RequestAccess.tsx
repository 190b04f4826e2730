// 数据使用申请 (事前管审批): a data user requests assets and fields for a purpose, with its legal
// basis, region, time window, record cap and whether export is allowed; their own requests below,
// with withdrawal while pending. The API picks the approval policy by the highest grade requested.
import { useState } from "react";
import type { Dayjs } from "dayjs";
import dayjs from "dayjs";
import { Alert, App, Button, DatePicker, Form, Input, InputNumber, Select, Space, Switch, Table, Tag, Typography } from "antd";
import { api, unwrap, type Schemas } from "../api/client";
import { GradeTag } from "../components/Labels";
import { useT, type MessageKey } from "../i18n";
import { formatTime } from "../lib/time";
import { useApi } from "../lib/useApi";

type Request = Schemas["RequestPublic"];
type Values = {
  assets: string[];
  fields?: Record<string, string[] | undefined>;
  purpose: string;
  legal_basis: string;
  region?: string;
  window: [Dayjs, Dayjs];
  record_cap?: number;
  export?: boolean;
};

export function RequestStatus({ status }: { status: string }) {
  const { t } = useT();
  const color = status === "approved" ? "green" : status === "rejected" ? "red" : status === "pending" ? "gold" : "default";
  return (
    <Tag color={color} data-status={status}>
      {t(`request.status.${status}` as MessageKey)}
    </Tag>
  );
}

export function termsSummary(terms: Record<string, unknown>): string {
  const assets = (terms.assets ?? {}) as Record<string, string[] | null>;
  return Object.entries(assets)
    .map(([asset, fields]) => (fields ? `${asset} (${fields.join(", ")})` : asset))
    .join("; ");
}

export default function RequestAccess() {
  const { t, locale } = useT();
  const { message } = App.useApp();
  const [form] = Form.useForm<Values>();
  const [busy, setBusy] = useState(false);
  const chosen = Form.useWatch("assets", form) ?? [];
  const catalog = useApi(async () => unwrap(await api.GET("/api/v1/catalog/assets", { params: { query: { limit: 200 } } })), []);
  const mine = useApi(async () => unwrap(await api.GET("/api/v1/me/access/requests")), []);
  const assets = catalog.data?.items ?? [];
  const byId = new Map(assets.map((a) => [a.id, a]));

  const submit = async (values: Values) => {
    setBusy(true);
    try {
      const body: Schemas["RequestCreate"] = {
        assets: Object.fromEntries(values.assets.map((id) => [id, values.fields?.[id]?.length ? values.fields[id]! : null])),
        purpose: values.purpose,
        legal_basis: values.legal_basis,
        region: values.region || null,
        valid_from: values.window[0].toISOString(),
        valid_to: values.window[1].toISOString(),
        record_cap: values.record_cap ?? null,
        export: values.export ?? false,
      };
      const made = unwrap(await api.POST("/api/v1/access/requests", { body }));
      message.success(t("request.submitted", { id: made.id, status: t(`request.status.${made.status}` as MessageKey) }));
      form.resetFields();
      await mine.reload();
    } catch (e) {
      message.error((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const withdraw = async (id: string) => {
    try {
      unwrap(await api.POST("/api/v1/me/access/requests/{request_id}/withdraw", { params: { path: { request_id: id } } }));
      message.success(t("request.withdrawn"));
      await mine.reload();
    } catch (e) {
      message.error((e as Error).message);
    }
  };

  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Typography.Title level={3}>{t("request.title")}</Typography.Title>
      <Alert type="info" showIcon message={t("request.intro")} />
      {catalog.error && <Alert type="error" showIcon message={catalog.error.message} />}
      <Form
        form={form}
        layout="vertical"
        style={{ maxWidth: 720 }}
        onFinish={(v) => void submit(v)}
        initialValues={{ window: [dayjs().startOf("hour"), dayjs().startOf("hour").add(30, "day")], record_cap: 1000, export: false }}
      >
        <Form.Item name="assets" label={t("gov.assets")} rules={[{ required: true }]}>
          <Select
            mode="multiple"
            aria-label={t("gov.assets")}
            data-testid="request-assets"
            optionFilterProp="label"
            options={assets.map((a) => ({ value: a.id, label: `${a.id} ${locale === "en" && a.name_en ? a.name_en : a.name}`, grade: a.grade }))}
            optionRender={(option) => (
              <Space>
                <GradeTag grade={byId.get(String(option.value))?.grade} />
                {option.label}
              </Space>
            )}
          />
        </Form.Item>
        {chosen.map((id) => (
          <Form.Item key={id} name={["fields", id]} label={t("request.fieldsOf", { asset: id })}>
            <Select
              mode="multiple"
              aria-label={t("request.fieldsOf", { asset: id })}
              placeholder={t("gov.fieldsAll")}
              options={(byId.get(id)?.fields ?? []).map((f) => ({ value: f.name, label: f.grade ? `${f.name} (${t(`grade.${f.grade}`)})` : f.name }))}
            />
          </Form.Item>
        ))}
        <Form.Item name="purpose" label={t("gov.purpose")} rules={[{ required: true, max: 2000 }]}>
          <Input.TextArea rows={2} />
        </Form.Item>
        <Form.Item name="legal_basis" label={t("gov.legalBasis")} rules={[{ required: true, max: 2000 }]}>
          <Input />
        </Form.Item>
        <Space size="large" wrap>
          <Form.Item name="region" label={t("gov.region")}>
            <Input style={{ width: 160 }} />
          </Form.Item>
          <Form.Item name="window" label={t("gov.window")} rules={[{ required: true }]}>
            <DatePicker.RangePicker showTime />
          </Form.Item>
          <Form.Item name="record_cap" label={t("gov.cap")}>
            <InputNumber min={0} style={{ width: 140 }} />
          </Form.Item>
          <Form.Item name="export" label={t("gov.export")} valuePropName="checked">
            <Switch />
          </Form.Item>
        </Space>
        <Button type="primary" htmlType="submit" loading={busy} data-testid="request-submit">
          {t("request.submit")}
        </Button>
      </Form>
      <Typography.Title level={4}>{t("request.mine")}</Typography.Title>
      <Table<Request>
        size="small"
        rowKey="id"
        loading={mine.loading}
        dataSource={mine.data ?? []}
        pagination={false}
        locale={{ emptyText: t("gov.none") }}
        columns={[
          { title: "ID", dataIndex: "id", render: (v: string) => <span className="mono">{v}</span> },
          { title: t("gov.assets"), dataIndex: "terms", render: (terms: Record<string, unknown>) => termsSummary(terms) },
          { title: t("gov.grade"), dataIndex: "grade", render: (g: string) => <GradeTag grade={g} /> },
          { title: t("gov.status"), dataIndex: "status", render: (s: string) => <RequestStatus status={s} /> },
          { title: t("gov.created"), dataIndex: "created_at", render: (v: string) => formatTime(v, locale) },
          { title: t("gov.decisions"), dataIndex: "decisions", render: (d: Request["decisions"]) => d.map((x) => `${x.approver}: ${x.decision}`).join("; ") || "—" },
          {
            title: "",
            render: (_, r) =>
              r.status === "pending" && (
                <Button size="small" onClick={() => void withdraw(r.id)}>
                  {t("request.withdraw")}
                </Button>
              ),
          },
        ]}
      />
    </Space>
  );
}
