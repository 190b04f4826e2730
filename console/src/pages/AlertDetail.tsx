// 告警详情: the rule, the event fields the rule tests (highlighted), the correlation's events,
// and the ledger proof that each event's trace is in the ledger, checked step by step.
import { useState } from "react";
import { useNavigate, useParams } from "react-router-dom";
import { Alert, Button, Card, Collapse, Descriptions, Space, Spin, Steps, Tag, Typography } from "antd";
import { ArrowLeftOutlined, SafetyCertificateOutlined } from "@ant-design/icons";
import { api, unwrap, type Schemas } from "../api/client";
import { GradeTag, LevelTag, StatusTag } from "../components/Labels";
import { useT } from "../i18n";
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

export default function AlertDetail() {
  const { alertId = "" } = useParams();
  const { t, locale } = useT();
  const navigate = useNavigate();
  const [proof, setProof] = useState<Proof | null>(null);
  const [proving, setProving] = useState(false);
  const { data: alert, error, loading } = useApi(
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
  if (loading || !alert) return <Spin tip={t("app.loading")} />;
  return (
    <Space direction="vertical" style={{ width: "100%" }} size="middle">
      <Space>
        <Button icon={<ArrowLeftOutlined />} onClick={() => navigate("/alerts")} aria-label={t("signin.back")} />
        <Typography.Title level={3} style={{ margin: 0 }}>
          {alert.rule_title}
        </Typography.Title>
        <LevelTag level={alert.warning_level} />
        <StatusTag status={alert.status} />
      </Space>
      <Card title={t("alerts.detail")} size="small">
        <Descriptions size="small" column={{ xs: 1, md: 2 }}>
          <Descriptions.Item label={t("alerts.rule")}>{alert.rule.title}</Descriptions.Item>
          <Descriptions.Item label={t("rules.level")}>{alert.rule_level}</Descriptions.Item>
          <Descriptions.Item label={t("alerts.firstSeen")}>{formatTime(alert.first_seen, locale)}</Descriptions.Item>
          <Descriptions.Item label={t("alerts.lastSeen")}>{formatTime(alert.last_seen, locale)}</Descriptions.Item>
          <Descriptions.Item label={t("alerts.count")}>{alert.count}</Descriptions.Item>
          <Descriptions.Item label={t("events.classification")}><GradeTag grade={alert.classification} /></Descriptions.Item>
          <Descriptions.Item label={t("alerts.group")} span={2}>
            <span className="mono">{JSON.stringify(alert.group)}</span>
          </Descriptions.Item>
          <Descriptions.Item label={t("alerts.tags")} span={2}>
            {alert.rule.tags.map((tag) => <Tag key={tag}>{tag}</Tag>)}
          </Descriptions.Item>
          <Descriptions.Item label={t("alerts.description")} span={2}>{alert.rule.description || "—"}</Descriptions.Item>
          <Descriptions.Item label={t("alerts.matched")} span={2}>
            {alert.matched_fields.map((f) => <Tag color="gold" key={f}>{f}</Tag>)}
          </Descriptions.Item>
        </Descriptions>
      </Card>
      <Card title={`${t("alerts.events")} (${alert.events.length}/${alert.event_ids.length})`} size="small">
        <Collapse
          defaultActiveKey={["0"]}
          items={alert.events.map((event, i) => ({
            key: String(i),
            label: (
              <span>
                {formatTime(event["@timestamp"] as string, locale)} · {String(event["event.action"] ?? "")} · {String(event["user.name"] ?? "")}
              </span>
            ),
            children: <EventFields event={event} matched={alert.matched_fields} />,
          }))}
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
