// 告警队列: filters, saved views (kept in this browser), live arrival over server-sent events,
// and keyboard shortcuts (j/k move, Enter open, a acknowledge, / search).
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useNavigate } from "react-router-dom";
import { App, Badge, Button, Input, Row, Select, Space, Table, Typography, type InputRef } from "antd";
import { interimAlerts, type AlertFilter, type AlertItem, type AlertSource } from "../alerts/source";
import { GradeTag, LevelTag, StatusTag } from "../components/Labels";
import { useT, type MessageKey } from "../i18n";
import { useShortcuts } from "../lib/shortcuts";
import { formatTime, zoneLabel } from "../lib/time";

const VIEWS_KEY = "datasoc.alertViews";
type SavedView = { name: string; filter: AlertFilter };

function loadViews(): SavedView[] {
  try {
    return JSON.parse(localStorage.getItem(VIEWS_KEY) ?? "[]") as SavedView[];
  } catch {
    return [];
  }
}

export function AlertQueue({ source = interimAlerts }: { source?: AlertSource }) {
  const { t, locale } = useT();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const [filter, setFilter] = useState<AlertFilter>({});
  const [text, setText] = useState("");
  const [items, setItems] = useState<AlertItem[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [live, setLive] = useState(false);
  const [selected, setSelected] = useState(0);
  const [views, setViews] = useState<SavedView[]>(loadViews);
  const search = useRef<InputRef>(null);

  useEffect(() => {
    let stop = () => undefined as void;
    let cancelled = false;
    setLoading(true);
    source
      .list(filter)
      .then((page) => {
        if (cancelled) return;
        setItems(page.items);
        setCursor(page.next_cursor ?? null);
        setSelected(0);
        const head = page.items.length ? Math.max(...page.items.map((a) => a.position)) : -1;
        stop = source.subscribe(
          head,
          (alert) => {
            if (!matches(alert, filter)) return;
            setItems((current) => (current.some((a) => a.id === alert.id) ? current : [alert, ...current]));
            message.info(t("alerts.newArrived", { title: alert.rule_title }));
          },
          setLive,
        );
      })
      .finally(() => !cancelled && setLoading(false));
    return () => {
      cancelled = true;
      stop();
    };
  }, [filter, source, message, t]);

  const more = async () => {
    const page = await source.list(filter, cursor);
    setItems((current) => [...current, ...page.items]);
    setCursor(page.next_cursor ?? null);
  };

  const open = useCallback((alert: AlertItem | undefined) => alert && navigate(`/alerts/${alert.id}`), [navigate]);
  const shortcuts = useMemo(
    () => ({
      j: () => setSelected((i) => Math.min(i + 1, Math.max(items.length - 1, 0))),
      k: () => setSelected((i) => Math.max(i - 1, 0)),
      Enter: () => open(items[selected]),
      a: () => {
        const alert = items[selected];
        if (!alert) return;
        if (source.acknowledge) void source.acknowledge(alert.id);
        else message.warning(t("alerts.ackUnavailable"));
      },
      "/": () => search.current?.focus(),
    }),
    [items, selected, open, source, message, t],
  );
  useShortcuts(shortcuts);

  const saveView = () => {
    const name = text || filter.warning_level || t("alerts.allAlerts");
    const next = [...views.filter((v) => v.name !== name), { name, filter }];
    setViews(next);
    localStorage.setItem(VIEWS_KEY, JSON.stringify(next));
  };

  return (
    <>
      <Row justify="space-between" align="middle" style={{ marginBottom: 12 }}>
        <Space>
          <Typography.Title level={3} style={{ margin: 0 }}>
            {t("alerts.queue")}
          </Typography.Title>
          <Badge status={live ? "processing" : "default"} text={live ? t("alerts.live") : t("alerts.liveOff")} data-testid="live" />
        </Space>
        <Typography.Text type="secondary">{t("app.shortcuts")}</Typography.Text>
      </Row>
      <Space wrap style={{ marginBottom: 12 }}>
        <Input.Search
          ref={search}
          aria-label={t("alerts.search")}
          placeholder={t("alerts.search")}
          allowClear
          value={text}
          onChange={(e) => setText(e.target.value)}
          onSearch={(value) => setFilter({ ...filter, text: value || undefined })}
          style={{ width: 320 }}
        />
        <Select
          aria-label={t("alerts.level")}
          placeholder={t("alerts.level")}
          allowClear
          style={{ width: 140 }}
          value={filter.warning_level}
          onChange={(value) => setFilter({ ...filter, warning_level: value })}
          options={["red", "orange", "yellow", "blue"].map((l) => ({ value: l, label: t(`level.${l}` as MessageKey) }))}
        />
        <Select
          aria-label={t("alerts.status")}
          placeholder={t("alerts.status")}
          allowClear
          style={{ width: 140 }}
          value={filter.status}
          onChange={(value) => setFilter({ ...filter, status: value })}
          options={["new", "acknowledged", "in_progress", "resolved", "false_positive"].map((s) => ({ value: s, label: t(`status.${s}` as MessageKey) }))}
        />
        <Select
          aria-label={t("alerts.savedViews")}
          placeholder={t("alerts.savedViews")}
          style={{ width: 180 }}
          value={null}
          onChange={(name: string) => {
            const view = views.find((v) => v.name === name);
            if (view) {
              setFilter(view.filter);
              setText(view.filter.text ?? "");
            }
          }}
          options={views.map((v) => ({ value: v.name, label: v.name }))}
        />
        <Button onClick={saveView}>{t("alerts.saveView")}</Button>
      </Space>
      <Table<AlertItem>
        size="small"
        loading={loading}
        rowKey="id"
        dataSource={items}
        pagination={false}
        locale={{ emptyText: t("alerts.none") }}
        rowClassName={(_, index) => (index === selected ? "selected-row" : "")}
        onRow={(alert, index) => ({
          onClick: () => setSelected(index ?? 0),
          onDoubleClick: () => open(alert),
          "data-alert-id": alert.id,
        })}
        columns={[
          { title: t("alerts.level"), dataIndex: "warning_level", width: 96, render: (l: string) => <LevelTag level={l} /> },
          {
            title: t("alerts.rule"),
            dataIndex: "rule_title",
            render: (title: string, alert) => (
              <Typography.Link onClick={() => open(alert)} data-testid="alert-link">
                {title}
              </Typography.Link>
            ),
          },
          { title: t("alerts.user"), dataIndex: "user", width: 140 },
          { title: t("alerts.asset"), dataIndex: "asset", width: 180 },
          { title: t("events.classification"), dataIndex: "classification", width: 110, render: (g: string | null) => <GradeTag grade={g} /> },
          { title: t("alerts.count"), dataIndex: "count", width: 72, align: "right" },
          { title: t("alerts.status"), dataIndex: "status", width: 96, render: (s: string) => <StatusTag status={s} /> },
          {
            title: `${t("alerts.lastSeen")} · ${zoneLabel()}`,
            dataIndex: "last_seen",
            width: 220,
            render: (v: string) => formatTime(v, locale),
          },
        ]}
      />
      {cursor && (
        <Button style={{ marginTop: 12 }} onClick={() => void more()}>
          {t("events.more")}
        </Button>
      )}
    </>
  );
}

function matches(alert: AlertItem, filter: AlertFilter): boolean {
  if (filter.warning_level && alert.warning_level !== filter.warning_level) return false;
  if (filter.status && alert.status !== filter.status) return false;
  if (filter.text) {
    const hay = `${alert.rule_title} ${alert.rule_id} ${Object.values(alert.group).join(" ")}`.toLowerCase();
    if (!filter.text.toLowerCase().split(/\s+/).every((w) => hay.includes(w))) return false;
  }
  return true;
}

export default function Alerts() {
  return <AlertQueue />;
}
