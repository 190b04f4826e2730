// 告警详情: where the alert stands in 预警→通报→处置→闭环 and its actions, the rule, the group's
// count and first/last seen, the event fields the rule tests (highlighted) in its events, its
// history and notifications, and the ledger proof that each event's trace is in the ledger.
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { Alert, Button, Card, Collapse, Descriptions, Space, Spin, Steps, Table, Tag, Typography } from "antd";
import { ArrowLeftOutlined, SafetyCertificateOutlined } from "@ant-design/icons";
import { api, unwrap, type Schemas } from "../api/client";
import { AlertActions } from "../alerts/AlertActions";
import { GradeTag, LevelTag, StatusTag } from "../components/Labels";
import { CATALOGS, useT, type Locale, type MessageKey } from "../i18n";
import { formatTime } from "../lib/time";
import { useApi } from "../lib/useApi";

type Proof = Schemas["AlertProof"];

function EventFields({ event, matched }: { event: Record<string, unknown>; matched: string[] }) {
  const keys = Object.keys(event).sort((a, b) => Number(matched.includes(b)) - Number(matched.includes(a)) || a.localeCompare(b));
  return (
    <Descriptions size="small" column={1} bordered>
      {keys.map((key) => (
        <Descriptions.Item key={key} label={<span className={matched.includes(key) ? "matched" : undefined}>{key}</span>}>
          <span className={matched.includes(key) ? "matched" : undefined} data-matched={matched.includes(key) ? "true" : undefined}>
            {typeof event[key] === "string" ? (event[key] as string) : JSON.stringify(event[key])}
          </span>
        </Descriptions.Item>
      ))}
    </Descriptions>
  );
}

function ProofView({ proof }: { proof: Proof }) {
  const { t, locale } = useT();
  return (
    <Space direction="vertical" style={{ width: "100%" }} data-testid="proof">
      {proof.proofs.map((p) => (
        <Card key={p.event_id} size="small" title={<span className="mono">{p.event_id}</span>}>
          <Alert type={p.ok ? "success" : "error"} showIcon message={p.ok ? t("alerts.proofOk") : t("alerts.proofFailed")} style={{ marginBottom: 12 }} />
          <Steps
            direction="vertical"
            size="small"
            items={p.steps.map((s) => ({
              title: locale === "zh" ? s.name_zh : s.name_en,
              description: s.detail,
              status: s.ok ? "finish" : "error",
            }))}
          />
          {p.seq !== null && (
            <Descriptions size="small" column={1} bordered>
              <Descriptions.Item label={t("alerts.seq")}>{p.seq}</Descriptions.Item>
              <Descriptions.Item label={t("alerts.treeSize")}>{p.tree_size ?? "—"}</Descriptions.Item>
              <Descriptions.Item label={t("alerts.leaf")}><span className="mono">{p.leaf_hash}</span></Descriptions.Item>
              <Descriptions.Item label={t("alerts.path")}>
                <span className="mono">{p.path.join("\n") || "—"}</span>
              </Descriptions.Item>
              <Descriptions.Item label={t("alerts.root")}><span className="mono">{p.root}</span></Descriptions.Item>
              <Descriptions.Item label={t("overview.checkpoint")}>{formatTime(p.checkpoint_time, locale)}</Descriptions.Item>
              <Descriptions.Item label={t("alerts.keyId")}><span className="mono">{p.key_id}</span></Descriptions.Item>
              <Descriptions.Item label={t("alerts.entry")}><pre className="mono original">{p.entry}</pre></Descriptions.Item>
            </Descriptions>
          )}
        </Card>
      ))}
    </Space>
  );
}

/** A history action in the current language (an action this console does not know yet shows as is). */
export function actionLabel(locale: Locale, action: string): string {
  const key = `action.${action}` as MessageKey;
  return key in CATALOGS[locale] ? CATALOGS[locale][key] : action;
}

const STAGES = ["new", "notified", "in_progress", "closed"] as const;

function Lifecycle({ alert }: { alert: Schemas["AlertPublic"] }) {
  const { t, locale } = useT();
  const at = STAGES.indexOf(alert.status);
  const times = [alert.raised_at, alert.notified_at, alert.responded_at, alert.closed_at];
  return (
    <Steps
      size="small"
      current={at}
      data-testid="lifecycle"
      items={STAGES.map((s, i) => ({
        title: t(`lifecycle.${s}` as MessageKey),
        description: times[i] ? formatTime(times[i], locale) : undefined,
        status: i < at || (s === "closed" && at === 3) ? "finish" : i === at ? "process" : "wait",
      }))}
    />
  );
}

export default function AlertDetail() {
  const { alertId = "" } = useParams();
  const { t, locale } = useT();
  const navigate = useNavigate();
  const [proof, setProof] = useState<Proof | null>(null);
  const [proving, setProving] = useState(false);
  const { data, error, loading, reload } = useApi(
    async () => unwrap(await api.GET("/api/v1/alerts/{alert_id}", { params: { path: { alert_id: alertId } } })),
    [alertId],
  );
  const showProof = async () => {
    setProving(true);
    try {
      setProof(unwrap(await api.GET("/api/v1/alerts/{alert_id}/proof", { params: { path: { alert_id: alertId } } })));
    } finally {
      setProving(false);
    }
  };
  if (error) return <Alert type="error" showIcon message={t("app.error")} description={error.message} />;
  if (!data) return <Spin tip={t("app.loading")} spinning={loading} />;
  const { alert, evidence, history, notifications, members } = data;
  return (
    <Space direction="vertical" style={{ width: "100%" }} size="middle">
      <Space wrap>
        <Button icon={<ArrowLeftOutlined />} onClick={() => navigate("/alerts")} aria-label={t("signin.back")} />
        <Typography.Title level={3} style={{ margin: 0 }}>
          {alert.rule_title}
        </Typography.Title>
        <LevelTag level={alert.warning_level} />
        <span data-testid="alert-status"><StatusTag status={alert.status} /></span>
        {alert.resolution && <Tag color="green">{t(`resolution.${alert.resolution}` as MessageKey)}</Tag>}
      </Space>
      <Card size="small" title={t("lifecycle.title")} extra={<AlertActions alert={alert} onChange={() => void reload()} channels={[...new Set(notifications.map((n) => n.channel))]} />}>
        <Lifecycle alert={alert} />
      </Card>
      <Card title={t("alerts.detail")} size="small">
        <Descriptions size="small" column={{ xs: 1, md: 2 }}>
          <Descriptions.Item label={t("alerts.rule")}>
            {evidence.rule.key ? <Link to={`/rules?key=${encodeURIComponent(evidence.rule.key)}`}>{evidence.rule.title}</Link> : evidence.rule.title}
          </Descriptions.Item>
          <Descriptions.Item label={t("rules.level")}>{alert.rule_level}</Descriptions.Item>
          <Descriptions.Item label={t("alerts.firstSeen")}>{formatTime(alert.first_seen, locale)}</Descriptions.Item>
          <Descriptions.Item label={t("alerts.lastSeen")}>{formatTime(alert.last_seen, locale)}</Descriptions.Item>
          <Descriptions.Item label={t("alerts.count")}>
            <span data-testid="alert-count">{alert.count}</span>
          </Descriptions.Item>
          <Descriptions.Item label={t("alerts.events")}>{alert.events}</Descriptions.Item>
          <Descriptions.Item label={t("events.classification")}><GradeTag grade={alert.grade} /></Descriptions.Item>
          <Descriptions.Item label={t("alerts.source")}>{alert.sources.join(", ") || "—"}</Descriptions.Item>
          <Descriptions.Item label={t("alerts.assignee")}>{alert.assignee ?? "—"}</Descriptions.Item>
          <Descriptions.Item label={t("alerts.case")}>
            {alert.case_id ? <Link to={`/cases/${alert.case_id}`} data-testid="alert-case">{alert.case_id}</Link> : "—"}
          </Descriptions.Item>
          <Descriptions.Item label={t("alerts.sla")}>
            {formatTime(alert.sla_due_at, locale)} {alert.sla_breaches > 0 && <Tag color="red">{t("alerts.slaBreaches", { count: alert.sla_breaches })}</Tag>}
          </Descriptions.Item>
          <Descriptions.Item label={t("alerts.group")} span={2}>
            <span className="mono">{Object.entries(alert.group).map(([k, v]) => `${k}=${v}`).join("  ") || "—"}</span>
          </Descriptions.Item>
          <Descriptions.Item label={t("alerts.tags")} span={2}>
            {evidence.rule.tags.map((tag) => <Tag key={tag}>{tag}</Tag>)}
          </Descriptions.Item>
          <Descriptions.Item label={t("alerts.description")} span={2}>{evidence.rule.description || "—"}</Descriptions.Item>
          <Descriptions.Item label={t("alerts.matched")} span={2}>
            {evidence.matched_fields.map((f) => <Tag color="gold" key={f}>{f}</Tag>)}
          </Descriptions.Item>
        </Descriptions>
      </Card>
      <Card
        title={`${t("alerts.events")} (${t("alerts.eventsShown", { shown: evidence.events.length, total: alert.events })})`}
        size="small"
      >
        {evidence.events.length === 0 ? (
          <Typography.Text type="secondary">{t("alerts.noEvents")}</Typography.Text>
        ) : (
          <Collapse
            defaultActiveKey={["0"]}
            items={evidence.events.map((event, i) => ({
              key: String(i),
              label: (
                <span>
                  {formatTime(event["@timestamp"] as string, locale)} · {String(event["event.action"] ?? "")} · {String(event["user.name"] ?? "")}
                </span>
              ),
              children: <EventFields event={event} matched={evidence.matched_fields} />,
            }))}
          />
        )}
      </Card>
      <Card title={t("alerts.history")} size="small" data-testid="history">
        <Table
          size="small"
          rowKey="seq"
          pagination={false}
          dataSource={history}
          rowClassName={() => "history-row"}
          columns={[
            { title: t("alerts.at"), dataIndex: "at", width: 200, render: (v: string) => formatTime(v, locale) },
            { title: t("alerts.actor"), dataIndex: "actor", width: 200 },
            {
              title: t("alerts.action"),
              dataIndex: "action",
              width: 140,
              // 通报 done by an upper platform's receipt is recorded as notified/delivered "via receipt".
              render: (a: string, c) => actionLabel(locale, c.detail?.via === "receipt" ? "receipt" : a),
            },
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
      <Card title={`${t("alerts.notifications")} · ${t("alerts.members")} ${members.length}`} size="small">
        <Table
          size="small"
          rowKey="id"
          pagination={false}
          dataSource={notifications}
          locale={{ emptyText: t("notifications.none") }}
          columns={[
            { title: t("notifications.channel"), dataIndex: "channel", width: 120 },
            { title: t("notifications.kind"), dataIndex: "kind", width: 100 },
            { title: t("notifications.status"), dataIndex: "status", width: 160, render: (s: string) => t(`notifications.status.${s}` as MessageKey) },
            { title: t("notifications.attempts"), dataIndex: "attempts", width: 80 },
            { title: t("notifications.created"), dataIndex: "created_at", width: 200, render: (v: string) => formatTime(v, locale) },
            { title: t("notifications.lastError"), dataIndex: "last_error", render: (v: string | null) => v ?? "—" },
          ]}
        />
      </Card>
      <Card
        title={t("alerts.proof")}
        size="small"
        extra={
          <Button icon={<SafetyCertificateOutlined />} onClick={() => void showProof()} loading={proving} data-testid="show-proof">
            {t("alerts.showProof")}
          </Button>
        }
      >
        {proof ? <ProofView proof={proof} /> : <Typography.Text type="secondary">{t("alerts.showProof")}</Typography.Text>}
      </Card>
    </Space>
  );
}

export { EventFields };
export type { Proof };
