// 态势总览: events per second by source, alerts by warning level, top rules, the grade heat map,
// source health (silent sources highlighted) and the ledger's size and last signed checkpoint.
import { useMemo, useState } from "react";
import { Alert, Card, Col, Descriptions, Row, Select, Spin, Statistic, Table, Tag, Typography } from "antd";
import { api, unwrap, type Schemas } from "../api/client";
import { Chart, type ChartOption } from "../components/Chart";
import { LEVEL_COLORS } from "../components/Labels";
import { useT, type MessageKey } from "../i18n";
import { formatTime } from "../lib/time";
import { useApi } from "../lib/useApi";

const STAGES = ["collect", "store", "use", "process", "transmit", "provide", "disclose", "delete"];
const GRADES = ["core", "important", "general"];

export default function Overview() {
  const { t, locale } = useT();
  const [hours, setHours] = useState(72);
  const { data, error, loading } = useApi(
    async () => unwrap(await api.GET("/api/v1/overview", { params: { query: { hours } } })),
    [hours],
  );
  const time = (v: string) => formatTime(v, locale);

  const eps = useMemo<ChartOption | null>(() => {
    if (!data) return null;
    return {
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0 },
      grid: { left: 48, right: 16, top: 40, bottom: 32 },
      xAxis: { type: "time" },
      yAxis: { type: "value" },
      series: data.events_per_second.map((s) => ({
        name: s.name,
        type: "line",
        showSymbol: false,
        data: s.points.map(([at, v]) => [at, Number(Number(v).toFixed(3))]),
      })),
    };
  }, [data]);

  const levels = useMemo<ChartOption | null>(() => {
    if (!data?.alerts_by_level) return null;
    return {
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 40, right: 16, top: 40, bottom: 32 },
      xAxis: { type: "time" },
      yAxis: { type: "value", minInterval: 1 },
      series: data.alerts_by_level.map((s) => ({
        name: t(`level.${s.name}` as MessageKey),
        type: "bar",
        stack: "alerts",
        barMaxWidth: 14,
        itemStyle: { color: LEVEL_COLORS[s.name] },
        data: s.points,
      })),
    };
  }, [data, t]);

  const heat = useMemo<ChartOption | null>(() => {
    if (!data) return null;
    const max = Math.max(1, ...data.grades.map((g) => g.count));
    return {
      tooltip: {},
      grid: { left: 96, right: 16, top: 16, bottom: 64 },
      xAxis: { type: "category", data: STAGES.map((s) => t(`stage.${s}` as MessageKey)) },
      yAxis: { type: "category", data: GRADES.map((g) => t(`grade.${g}` as MessageKey)) },
      visualMap: { min: 0, max, calculable: true, orient: "horizontal", left: "center", bottom: 0, inRange: { color: ["#f0f5ff", "#cf1322"] } },
      series: [
        {
          type: "heatmap",
          label: { show: true },
          data: data.grades.map((g) => [STAGES.indexOf(g.lifecycle), GRADES.indexOf(g.classification), g.count]),
        },
      ],
    };
  }, [data, t]);

  if (error) return <Alert type="error" showIcon message={t("app.error")} description={error.message} />;
  if (loading || !data) return <Spin tip={t("app.loading")} />;
  const sources = data.sources ?? null;
  return (
    <>
      <Row justify="space-between" align="middle" style={{ marginBottom: 16 }}>
        <Typography.Title level={3} style={{ margin: 0 }}>
          {t("menu.overview")}
        </Typography.Title>
        <Select
          aria-label={t("overview.window")}
          value={hours}
          onChange={setHours}
          style={{ width: 160 }}
          options={[1, 6, 24, 72, 168].map((h) => ({ value: h, label: t("overview.hours", { hours: h }) }))}
        />
      </Row>
      <Row gutter={[16, 16]}>
        <Col xs={24} md={8}>
          <Card>
            <Statistic title={t("overview.eventsTotal")} value={data.events_total} />
          </Card>
        </Col>
        <Col xs={24} md={16}>
          <Card title={t("overview.ledger")} size="small" data-testid="ledger-card">
            {data.ledger ? (
              <Descriptions size="small" column={2}>
                <Descriptions.Item label={t("overview.ledgerSize")}>{data.ledger.size}</Descriptions.Item>
                <Descriptions.Item label={t("overview.checkpointSize")}>{data.ledger.checkpoint_size ?? "—"}</Descriptions.Item>
                <Descriptions.Item label={t("overview.checkpoint")} span={2}>
                  {data.ledger.checkpoint_time ? time(data.ledger.checkpoint_time) : "—"}{" "}
                  <span className="mono">{data.ledger.checkpoint_root}</span>
                </Descriptions.Item>
              </Descriptions>
            ) : (
              "—"
            )}
          </Card>
        </Col>
        <Col xs={24} lg={12}>
          <Card title={t("overview.eps")} size="small">
            {eps && <Chart option={eps} label={t("overview.eps")} />}
          </Card>
        </Col>
        <Col xs={24} lg={12}>
          <Card title={t("overview.alertsByLevel")} size="small">
            {levels ? <Chart option={levels} label={t("overview.alertsByLevel")} /> : <Alert type="info" message={t("overview.noAlertsRight")} />}
          </Card>
        </Col>
        <Col xs={24} lg={12}>
          <Card title={t("overview.grades")} size="small">
            {heat && <Chart option={heat} height={240} label={t("overview.grades")} />}
          </Card>
        </Col>
        <Col xs={24} lg={12}>
          <Card title={t("overview.topRules")} size="small">
            {data.top_rules ? (
              <Table<Schemas["RuleCount"]>
                size="small"
                pagination={false}
                rowKey="rule_id"
                dataSource={data.top_rules}
                columns={[
                  { title: t("alerts.rule"), dataIndex: "rule_title" },
                  { title: t("alerts.count"), dataIndex: "count", width: 80, align: "right" },
                ]}
              />
            ) : (
              <Alert type="info" message={t("overview.noAlertsRight")} />
            )}
          </Card>
        </Col>
        <Col span={24}>
          <Card title={t("overview.sources")} size="small">
            {sources ? (
              <Table<Schemas["SourcePublic"]>
                size="small"
                pagination={false}
                rowKey="name"
                dataSource={sources}
                rowClassName={(s) => (s.silent ? "silent-row" : "")}
                columns={[
                  { title: t("source.name"), dataIndex: "name" },
                  {
                    title: t("source.silent"),
                    dataIndex: "silent",
                    render: (silent: boolean) => (silent ? <Tag color="volcano">{t("source.silent")}</Tag> : <Tag color="green">{t("source.ok")}</Tag>),
                  },
                  { title: t("source.lastSeen"), dataIndex: "last_seen", render: (v: string | null) => formatTime(v, locale) },
                  { title: t("source.eps"), dataIndex: "events_per_second", align: "right", render: (v: number) => v.toFixed(2) },
                  { title: t("source.errorRate"), dataIndex: "error_rate", align: "right", render: (v: number) => `${(v * 100).toFixed(1)}%` },
                  { title: t("source.accepted"), dataIndex: "accepted_total", align: "right" },
                  { title: t("source.rejected"), dataIndex: "rejected_total", align: "right" },
                ]}
              />
            ) : (
              <Alert type="info" message={t("overview.noSources")} />
            )}
          </Card>
        </Col>
      </Row>
    </>
  );
}
