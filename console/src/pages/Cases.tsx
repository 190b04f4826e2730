// 案件: the cases over alerts, newest first, by status; a new case (alerts are linked from an
// alert's detail or here by id).
import { useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { App, Button, Form, Input, Modal, Row, Segmented, Space, Table, Typography } from "antd";
import { PlusOutlined } from "@ant-design/icons";
import { api, unwrap, type Schemas } from "../api/client";
import { useSession } from "../app/session";
import { LevelTag } from "../components/Labels";
import { More } from "../components/More";
import { useT, type MessageKey } from "../i18n";
import { formatTime, zoneLabel } from "../lib/time";
import { usePaged } from "../lib/usePaged";

type Case = Schemas["CasePublic"];
type CaseStatus = "open" | "closed" | "merged";
type NewCase = { title: string; description?: string; alert_ids?: string };

export function CaseStatusTag({ status }: { status: string }) {
  const { t } = useT();
  return <span data-case-status={status}>{t(`cases.status.${status}` as MessageKey)}</span>;
}

export default function Cases() {
  const { t, locale } = useT();
  const { can, session } = useSession();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const [status, setStatus] = useState<CaseStatus>("open");
  const [creating, setCreating] = useState(false);
  const [form] = Form.useForm<NewCase>();
  const paged = usePaged(
    async (cursor) => unwrap(await api.GET("/api/v1/cases", { params: { query: { status, limit: 100, cursor } } })),
    [status],
  );
  const { items, loading } = paged;
  const create = async () => {
    const v = await form.validateFields().catch(() => null); // the form shows what is missing
    if (!v) return;
    try {
      const ids = (v.alert_ids ?? "").split(/[\s,，]+/).filter(Boolean);
      const made = unwrap(
        await api.POST("/api/v1/cases", {
          body: { title: v.title, description: v.description ?? "", alert_ids: ids, owner: session?.username ?? null },
        }),
      );
      message.success(t("cases.opened", { id: made.id }));
      navigate(`/cases/${made.id}`);
    } catch (e) {
      message.error((e as Error).message);
    }
  };
  return (
    <>
      <Row justify="space-between" align="middle" style={{ marginBottom: 12 }}>
        <Space>
          <Typography.Title level={3} style={{ margin: 0 }}>
            {t("cases.title")}
          </Typography.Title>
          <Segmented<CaseStatus>
            value={status}
            onChange={setStatus}
            options={(["open", "closed", "merged"] as const).map((s) => ({ value: s, label: t(`cases.status.${s}`) }))}
          />
        </Space>
        {can("cases.handle") && (
          <Button type="primary" icon={<PlusOutlined />} onClick={() => setCreating(true)}>
            {t("cases.new")}
          </Button>
        )}
      </Row>
      <Table<Case>
        size="small"
        rowKey="id"
        loading={loading}
        dataSource={items}
        pagination={false}
        locale={{ emptyText: t("cases.none") }}
        columns={[
          { title: t("cases.level"), dataIndex: "warning_level", width: 96, render: (l: string) => <LevelTag level={l} /> },
          { title: t("cases.name"), dataIndex: "title", render: (title: string, c) => <Link to={`/cases/${c.id}`}>{title}</Link> },
          { title: t("cases.status"), dataIndex: "status", width: 100, render: (s: string) => <CaseStatusTag status={s} /> },
          { title: t("cases.owner"), dataIndex: "owner", width: 120, render: (v: string | null) => v ?? "—" },
          { title: t("cases.createdBy"), dataIndex: "created_by", width: 160 },
          { title: `${t("cases.created")} · ${zoneLabel()}`, dataIndex: "created_at", width: 200, render: (v: string) => formatTime(v, locale) },
        ]}
      />
      <More paged={paged} />
      <Modal
        open={creating}
        title={t("cases.new")}
        okText={t("alerts.submit")}
        cancelText={t("alerts.cancel")}
        onOk={() => void create()}
        onCancel={() => setCreating(false)}
        forceRender
      >
        <Form form={form} layout="vertical">
          <Form.Item name="title" label={t("cases.name")} rules={[{ required: true, whitespace: true }]}>
            <Input />
          </Form.Item>
          <Form.Item name="description" label={t("cases.description")}>
            <Input.TextArea rows={3} />
          </Form.Item>
          <Form.Item name="alert_ids" label={t("cases.addAlerts")}>
            <Input />
          </Form.Item>
        </Form>
      </Modal>
    </>
  );
}
