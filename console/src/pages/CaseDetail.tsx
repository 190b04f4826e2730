// 案件详情: the case's alerts, tasks, timeline (notes), observables (with the other alerts that
// share them), attachments; add notes and tasks, set the owner, link alerts, merge, close, upload
// and download attachments (JSON with the file base64-encoded, at most 5 MiB), download the report.
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { Alert, App, Button, Card, Col, DatePicker, Descriptions, Form, Input, Modal, Row, Space, Spin, Table, Tag, Typography, Upload } from "antd";
import { ArrowLeftOutlined, DownloadOutlined, UploadOutlined } from "@ant-design/icons";
import type { Dayjs } from "dayjs";
import { api, expectOk, rawFetch, unwrap, ApiError } from "../api/client";
import { useSession } from "../app/session";
import { LevelTag, StatusTag } from "../components/Labels";
import { useT, type MessageKey } from "../i18n";
import { MAX_ATTACHMENT, attachmentMediaType, attachmentName, base64Of } from "../lib/attachments";
import { saveResponse } from "../lib/download";
import { formatTime } from "../lib/time";
import { useApi } from "../lib/useApi";
import { actionLabel } from "./AlertDetail";
import { CaseStatusTag } from "./Cases";

type Dialog = "note" | "task" | "owner" | "alerts" | "merge" | "close" | null;
type Values = { text?: string; title?: string; owner?: string; due?: Dayjs; ids?: string; into?: string };
const LABELS: Record<Exclude<Dialog, null>, MessageKey> = {
  note: "cases.addNote",
  task: "cases.addTask",
  owner: "cases.setOwner",
  alerts: "cases.addAlerts",
  merge: "cases.merge",
  close: "cases.close",
};

export default function CaseDetail() {
  const { caseId = "" } = useParams();
  const { t, locale } = useT();
  const { can } = useSession();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const [dialog, setDialog] = useState<Dialog>(null);
  const [uploading, setUploading] = useState(false);
  const [form] = Form.useForm<Values>();
  const path = { params: { path: { case_id: caseId } } };
  const { data, error, reload } = useApi(async () => unwrap(await api.GET("/api/v1/cases/{case_id}", path)), [caseId]);
  const handle = can("cases.handle");

  const submit = async () => {
    const v = await form.validateFields().catch(() => null); // the form shows what is missing
    if (!v) return;
    try {
      if (dialog === "note") expectOk(await api.POST("/api/v1/cases/{case_id}/notes", { ...path, body: { text: v.text ?? "" } }));
      if (dialog === "task")
        unwrap(
          await api.POST("/api/v1/cases/{case_id}/tasks", {
            ...path,
            body: { title: v.title ?? "", owner: v.owner || null, due_at: v.due ? v.due.toISOString() : null },
          }),
        );
      if (dialog === "owner")
        unwrap(await api.POST("/api/v1/cases/{case_id}/owner", { ...path, body: { owner: v.owner?.trim() || null } }));
      if (dialog === "alerts") {
        const ids = (v.ids ?? "").split(/[\s,，]+/).filter(Boolean);
        unwrap(await api.POST("/api/v1/cases/{case_id}/alerts", { ...path, body: { alert_ids: ids } }));
      }
      if (dialog === "merge") {
        unwrap(await api.POST("/api/v1/cases/{case_id}/merge", { ...path, body: { into: v.into ?? "" } }));
        navigate(`/cases/${v.into}`);
      }
      if (dialog === "close") unwrap(await api.POST("/api/v1/cases/{case_id}/close", { ...path, body: { note: v.text ?? "" } }));
      message.success(t("alerts.saved"));
      setDialog(null);
      form.resetFields();
      void reload();
    } catch (e) {
      message.error((e as Error).message);
    }
  };

  const done = async (taskId: string) => {
    try {
      expectOk(await api.POST("/api/v1/cases/{case_id}/tasks/{task_id}/done", { params: { path: { case_id: caseId, task_id: taskId } } }));
      void reload();
    } catch (e) {
      message.error((e as Error).message);
    }
  };

  const report = async (format: "html" | "pdf") => {
    try {
      const response = await rawFetch(`/api/v1/cases/${encodeURIComponent(caseId)}/report?format=${format}`);
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => undefined));
      message.success(t("bulletins.downloaded", { name: await saveResponse(response, `${caseId}.${format}`) }));
    } catch (e) {
      message.error((e as Error).message);
    }
  };

  const upload = async (file: File) => {
    if (file.size > MAX_ATTACHMENT) {
      message.error(t("cases.tooLarge", { name: file.name, max: MAX_ATTACHMENT / 1024 / 1024 }));
      return;
    }
    setUploading(true);
    try {
      const body = { name: attachmentName(file.name), media_type: attachmentMediaType(file.type), content_b64: await base64Of(file) };
      const made = unwrap(await api.POST("/api/v1/cases/{case_id}/attachments", { ...path, body }));
      message.success(t("cases.uploaded", { name: made.name }));
      void reload();
    } catch (e) {
      message.error((e as Error).message);
    } finally {
      setUploading(false);
    }
  };

  const download = async (attachmentId: string, name: string) => {
    try {
      const response = await rawFetch(`/api/v1/cases/${encodeURIComponent(caseId)}/attachments/${encodeURIComponent(attachmentId)}`);
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => undefined));
      message.success(t("bulletins.downloaded", { name: await saveResponse(response, name) }));
    } catch (e) {
      message.error((e as Error).message);
    }
  };

  if (error) return <Alert type="error" showIcon message={t("app.error")} description={error.message} />;
  if (!data) return <Spin tip={t("app.loading")} />;
  const c = data.case;
  const open = c.status === "open";
  const required = [{ required: true, whitespace: true }];
  return (
    <Space direction="vertical" style={{ width: "100%" }} size="middle">
      <Space wrap>
        <Button icon={<ArrowLeftOutlined />} onClick={() => navigate("/cases")} aria-label={t("signin.back")} />
        <Typography.Title level={3} style={{ margin: 0 }}>
          {c.title}
        </Typography.Title>
        <LevelTag level={c.warning_level} />
        <Tag data-testid="case-status"><CaseStatusTag status={c.status} /></Tag>
      </Space>
      <Card
        size="small"
        extra={
          <Space wrap>
            {handle && open && <Button onClick={() => setDialog("note")} data-testid="case-note">{t("cases.addNote")}</Button>}
            {handle && open && <Button onClick={() => setDialog("task")} data-testid="case-task">{t("cases.addTask")}</Button>}
            {handle && open && (
              <Button onClick={() => { form.setFieldsValue({ owner: c.owner ?? "" }); setDialog("owner"); }} data-testid="case-owner">
                {t("cases.setOwner")}
              </Button>
            )}
            {handle && open && <Button onClick={() => setDialog("alerts")}>{t("cases.alerts")}</Button>}
            {handle && open && <Button onClick={() => setDialog("merge")}>{t("cases.merge")}</Button>}
            {handle && open && <Button danger onClick={() => setDialog("close")} data-testid="case-close">{t("cases.close")}</Button>}
            <Button icon={<DownloadOutlined />} onClick={() => void report("html")} data-testid="case-report-html">{`${t("cases.report")} HTML`}</Button>
            <Button icon={<DownloadOutlined />} onClick={() => void report("pdf")} data-testid="case-report-pdf">{`${t("cases.report")} PDF`}</Button>
          </Space>
        }
      >
        <Descriptions size="small" column={{ xs: 1, md: 3 }}>
          <Descriptions.Item label={t("cases.owner")}>{c.owner ?? "—"}</Descriptions.Item>
          <Descriptions.Item label={t("cases.createdBy")}>{c.created_by}</Descriptions.Item>
          <Descriptions.Item label={t("cases.created")}>{formatTime(c.created_at, locale)}</Descriptions.Item>
          <Descriptions.Item label={t("cases.description")} span={3}>{c.description || "—"}</Descriptions.Item>
          {c.merged_into && (
            <Descriptions.Item label={t("cases.status.merged")}>
              <Link to={`/cases/${c.merged_into}`}>{c.merged_into}</Link>
            </Descriptions.Item>
          )}
        </Descriptions>
      </Card>
      <Card size="small" title={t("cases.alerts")}>
        <Table
          size="small"
          rowKey="id"
          pagination={false}
          dataSource={data.alerts}
          columns={[
            { title: t("alerts.level"), dataIndex: "warning_level", width: 96, render: (l: string) => <LevelTag level={l} /> },
            { title: t("alerts.rule"), dataIndex: "rule_title", render: (v: string, a) => <Link to={`/alerts/${a.id}`}>{v}</Link> },
            { title: t("alerts.status"), dataIndex: "status", width: 100, render: (s: string) => <StatusTag status={s} /> },
            { title: t("alerts.assignee"), dataIndex: "assignee", width: 120, render: (v: string | null) => v ?? "—" },
            { title: t("alerts.lastSeen"), dataIndex: "last_seen", width: 200, render: (v: string) => formatTime(v, locale) },
          ]}
        />
      </Card>
      <Row gutter={16}>
        <Col xs={24} lg={12}>
          <Card size="small" title={t("cases.tasks")}>
            <Table
              size="small"
              rowKey="id"
              pagination={false}
              dataSource={data.tasks}
              columns={[
                { title: t("cases.taskTitle"), dataIndex: "title" },
                { title: t("cases.owner"), dataIndex: "owner", width: 100, render: (v: string | null) => v ?? "—" },
                { title: t("cases.due"), dataIndex: "due_at", width: 170, render: (v: string | null) => formatTime(v, locale) },
                {
                  title: t("cases.done"),
                  dataIndex: "done_at",
                  width: 170,
                  render: (v: string | null, task) =>
                    v ? formatTime(v, locale) : handle && open ? <Button size="small" onClick={() => void done(task.id)}>{t("cases.markDone")}</Button> : "—",
                },
              ]}
            />
          </Card>
        </Col>
        <Col xs={24} lg={12}>
          <Card size="small" title={t("cases.observables")}>
            <Table
              size="small"
              rowKey={(o) => `${o.kind}:${o.value}`}
              pagination={false}
              dataSource={data.observables}
              columns={[
                { title: t("cases.kind"), dataIndex: "kind", width: 90 },
                { title: t("cases.value"), dataIndex: "value", render: (v: string) => <span className="mono">{v}</span> },
                {
                  title: t("cases.otherAlerts"),
                  dataIndex: "other_alerts",
                  render: (ids: string[]) => (ids.length ? ids.map((id) => <Link key={id} to={`/alerts/${id}`}>{id.slice(0, 12)} </Link>) : "—"),
                },
              ]}
            />
          </Card>
        </Col>
      </Row>
      <Card size="small" title={t("cases.notes")} data-testid="case-timeline">
        <Table
          size="small"
          rowKey="seq"
          pagination={false}
          dataSource={data.timeline}
          columns={[
            { title: t("alerts.at"), dataIndex: "at", width: 200, render: (v: string) => formatTime(v, locale) },
            { title: t("alerts.actor"), dataIndex: "actor", width: 180 },
            { title: t("alerts.action"), dataIndex: "action", width: 140, render: (a: string) => actionLabel(locale, a) },
            {
              title: t("alerts.details"),
              dataIndex: "detail",
              render: (d: Record<string, unknown>) => (
                <span className="mono">{Object.entries(d).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join("  ")}</span>
              ),
            },
          ]}
        />
      </Card>
      <Card
        size="small"
        title={t("cases.attachments")}
        data-testid="case-attachments"
        extra={
          handle && open ? (
            <Upload
              showUploadList={false}
              multiple={false}
              beforeUpload={(file) => {
                void upload(file);
                return Upload.LIST_IGNORE; // sent by `upload` as JSON, not by the Upload's own request
              }}
            >
              <Button size="small" icon={<UploadOutlined />} loading={uploading} data-testid="case-upload">
                {t("cases.upload")}
              </Button>
            </Upload>
          ) : null
        }
      >
        <Table
          size="small"
          rowKey="id"
          pagination={false}
          dataSource={data.attachments}
          locale={{ emptyText: t("cases.noAttachments") }}
          columns={[
            { title: t("cases.fileName"), dataIndex: "name" },
            { title: t("cases.mediaType"), dataIndex: "media_type", width: 180 },
            { title: t("cases.size"), dataIndex: "size", width: 110, align: "right" },
            { title: t("bulletins.digest"), dataIndex: "digest", render: (v: string) => <span className="mono">{v}</span> },
            { title: t("cases.createdBy"), dataIndex: "created_by", width: 140 },
            { title: t("cases.created"), dataIndex: "created_at", width: 190, render: (v: string) => formatTime(v, locale) },
            {
              key: "download",
              width: 90,
              render: (_: unknown, a) => (
                <Button size="small" icon={<DownloadOutlined />} onClick={() => void download(a.id, a.name)} data-testid="attachment-download">
                  {t("cases.download")}
                </Button>
              ),
            },
          ]}
        />
      </Card>
      <Modal
        open={dialog !== null}
        title={dialog ? t(LABELS[dialog]) : undefined}
        okText={t("alerts.submit")}
        cancelText={t("alerts.cancel")}
        onOk={() => void submit()}
        onCancel={() => { setDialog(null); form.resetFields(); }}
        forceRender
      >
        <Form form={form} layout="vertical" data-testid="case-form">
          {(dialog === "note" || dialog === "close") && (
            <Form.Item name="text" label={dialog === "note" ? t("cases.noteText") : t("cases.closeNote")} rules={required}>
              <Input.TextArea rows={3} />
            </Form.Item>
          )}
          {dialog === "task" && (
            <>
              <Form.Item name="title" label={t("cases.taskTitle")} rules={required}>
                <Input />
              </Form.Item>
              <Form.Item name="owner" label={t("cases.owner")}>
                <Input />
              </Form.Item>
              <Form.Item name="due" label={t("cases.due")}>
                <DatePicker showTime />
              </Form.Item>
            </>
          )}
          {dialog === "owner" && (
            <Form.Item name="owner" label={t("cases.owner")} extra={t("cases.ownerHelp")}>
              <Input autoFocus />
            </Form.Item>
          )}
          {dialog === "alerts" && (
            <Form.Item name="ids" label={t("cases.addAlerts")} rules={required}>
              <Input />
            </Form.Item>
          )}
          {dialog === "merge" && (
            <Form.Item name="into" label={t("cases.mergeInto")} rules={required}>
              <Input />
            </Form.Item>
          )}
        </Form>
      </Modal>
    </Space>
  );
}
