// 待办审批: the requests an approver's decision counts toward; each opens with its terms, the
// decisions so far, what the policy still needs, the requester's history and the discovery evidence,
// and is approved or rejected with a note. The API refuses self-approval and a second decision.
import { useState } from "react";
import { Alert, App, Button, Card, Descriptions, Empty, Input, List, Space, Table, Tag, Typography } from "antd";
import { api, unwrap, type Schemas } from "../api/client";
import { GradeTag } from "../components/Labels";
import { useT, type MessageKey } from "../i18n";
import { formatTime } from "../lib/time";
import { useApi } from "../lib/useApi";
import { RequestStatus, termsSummary } from "./RequestAccess";

type Request = Schemas["RequestPublic"];
type Evidence = { suggested?: { grade: string }; findings?: { field: string; label: string; hits: number; checked: number }[] } | null;

function Review({ id, onDone }: { id: string; onDone: () => void }) {
  const { t, locale } = useT();
  const { message } = App.useApp();
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const { data, error } = useApi(
    async () => unwrap(await api.GET("/api/v1/access/requests/{request_id}", { params: { path: { request_id: id } } })),
    [id],
  );

  const decide = async (decision: "approve" | "reject") => {
    setBusy(true);
    try {
      const done = unwrap(
        await api.POST("/api/v1/access/requests/{request_id}/decision", { params: { path: { request_id: id } }, body: { decision, note } }),
      );
      message.success(decision === "approve" ? t("approvals.approved", { status: t(`request.status.${done.status}` as MessageKey) }) : t("approvals.rejected"));
      onDone();
    } catch (e) {
      message.error((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  if (error) return <Alert type="error" showIcon message={error.message} />;
  if (!data) return null;
  const terms = data.terms as Record<string, unknown>;
  const history = data.requester_history as { requests?: Record<string, number>; grants?: Record<string, number>; violations?: number | null };
  const counts = (c?: Record<string, number>) =>
    Object.entries(c ?? {})
      .filter(([, n]) => n)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ") || "0";
  return (
    <Card title={`${data.id} · ${data.requester}`} size="small" data-testid="request-review">
      <Space direction="vertical" style={{ width: "100%" }}>
        <Descriptions size="small" column={2} bordered>
          <Descriptions.Item label={t("gov.grade")}>
            <GradeTag grade={data.grade} />
          </Descriptions.Item>
          <Descriptions.Item label={t("gov.status")}>
            <RequestStatus status={data.status} />
          </Descriptions.Item>
          <Descriptions.Item label={t("gov.assets")} span={2}>
            {termsSummary(terms)}
          </Descriptions.Item>
          <Descriptions.Item label={t("gov.purpose")} span={2}>
            {String(terms.purpose ?? "")}
          </Descriptions.Item>
          <Descriptions.Item label={t("gov.legalBasis")} span={2}>
            {String(terms.legal_basis ?? "")}
          </Descriptions.Item>
          <Descriptions.Item label={t("gov.window")} span={2}>
            {formatTime(String(terms.valid_from), locale)} – {formatTime(String(terms.valid_to), locale)}
          </Descriptions.Item>
          <Descriptions.Item label={t("gov.region")}>{String(terms.region ?? "—")}</Descriptions.Item>
          <Descriptions.Item label={t("gov.cap")}>{String(terms.record_cap ?? "—")}</Descriptions.Item>
          <Descriptions.Item label={t("gov.export")}>{terms.export ? t("gov.yes") : t("gov.no")}</Descriptions.Item>
          <Descriptions.Item label={t("approvals.policyVersion", { version: data.policy_version })}>
            {data.decision.satisfied ? (
              <Tag color="green">{t("approvals.satisfied")}</Tag>
            ) : (
              <span data-testid="policy-needs">
                {t("approvals.needs")}: {data.decision.needs.join("; ")}
              </span>
            )}
          </Descriptions.Item>
          <Descriptions.Item label={t("gov.decisions")} span={2}>
            {data.decisions.map((d) => `${d.approver} (${d.roles.join(", ")}): ${d.decision}${d.note ? ` · ${d.note}` : ""}`).join("; ") || "—"}
          </Descriptions.Item>
          <Descriptions.Item label={t("approvals.history")} span={2}>
            {t("approvals.historyRequests")}: {counts(history.requests)} · {t("approvals.historyGrants")}: {counts(history.grants)} ·{" "}
            {t("approvals.historyViolations")}: {history.violations ?? "—"}
          </Descriptions.Item>
        </Descriptions>
        <Typography.Text strong>{t("approvals.evidence")}</Typography.Text>
        <Table
          size="small"
          pagination={false}
          rowKey="asset"
          locale={{ emptyText: t("catalog.discoveryNone") }}
          dataSource={Object.entries(data.evidence as Record<string, Evidence>).map(([asset, e]) => ({ asset, e }))}
          columns={[
            { title: t("gov.assets"), dataIndex: "asset" },
            { title: t("catalog.suggested"), render: (_, r) => (r.e?.suggested ? <GradeTag grade={r.e.suggested.grade} /> : t("catalog.discoveryNone")) },
            {
              title: t("catalog.hits"),
              render: (_, r) => (r.e?.findings ?? []).map((f) => `${f.field} ${f.label} ${f.hits}/${f.checked}`).join("; ") || "—",
            },
          ]}
        />
        <Input.TextArea aria-label={t("gov.note")} placeholder={t("gov.note")} rows={2} value={note} onChange={(e) => setNote(e.target.value)} maxLength={1000} />
        <Space>
          <Button type="primary" loading={busy} onClick={() => void decide("approve")} data-testid="approve">
            {t("approvals.approve")}
          </Button>
          <Button danger loading={busy} onClick={() => void decide("reject")} data-testid="reject">
            {t("approvals.reject")}
          </Button>
        </Space>
      </Space>
    </Card>
  );
}

export default function Approvals() {
  const { t, locale } = useT();
  const [open, setOpen] = useState<string | null>(null);
  const { data, error, loading, reload } = useApi(async () => unwrap(await api.GET("/api/v1/access/inbox")), []);
  if (error) return <Alert type="error" showIcon message={t("app.error")} description={error.message} />;
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Typography.Title level={3}>{t("approvals.title")}</Typography.Title>
      <Alert type="info" showIcon message={t("approvals.intro")} />
      <List<Request>
        bordered
        loading={loading}
        dataSource={data ?? []}
        locale={{ emptyText: <Empty description={t("approvals.empty")} /> }}
        renderItem={(r) => (
          <List.Item
            data-request-id={r.id}
            actions={[
              <Button key="open" size="small" onClick={() => setOpen(r.id)}>
                {t("approvals.open")}
              </Button>,
            ]}
          >
            <Space wrap>
              <span className="mono">{r.id}</span>
              <GradeTag grade={r.grade} />
              <span>{r.requester}</span>
              <span>{termsSummary(r.terms as Record<string, unknown>)}</span>
              <Typography.Text type="secondary">{formatTime(r.created_at, locale)}</Typography.Text>
              <span>{r.decisions.length ? r.decisions.map((d) => d.approver).join(", ") : ""}</span>
            </Space>
          </List.Item>
        )}
      />
      {open && (
        <Review
          key={open}
          id={open}
          onDone={() => {
            setOpen(null);
            void reload();
          }}
        />
      )}
    </Space>
  );
}
