// The lifecycle actions of one alert (开始处置, 分派, 备注, 闭环 with a resolution and a required
// note, 重新打开, 建立案件, 登记上级回执 on one of the channels it was sent to), each behind its
// permission; `onChange` gets the alert as it now stands.
import { useState } from "react";
import { useNavigate } from "react-router-dom";
import { App, Button, Form, Input, Modal, Select, Space } from "antd";
import { api, unwrap } from "../api/client";
import { useSession } from "../app/session";
import { useT, type MessageKey } from "../i18n";
import { RESOLUTIONS, alertActions, type AlertItem, type Resolution } from "./source";

type Dialog = "assign" | "comment" | "close" | "reopen" | "case" | "receipt" | null;
type Values = { assignee?: string; text?: string; resolution?: Resolution; note?: string; title?: string; channel?: string };

/** `channels`: those the alert was notified on (a receipt names one of them). */
export function AlertActions({ alert, onChange, channels = [] }: { alert: AlertItem; onChange: () => void; channels?: string[] }) {
  const { t } = useT();
  const { can, session } = useSession();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const [dialog, setDialog] = useState<Dialog>(null);
  const [busy, setBusy] = useState(false);
  const [form] = Form.useForm<Values>();
  const handle = can("alerts.handle");
  const closed = alert.status === "closed";

  const run = async (action: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await action();
      message.success(t("alerts.saved"));
      setDialog(null);
      form.resetFields();
      onChange();
    } catch (e) {
      message.error((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const submit = async () => {
    const v = await form.validateFields().catch(() => null); // the form shows what is missing
    if (!v) return;
    if (dialog === "assign") await run(() => alertActions.assign(alert.id, v.assignee?.trim() || null));
    if (dialog === "comment") await run(() => alertActions.comment(alert.id, v.text ?? ""));
    if (dialog === "close") await run(() => alertActions.close(alert.id, v.resolution ?? "resolved", v.note ?? ""));
    if (dialog === "reopen") await run(() => alertActions.reopen(alert.id, v.note ?? ""));
    if (dialog === "receipt") await run(() => alertActions.receipt(alert.id, v.channel ?? ""));
    if (dialog === "case") {
      setBusy(true);
      try {
        const made = unwrap(await api.POST("/api/v1/cases", { body: { title: v.title ?? "", alert_ids: [alert.id], description: "", owner: session?.username ?? null } }));
        message.success(t("cases.opened", { id: made.id }));
        navigate(`/cases/${made.id}`);
      } catch (e) {
        message.error((e as Error).message);
      } finally {
        setBusy(false);
      }
    }
  };

  const titles: Record<Exclude<Dialog, null>, MessageKey> = {
    assign: "alerts.assign",
    comment: "alerts.comment",
    close: "alerts.close",
    reopen: "alerts.reopen",
    case: "alerts.openCase",
    receipt: "alerts.receipt",
  };
  const required = [{ required: true, whitespace: true, message: t("alerts.note") }];

  return (
    <>
      <Space wrap data-testid="alert-actions">
        {handle && !closed && alert.status !== "in_progress" && (
          <Button type="primary" loading={busy} onClick={() => void run(() => alertActions.start(alert.id))} data-testid="action-start">
            {t("alerts.start")}
          </Button>
        )}
        {handle && !closed && (
          <Button onClick={() => { form.setFieldsValue({ assignee: alert.assignee ?? "" }); setDialog("assign"); }} data-testid="action-assign">
            {t("alerts.assign")}
          </Button>
        )}
        {handle && (
          <Button onClick={() => setDialog("comment")} data-testid="action-comment">
            {t("alerts.comment")}
          </Button>
        )}
        {can("cases.handle") && !alert.case_id && (
          <Button onClick={() => { form.setFieldsValue({ title: alert.rule_title }); setDialog("case"); }} data-testid="action-case">
            {t("alerts.openCase")}
          </Button>
        )}
        {handle && !closed && (
          <Button danger onClick={() => { form.setFieldsValue({ resolution: "resolved" }); setDialog("close"); }} data-testid="action-close">
            {t("alerts.close")}
          </Button>
        )}
        {handle && closed && (
          <Button onClick={() => setDialog("reopen")} data-testid="action-reopen">
            {t("alerts.reopen")}
          </Button>
        )}
        {can("alerts.receipt") && channels.length > 0 && (
          <Button onClick={() => { form.setFieldsValue({ channel: channels[0] }); setDialog("receipt"); }} data-testid="action-receipt">
            {t("alerts.receipt")}
          </Button>
        )}
      </Space>
      <Modal
        open={dialog !== null}
        title={dialog ? t(titles[dialog]) : undefined}
        okText={t("alerts.submit")}
        cancelText={t("alerts.cancel")}
        confirmLoading={busy}
        onOk={() => void submit()}
        onCancel={() => { setDialog(null); form.resetFields(); }}
        destroyOnHidden
        forceRender
      >
        <Form form={form} layout="vertical" data-testid="action-form">
          {dialog === "assign" && (
            <Form.Item name="assignee" label={t("alerts.assignTo")}>
              <Input autoFocus />
            </Form.Item>
          )}
          {dialog === "comment" && (
            <Form.Item name="text" label={t("alerts.commentText")} rules={required}>
              <Input.TextArea rows={3} autoFocus />
            </Form.Item>
          )}
          {dialog === "close" && (
            <>
              <Form.Item name="resolution" label={t("alerts.resolution")} rules={[{ required: true }]}>
                <Select options={RESOLUTIONS.map((r) => ({ value: r, label: t(`resolution.${r}` as MessageKey) }))} />
              </Form.Item>
              <Form.Item name="note" label={t("alerts.note")} rules={required}>
                <Input.TextArea rows={3} />
              </Form.Item>
            </>
          )}
          {dialog === "reopen" && (
            <Form.Item name="note" label={t("alerts.reopenNote")} rules={required}>
              <Input.TextArea rows={3} autoFocus />
            </Form.Item>
          )}
          {dialog === "receipt" && (
            <Form.Item name="channel" label={t("alerts.receiptChannel")} rules={[{ required: true }]}>
              <Select options={channels.map((c) => ({ value: c, label: c }))} />
            </Form.Item>
          )}
          {dialog === "case" && (
            <Form.Item name="title" label={t("alerts.caseTitle")} rules={required}>
              <Input autoFocus />
            </Form.Item>
          )}
        </Form>
      </Modal>
    </>
  );
}
