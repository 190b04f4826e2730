// 抑制例外: exceptions and allow-lists with their owner, reason, expiry and hits; a security
// administrator adds them (with up to 20 conditions, all of which must hold) and revokes them, each
// ledgered. What the API refuses (RFC 9457) shows under the field it names, the rest above the form.
import { useState } from "react";
import { App, Button, DatePicker, Form, Input, Modal, Popconfirm, Row, Select, Space, Table, Tag, Typography } from "antd";
import { MinusCircleOutlined, PlusOutlined } from "@ant-design/icons";
import type { Dayjs } from "dayjs";
import { conditionsOf, MAX_CONDITIONS, type ConditionValues } from "../alerts/conditions";
import { SuppressedAlerts } from "../alerts/SuppressedAlerts";
import { api, expectOk, unwrap, type Schemas } from "../api/client";
import { useSession } from "../app/session";
import { ProblemAlert, useProblem } from "../components/ProblemAlert";
import { useT } from "../i18n";
import { type FieldOf } from "../lib/problems";
import { formatTime, zoneLabel } from "../lib/time";
import { useApi } from "../lib/useApi";

type Suppression = Schemas["SuppressionPublic"];
type NewSuppression = { rule_id: string; conditions?: ConditionValues[]; owner: string; reason: string; expires: Dayjs };
const TOP = ["rule_id", "owner", "reason"];

/** A problem's place in the form: a condition's member, or a top-level field (`expires_at`: the picker). */
const fieldOf: FieldOf = (loc) => {
  if (loc[0] === "conditions" && typeof loc[1] === "number" && typeof loc[2] === "string") return ["conditions", loc[1], loc[2]];
  if (loc[0] === "expires_at") return ["expires"];
  return typeof loc[0] === "string" && TOP.includes(loc[0]) ? [loc[0]] : null;
};

function state(s: Suppression, now: number): "revoked" | "expired" | "active" {
  if (s.revoked_at) return "revoked";
  return new Date(s.expires_at).getTime() <= now ? "expired" : "active";
}

export default function Suppressions() {
  const { t, locale } = useT();
  const { can } = useSession();
  const { message } = App.useApp();
  const [creating, setCreating] = useState(false);
  const [version, setVersion] = useState(0); // bumped by each change: the suppressed alerts reload
  const [form] = Form.useForm<NewSuppression>();
  const problem = useProblem(form, fieldOf);
  const { data, loading, reload } = useApi(async () => unwrap(await api.GET("/api/v1/suppressions", {})), []);
  const manage = can("suppressions.manage");
  const now = Date.now();

  const create = async () => {
    const v = await form.validateFields().catch(() => null); // the form shows what is missing
    if (!v) return;
    problem.clear();
    try {
      unwrap(
        await api.POST("/api/v1/suppressions", {
          body: {
            rule_id: v.rule_id.trim(),
            conditions: conditionsOf(v.conditions),
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
      setVersion((n) => n + 1);
    } catch (e) {
      problem.show(e);
    }
  };

  const revoke = async (id: string) => {
    try {
      expectOk(await api.DELETE("/api/v1/suppressions/{suppression_id}", { params: { path: { suppression_id: id } } }));
      void reload();
      setVersion((n) => n + 1);
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
          <Button type="primary" icon={<PlusOutlined />} onClick={() => { problem.clear(); setCreating(true); }} data-testid="suppression-new">
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
            width: 300,
            render: (cs: Suppression["conditions"]) => (
              <Space direction="vertical" size={0} data-testid="suppression-conditions">
                {cs.length === 0 && <Typography.Text type="secondary">{t("routes.any")}</Typography.Text>}
                {cs.map((c, i) => (
                  <span key={i} className="mono">
                    {i > 0 && <Typography.Text type="secondary">{`${t("suppressions.and")} `}</Typography.Text>}
                    {`${c.field} ${c.op} ${c.values.join(", ")}`}
                  </span>
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
      <SuppressedAlerts version={version} />
      <Modal
        open={creating}
        title={t("suppressions.new")}
        okText={t("alerts.submit")}
        cancelText={t("alerts.cancel")}
        onOk={() => void create()}
        onCancel={() => { setCreating(false); problem.clear(); }}
        width={640}
        forceRender
      >
        <ProblemAlert summary={problem.summary} />
        <Form form={form} layout="vertical" initialValues={{ rule_id: "*", conditions: [{ field: "", op: "eq", values: "" }] }} data-testid="suppression-form">
          <Form.Item name="rule_id" label={t("suppressions.rule")} rules={required}>
            <Input />
          </Form.Item>
          <Form.Item label={t("suppressions.conditions")} extra={t("suppressions.conditionsHelp", { max: MAX_CONDITIONS })}>
            <Form.List name="conditions">
              {(rows, { add, remove }) => (
                <>
                  {rows.map(({ key, name }) => (
                    <Space key={key} align="baseline" style={{ display: "flex" }} data-testid="condition-row">
                      <Form.Item name={[name, "field"]} rules={required} style={{ width: 200, marginBottom: 8 }}>
                        <Input placeholder="user.name" aria-label={`${t("suppressions.field")} ${name + 1}`} />
                      </Form.Item>
                      <Form.Item name={[name, "op"]} style={{ width: 96, marginBottom: 8 }}>
                        <Select aria-label={`${t("suppressions.op")} ${name + 1}`} options={["eq", "in", "prefix", "cidr"].map((o) => ({ value: o, label: o }))} />
                      </Form.Item>
                      <Form.Item name={[name, "values"]} rules={required} style={{ width: 240, marginBottom: 8 }}>
                        <Input placeholder={t("suppressions.values")} aria-label={`${t("suppressions.values")} ${name + 1}`} />
                      </Form.Item>
                      <MinusCircleOutlined aria-label={t("suppressions.removeCondition")} onClick={() => remove(name)} />
                    </Space>
                  ))}
                  <Button
                    type="dashed"
                    icon={<PlusOutlined />}
                    disabled={rows.length >= MAX_CONDITIONS}
                    onClick={() => add({ field: "", op: "eq", values: "" })}
                    data-testid="condition-add"
                  >
                    {t("suppressions.addCondition")}
                  </Button>
                </>
              )}
            </Form.List>
          </Form.Item>
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
