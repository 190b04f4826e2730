// 账户与角色 (system administrator): accounts, their roles (三员分立 enforced by the API),
// enabling, disabling and second-factor resets. Every change is ledgered by the API.
import { useState } from "react";
import { Alert, App, Button, Form, Input, Modal, Select, Space, Table, Tag, Typography } from "antd";
import { api, unwrap, type Schemas } from "../api/client";
import { useSession } from "../app/session";
import { useT, type MessageKey } from "../i18n";
import { formatTime } from "../lib/time";
import { useApi } from "../lib/useApi";

type User = Schemas["UserPublic"];
type RoleName = User["roles"][number];
const ROLES: RoleName[] = ["system_admin", "security_admin", "audit_admin", "analyst", "approver", "data_owner", "viewer"];

export default function Accounts() {
  const { t, locale } = useT();
  const { can } = useSession();
  const { message } = App.useApp();
  const [creating, setCreating] = useState(false);
  const [form] = Form.useForm<{ username: string; display_name: string; password: string; roles: RoleName[] }>();
  const { data, error, loading, reload } = useApi(async () => unwrap(await api.GET("/api/v1/users", { params: { query: { limit: 200 } } })), []);
  const roleOptions = ROLES.map((r) => ({ value: r, label: t(`role.${r}` as MessageKey) }));

  const act = async (work: () => Promise<unknown>) => {
    try {
      await work();
      message.success(t("accounts.saved"));
      await reload();
    } catch (e) {
      message.error((e as Error).message);
    }
  };

  const create = async (values: { username: string; display_name: string; password: string; roles: RoleName[] }) => {
    await act(async () => unwrap(await api.POST("/api/v1/users", { body: { ...values, roles: values.roles ?? [] } })));
    setCreating(false);
    form.resetFields();
  };

  if (error) return <Alert type="error" showIcon message={t("app.error")} description={error.message} />;
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Space style={{ justifyContent: "space-between", width: "100%" }}>
        <Typography.Title level={3}>{t("accounts.title")}</Typography.Title>
        {can("users.create") && (
          <Button type="primary" onClick={() => setCreating(true)}>
            {t("accounts.create")}
          </Button>
        )}
      </Space>
      <Alert type="info" showIcon message={t("accounts.separation")} />
      <Table<User>
        size="small"
        rowKey="id"
        loading={loading}
        dataSource={data?.items ?? []}
        pagination={false}
        columns={[
          { title: t("accounts.username"), dataIndex: "username" },
          { title: t("accounts.displayName"), dataIndex: "display_name" },
          {
            title: t("accounts.roles"),
            dataIndex: "roles",
            render: (roles: RoleName[], user) =>
              can("users.roles") ? (
                <Select<RoleName[]>
                  mode="multiple"
                  aria-label={`${t("accounts.roles")} ${user.username}`}
                  style={{ minWidth: 260 }}
                  defaultValue={roles}
                  options={roleOptions}
                  onChange={(next) => void act(async () => unwrap(await api.PUT("/api/v1/users/{user_id}/roles", { params: { path: { user_id: user.id } }, body: { roles: next } })))}
                />
              ) : (
                roles.map((r) => <Tag key={r}>{t(`role.${r}` as MessageKey)}</Tag>)
              ),
          },
          { title: t("accounts.enabled"), dataIndex: "disabled", render: (d: boolean) => (d ? <Tag color="red">{t("accounts.disabled")}</Tag> : <Tag color="green">{t("accounts.active")}</Tag>) },
          { title: t("accounts.mfa"), dataIndex: "mfa_enrolled", render: (m: boolean) => (m ? t("accounts.mfaOn") : t("accounts.mfaOff")) },
          { title: t("events.time"), dataIndex: "created_at", render: (v: string) => formatTime(v, locale) },
          {
            title: "",
            render: (_, user) => (
              <Space>
                {can("users.update") &&
                  (user.disabled ? (
                    <Button size="small" onClick={() => void act(async () => unwrap(await api.POST("/api/v1/users/{user_id}/enable", { params: { path: { user_id: user.id } } })))}>
                      {t("accounts.enable")}
                    </Button>
                  ) : (
                    <Button size="small" danger onClick={() => void act(async () => unwrap(await api.POST("/api/v1/users/{user_id}/disable", { params: { path: { user_id: user.id } } })))}>
                      {t("accounts.disable")}
                    </Button>
                  ))}
                {can("users.reset_mfa") && user.mfa_enrolled && (
                  <Button size="small" onClick={() => void act(async () => unwrap(await api.POST("/api/v1/users/{user_id}/reset-mfa", { params: { path: { user_id: user.id } } })))}>
                    {t("accounts.resetMfa")}
                  </Button>
                )}
              </Space>
            ),
          },
        ]}
      />
      <Modal open={creating} title={t("accounts.create")} onCancel={() => setCreating(false)} onOk={() => form.submit()}>
        <Form form={form} layout="vertical" onFinish={(v) => void create(v)}>
          <Form.Item name="username" label={t("accounts.username")} rules={[{ required: true }]}>
            <Input autoComplete="off" />
          </Form.Item>
          <Form.Item name="display_name" label={t("accounts.displayName")}>
            <Input />
          </Form.Item>
          <Form.Item name="password" label={t("accounts.password")} rules={[{ required: true }]}>
            <Input.Password autoComplete="new-password" />
          </Form.Item>
          <Form.Item name="roles" label={t("accounts.roles")}>
            <Select mode="multiple" options={roleOptions} />
          </Form.Item>
        </Form>
      </Modal>
    </Space>
  );
}
