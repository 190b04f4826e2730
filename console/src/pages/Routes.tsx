// 通报路由: the routing rules (from the settings file, read-only, and those made through the API)
// and the configured channels (never their secrets; robots' URLs show their host only). Whoever may
// manage routing creates, edits and deletes the API's routes here (each change ledgered); what the
// API refuses (RFC 9457) shows under the field it names, the rest above the form.
import { useState, type HTMLAttributes } from "react";
import { App, Button, Card, Form, Input, Modal, Popconfirm, Row, Select, Space, Switch, Table, Tag, Typography } from "antd";
import { DeleteOutlined, DownloadOutlined, EditOutlined, PlusOutlined } from "@ant-design/icons";
import { api, ApiError, expectOk, rawFetch, unwrap, type Schemas } from "../api/client";
import { useSession } from "../app/session";
import { ProblemAlert, useProblem } from "../components/ProblemAlert";
import { useT, type MessageKey } from "../i18n";
import { saveResponse } from "../lib/download";
import { topLevel } from "../lib/problems";
import { useApi } from "../lib/useApi";

type Route = Schemas["RoutePublic"];
type Body = Schemas["RouteBody"];
type Values = Body & { name: string };

const LEVELS = ["red", "orange", "yellow", "blue"] as const;
const GRADES = ["general", "important", "core"] as const;
const KINDS = ["alert", "escalation", "bulletin"] as const;
const FIELDS = ["name", "channels", "levels", "grades", "tags", "sources", "hours", "kinds", "enabled"] as const;
const fieldOf = topLevel(FIELDS);
const NEW: Partial<Values> = { channels: [], levels: [], grades: [], tags: [], sources: [], hours: "", kinds: ["alert", "escalation"], enabled: true };

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
  const { can } = useSession();
  const { message } = App.useApp();
  const [editing, setEditing] = useState<"new" | string | null>(null); // "new" or the route's name
  const [saving, setSaving] = useState(false);
  const [form] = Form.useForm<Values>();
  const problem = useProblem(form, fieldOf);
  const routes = useApi(async () => unwrap(await api.GET("/api/v1/notifications/routes", {})), []);
  const channels = useApi(async () => unwrap(await api.GET("/api/v1/notifications/channels", {})), []);
  const manage = can("alert_routing.manage");

  const open = (route: Route | null) => {
    problem.clear();
    form.resetFields();
    form.setFieldsValue(route ? { ...route } : { ...NEW, name: "" });
    setEditing(route ? route.name : "new");
  };
  const close = () => {
    setEditing(null);
    problem.clear();
  };

  const save = async () => {
    const v = await form.validateFields().catch(() => null); // the form shows what is missing
    if (!v) return;
    setSaving(true);
    problem.clear();
    try {
      const name = editing === "new" ? v.name.trim() : (editing ?? "");
      const body: Body = {
        channels: v.channels,
        levels: v.levels ?? [],
        grades: v.grades ?? [],
        tags: (v.tags ?? []).map((x) => x.trim()).filter(Boolean),
        sources: (v.sources ?? []).map((x) => x.trim()).filter(Boolean),
        hours: (v.hours ?? "").trim(),
        kinds: v.kinds ?? [],
        enabled: v.enabled ?? true,
      };
      // A new route is created only if the name is still free (412 otherwise): never a silent
      // overwrite of a route someone else made meanwhile.
      const header = editing === "new" ? { "if-none-match": "*" as const } : {};
      unwrap(await api.PUT("/api/v1/notifications/routes/{name}", { params: { path: { name }, header }, body }));
      message.success(t("alerts.saved"));
      setEditing(null);
      void routes.reload();
    } catch (e) {
      problem.show(e);
    } finally {
      setSaving(false);
    }
  };

  const remove = async (name: string) => {
    try {
      expectOk(await api.DELETE("/api/v1/notifications/routes/{name}", { params: { path: { name } } }));
      message.success(t("routes.deleted", { name }));
      void routes.reload();
    } catch (e) {
      message.error((e as Error).message);
    }
  };

  const pushKey = async () => {
    try {
      const response = await rawFetch("/api/v1/notifications/push-key");
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => undefined));
      message.success(t("bulletins.downloaded", { name: await saveResponse(response, "datasoc-push-sm2.pem") }));
    } catch (e) {
      message.error((e as Error).message);
    }
  };

  const taken = (name: string) => editing === "new" && (routes.data ?? []).some((r) => r.name === name.trim());
  const choices = (values: readonly string[], prefix: string) => values.map((v) => ({ value: v, label: t(`${prefix}.${v}` as MessageKey) }));
  return (
    <Space direction="vertical" style={{ width: "100%" }} size="middle">
      <Row justify="space-between" align="middle">
        <Typography.Title level={3} style={{ margin: 0 }}>
          {t("routes.title")}
        </Typography.Title>
        {manage && (
          <Button type="primary" icon={<PlusOutlined />} onClick={() => open(null)} data-testid="route-new">
            {t("routes.new")}
          </Button>
        )}
      </Row>
      <Typography.Text type="secondary">{t("routes.intro")}</Typography.Text>
      <Table<Route>
        size="small"
        rowKey="id"
        loading={routes.loading}
        dataSource={routes.data ?? []}
        pagination={false}
        onRow={(r) => ({ "data-route": r.name }) as HTMLAttributes<HTMLElement>}
        columns={[
          { title: t("routes.name"), dataIndex: "name", width: 140 },
          { title: t("routes.channels"), dataIndex: "channels", render: (v: string[]) => <List values={v} /> },
          { title: t("routes.levels"), dataIndex: "levels", render: (v: string[]) => <List values={v} prefix="level" /> },
          { title: t("routes.grades"), dataIndex: "grades", render: (v: string[]) => <List values={v} prefix="grade" /> },
          { title: t("routes.tags"), dataIndex: "tags", render: (v: string[]) => <List values={v} /> },
          { title: t("routes.sources"), dataIndex: "sources", render: (v: string[]) => <List values={v} /> },
          { title: t("routes.hours"), dataIndex: "hours", width: 110, render: (v: string) => v || t("routes.any") },
          { title: t("routes.kinds"), dataIndex: "kinds", render: (v: string[]) => <List values={v} prefix="routes.kind" /> },
          { title: t("routes.enabled"), dataIndex: "enabled", width: 70, render: (v: boolean) => (v ? "✓" : "—") },
          { title: t("routes.origin"), dataIndex: "origin", width: 90 },
          {
            key: "actions",
            width: 150,
            render: (_: unknown, r) =>
              r.origin !== "api" ? (
                <Typography.Text type="secondary">{t("routes.readOnly")}</Typography.Text>
              ) : manage ? (
                <Space size="small">
                  <Button size="small" icon={<EditOutlined />} onClick={() => open(r)} data-testid="route-edit">
                    {t("routes.edit")}
                  </Button>
                  <Popconfirm
                    title={t("routes.deleteConfirm", { name: r.name })}
                    okText={t("alerts.submit")}
                    cancelText={t("alerts.cancel")}
                    onConfirm={() => void remove(r.name)}
                  >
                    <Button size="small" danger icon={<DeleteOutlined />} data-testid="route-delete" aria-label={t("routes.delete")} />
                  </Popconfirm>
                </Space>
              ) : null,
          },
        ]}
      />
      <Card
        size="small"
        title={t("routes.channelList")}
        extra={
          manage && (channels.data ?? []).length > 0 ? (
            <Button size="small" icon={<DownloadOutlined />} onClick={() => void pushKey()} data-testid="push-key">
              {t("routes.pushKey")}
            </Button>
          ) : null
        }
      >
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
      <Modal
        open={editing !== null}
        title={editing === "new" ? t("routes.new") : t("routes.editTitle", { name: editing ?? "" })}
        okText={t("alerts.submit")}
        cancelText={t("alerts.cancel")}
        confirmLoading={saving}
        onOk={() => void save()}
        onCancel={close}
        width={640}
        forceRender
      >
        <ProblemAlert summary={problem.summary} />
        <Form form={form} layout="vertical" data-testid="route-form">
          <Form.Item
            name="name"
            label={t("routes.name")}
            extra={t("routes.nameHelp")}
            rules={[
              { required: true, whitespace: true },
              { validator: async (_, v: string) => (taken(v ?? "") ? Promise.reject(new Error(t("routes.nameTaken"))) : undefined) },
            ]}
          >
            <Input disabled={editing !== "new"} maxLength={64} />
          </Form.Item>
          <Form.Item name="channels" label={t("routes.channels")} rules={[{ required: true, type: "array", min: 1 }]}>
            <Select mode="multiple" options={(channels.data ?? []).map((c) => ({ value: c.name, label: `${c.name} · ${c.type}` }))} />
          </Form.Item>
          <Form.Item name="levels" label={t("routes.levels")} extra={t("routes.anyHelp")}>
            <Select mode="multiple" options={choices(LEVELS, "level")} />
          </Form.Item>
          <Form.Item name="grades" label={t("routes.grades")} extra={t("routes.anyHelp")}>
            <Select mode="multiple" options={choices(GRADES, "grade")} />
          </Form.Item>
          <Form.Item name="tags" label={t("routes.tags")} extra={t("routes.tagsHelp")}>
            <Select mode="tags" tokenSeparators={[",", "，", " "]} open={false} suffixIcon={null} />
          </Form.Item>
          <Form.Item name="sources" label={t("routes.sources")} extra={t("routes.sourcesHelp")}>
            <Select mode="tags" tokenSeparators={[",", "，", " "]} open={false} suffixIcon={null} />
          </Form.Item>
          <Form.Item name="hours" label={t("routes.hours")} extra={t("routes.hoursHelp")}>
            <Input placeholder="22:00-06:00" maxLength={11} />
          </Form.Item>
          <Form.Item name="kinds" label={t("routes.kinds")} rules={[{ required: true, type: "array", min: 1 }]}>
            <Select mode="multiple" options={choices(KINDS, "routes.kind")} />
          </Form.Item>
          <Form.Item name="enabled" label={t("routes.enabled")} valuePropName="checked">
            <Switch />
          </Form.Item>
        </Form>
      </Modal>
    </Space>
  );
}
