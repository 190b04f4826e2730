// 抑制例外: exceptions and allow-lists with their owner, reason, expiry and hits; a security
// administrator adds (one condition here; the API takes up to 20) and revokes them, each ledgered.
import { useState } from "react";
import { App, Button, DatePicker, Form, Input, Modal, Popconfirm, Row, Select, Space, Table, Tag, Typography } from "antd";
import { PlusOutlined } from "@ant-design/icons";
import type { Dayjs } from "dayjs";
import { api, expectOk, unwrap, type Schemas } from "../api/client";
import { useSession } from "../app/session";
import { useT } from "../i18n";
import { formatTime, zoneLabel } from "../lib/time";
import { useApi } from "../lib/useApi";

type Suppression = Schemas["SuppressionPublic"];
type Op = "eq" | "in" | "prefix" | "cidr";
type NewSuppression = { rule_id: string; field?: string; op: Op; values?: string; owner: string; reason: string; expires: Dayjs };

function state(s: Suppression, now: number): "revoked" | "expired" | "active" {
  if (s.revoked_at) return "revoked";
  return new Date(s.expires_at).getTime() <= now ? "expired" : "active";
}

export default function Suppressions() {
  const { t, locale } = useT();
  const { can } = useSession();
  const { message } = App.useApp();
  const [creating, setCreating] = useState(false);
  const [form] = Form.useForm<NewSuppression>();
  const { data, loading, reload } = useApi(async () => unwrap(await api.GET("/api/v1/suppressions", {})), []);
  const manage = can("suppressions.manage");
  const now = Date.now();

  const create = async () => {
    const v = await form.validateFields().catch(() => null); // the form shows what is missing
    if (!v) return;
    const values = (v.values ?? "").split(/[,，]/).map((x) => x.trim()).filter(Boolean);
    try {
      unwrap(
        await api.POST("/api/v1/suppressions", {
          body: {
            rule_id: v.rule_id.trim(),
            conditions: v.field && values.length ? [{ field: v.field.trim(), op: v.op, values }] : [],
            owner: v.owner.trim(),
            reason: v.reason.trim(),
            expires_at: v.expires.toISOString(),
          },
        }),
      );
      message.success(t("alerts.saved"));
      setCreating(false);
      form.resetFields();
      void reload();
    } catch (e) {
      message.error((e as Error).message);
    }
  };

  const revoke = async (id: string) => {
    try {
      expectOk(await api.DELETE("/api/v1/suppressions/{suppression_id}", { params: { path: { suppression_id: id } } }));
      void reload();
    } catch (e) {
      message.error((e as Error).message);
    }
  };

  const required = [{ required: true, whitespace: true }];
  return (
    <>
      <Row justify="space-between" align="middle" style={{ marginBottom: 12 }}>
        <Typography.Title level={3} style={{ margin: 0 }}>
          {t("suppressions.title")}
        </Typography.Title>
        {manage && (
          <Button type="primary" icon={<PlusOutlined />} onClick={() => setCreating(true)}>
            {t("suppressions.new")}
          </Button>
        )}
      </Row>
      <Typography.Paragraph type="secondary">{t("suppressions.intro")}</Typography.Paragraph>
      <Table<Suppression>
        size="small"
        rowKey="id"
        loading={loading}
        dataSource={data ?? []}
        pagination={false}
        locale={{ emptyText: t("suppressions.none") }}
        columns={[
          { title: t("suppressions.rule"), dataIndex: "rule_id", width: 200, render: (v: string) => <span className="mono">{v}</span> },
          {
            title: t("suppressions.conditions"),
            dataIndex: "conditions",
            render: (cs: Suppression["conditions"]) => (
              <Space direction="vertical" size={0}>
                {cs.map((c, i) => (
                  <span key={i} className="mono">{`${c.field} ${c.op} ${c.values.join(", ")}`}</span>
                ))}
              </Space>
            ),
          },
          { title: t("suppressions.owner"), dataIndex: "owner", width: 100 },
          { title: t("suppressions.reason"), dataIndex: "reason" },
          { title: `${t("suppressions.expires")} · ${zoneLabel()}`, dataIndex: "expires_at", width: 190, render: (v: string) => formatTime(v, locale) },
          { title: t("suppressions.hits"), dataIndex: "hits", width: 72, align: "right" },
          {
            title: t("suppressions.state"),
            key: "state",
            width: 90,
            render: (_: unknown, s) => {
              const st = state(s, now);
              return <Tag color={st === "active" ? "green" : "default"}>{t(`suppressions.${st}`)}</Tag>;
            },
          },
          {
            key: "revoke",
            width: 80,
            render: (_: unknown, s) =>
              manage && state(s, now) === "active" ? (
                <Popconfirm title={t("suppressions.revoke")} okText={t("alerts.submit")} cancelText={t("alerts.cancel")} onConfirm={() => void revoke(s.id)}>
                  <Button size="small" danger>
                    {t("suppressions.revoke")}
                  </Button>
                </Popconfirm>
              ) : null,
          },
        ]}
      />
      <Modal
        open={creating}
        title={t("suppressions.new")}
        okText={t("alerts.submit")}
        cancelText={t("alerts.cancel")}
        onOk={() => void create()}
        onCancel={() => setCreating(false)}
        forceRender
      >
        <Form form={form} layout="vertical" initialValues={{ rule_id: "*", op: "eq" }}>
          <Form.Item name="rule_id" label={t("suppressions.rule")} rules={required}>
            <Input />
          </Form.Item>
          <Space.Compact style={{ width: "100%" }}>
            <Form.Item name="field" label={t("suppressions.field")} style={{ width: "40%" }}>
              <Input placeholder="user.name" />
            </Form.Item>
            <Form.Item name="op" label={t("suppressions.op")} style={{ width: "20%" }}>
              <Select options={["eq", "in", "prefix", "cidr"].map((o) => ({ value: o, label: o }))} />
            </Form.Item>
            <Form.Item name="values" label={t("suppressions.values")} style={{ width: "40%" }}>
              <Input />
            </Form.Item>
          </Space.Compact>
          <Form.Item name="owner" label={t("suppressions.owner")} rules={required}>
            <Input />
          </Form.Item>
          <Form.Item name="reason" label={t("suppressions.reason")} rules={required}>
            <Input.TextArea rows={2} />
          </Form.Item>
          <Form.Item name="expires" label={t("suppressions.expires")} rules={[{ required: true }]}>
            <DatePicker showTime />
          </Form.Item>
        </Form>
      </Modal>
    </>
  );
}
