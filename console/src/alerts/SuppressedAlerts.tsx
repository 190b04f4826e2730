// 被抑制的告警: alerts a suppression covered, still stored and counted but kept out of the queue and
// never notified (`GET /api/v1/alerts?suppressed=true`): a suppression never hides them silently.
import { Link } from "react-router-dom";
import { Card, Table, Typography } from "antd";
import { api, unwrap } from "../api/client";
import { LevelTag } from "../components/Labels";
import { More } from "../components/More";
import { useT } from "../i18n";
import { formatTime, zoneLabel } from "../lib/time";
import { usePaged } from "../lib/usePaged";
import { subjectOf, type AlertItem } from "./source";

export function SuppressedAlerts({ version }: { version: number }) {
  const { t, locale } = useT();
  const paged = usePaged(
    async (cursor) => unwrap(await api.GET("/api/v1/alerts", { params: { query: { suppressed: true, limit: 50, cursor } } })),
    [version],
  );
  return (
    <Card size="small" title={t("suppressions.suppressed")} data-testid="suppressed-alerts" style={{ marginTop: 16 }}>
      <Typography.Paragraph type="secondary">{t("suppressions.suppressedIntro")}</Typography.Paragraph>
      <Table<AlertItem>
        size="small"
        rowKey="id"
        loading={paged.loading}
        dataSource={paged.items}
        pagination={false}
        locale={{ emptyText: t("suppressions.noneSuppressed") }}
        columns={[
          { title: t("alerts.level"), dataIndex: "warning_level", width: 96, render: (l: string) => <LevelTag level={l} /> },
          { title: t("alerts.rule"), dataIndex: "rule_title", render: (v: string, a) => <Link to={`/alerts/${a.id}`}>{v}</Link> },
          {
            title: t("suppressions.subject"),
            key: "subject",
            render: (_: unknown, a) => Object.values(subjectOf(a)).filter(Boolean).join(" · ") || "—",
          },
          { title: t("alerts.count"), dataIndex: "count", width: 72, align: "right" },
          { title: `${t("alerts.lastSeen")} · ${zoneLabel()}`, dataIndex: "last_seen", width: 190, render: (v: string) => formatTime(v, locale) },
          { title: t("suppressions.coveredBy"), dataIndex: "suppressed_by", width: 200, render: (v: string | null) => <span className="mono">{v ?? "—"}</span> },
        ]}
      />
      <More paged={paged} testId="suppressed-more" />
    </Card>
  );
}
