// 告警队列 (the alert store's queue): filters, saved views (kept in this browser), live arrival and
// changes over server-sent events, and keyboard shortcuts (j/k move, Enter open, a 开始处置, / search).
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useNavigate } from "react-router-dom";
import { App, Badge, Button, Checkbox, Input, Modal, Row, Select, Space, Table, Tooltip, Typography, type InputRef } from "antd";
import { api, unwrap } from "../api/client";
import {
  LEVELS,
  OPEN_STATUSES,
  STATUSES,
  matches,
  storeAlerts,
  subjectOf,
  type AlertFilter,
  type AlertItem,
  type AlertSource,
} from "../alerts/source";
import { useSession } from "../app/session";
import { GradeTag, LevelTag, StatusTag } from "../components/Labels";
import { useT, type MessageKey } from "../i18n";
import { useShortcuts } from "../lib/shortcuts";
import { formatTime, zoneLabel } from "../lib/time";

const VIEWS_KEY = "datasoc.alertViews.v2";
type SavedView = { name: string; filter: AlertFilter };

function loadViews(): SavedView[] {
  try {
    return JSON.parse(localStorage.getItem(VIEWS_KEY) ?? "[]") as SavedView[];
  } catch {
    return [];
  }
}

export function AlertQueue({ source = storeAlerts }: { source?: AlertSource }) {
  const { t, locale } = useT();
  const { message } = App.useApp();
  const { session, can } = useSession();
  const navigate = useNavigate();
  const [filter, setFilter] = useState<AlertFilter>({ status: OPEN_STATUSES });
  const [text, setText] = useState("");
  const [items, setItems] = useState<AlertItem[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [live, setLive] = useState(false);
  const [selected, setSelected] = useState(0);
  const [views, setViews] = useState<SavedView[]>(loadViews);
  const search = useRef<InputRef>(null);
  const me = session?.username ?? "";
  const [picked, setPicked] = useState<string[]>([]);
  const [caseTitle, setCaseTitle] = useState<string | null>(null);

  const openCase = async () => {
    if (!caseTitle?.trim()) return;
    try {
      const made = unwrap(await api.POST("/api/v1/cases", { body: { title: caseTitle.trim(), alert_ids: picked, description: "", owner: me || null } }));
      message.success(t("cases.opened", { id: made.id }));
      navigate(`/cases/${made.id}`);
    } catch (e) {
      message.error((e as Error).message);
    }
  };

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
        stop = source.subscribe((change) => {
          const alert = change.alert;
          if (!alert) return;
          setItems((current) => {
            const at = current.findIndex((a) => a.id === alert.id);
            if (!matches(alert, filter)) return at < 0 ? current : current.filter((a) => a.id !== alert.id);
            if (at >= 0) return current.map((a) => (a.id === alert.id ? alert : a));
            return [alert, ...current];
          });
          if (change.action === "new" && matches(alert, filter)) message.info(t("alerts.newArrived", { title: alert.rule_title }));
        }, setLive);
      })
      .catch((e: Error) => !cancelled && message.error(e.message))
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
  const start = useCallback(
    async (alert: AlertItem | undefined) => {
      if (!alert) return;
      try {
        const now = await source.start(alert.id);
        setItems((current) => current.map((a) => (a.id === now.id ? now : a)));
        message.success(t("alerts.started", { title: now.rule_title }));
      } catch (e) {
        message.error((e as Error).message);
      }
    },
    [source, message, t],
  );
  const shortcuts = useMemo(
    () => ({
      j: () => setSelected((i) => Math.min(i + 1, Math.max(items.length - 1, 0))),
      k: () => setSelected((i) => Math.max(i - 1, 0)),
      Enter: () => open(items[selected]),
      a: () => {
        if (can("alerts.handle")) void start(items[selected]);
      },
      "/": () => search.current?.focus(),
    }),
    [items, selected, open, start, can],
  );
  useShortcuts(shortcuts);

  const saveView = () => {
    const name = text || filter.level?.map((l) => t(`level.${l}` as MessageKey)).join("+") || t("alerts.allAlerts");
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
          mode="multiple"
          aria-label={t("alerts.level")}
          placeholder={t("alerts.level")}
          allowClear
          style={{ minWidth: 160 }}
          value={filter.level ?? []}
          onChange={(value) => setFilter({ ...filter, level: value })}
          options={LEVELS.map((l) => ({ value: l, label: t(`level.${l}` as MessageKey) }))}
        />
        <Select
          mode="multiple"
          aria-label={t("alerts.status")}
          placeholder={t("alerts.status")}
          allowClear
          style={{ minWidth: 220 }}
          value={filter.status ?? []}
          onChange={(value) => setFilter({ ...filter, status: value })}
          options={STATUSES.map((s) => ({ value: s, label: t(`status.${s}` as MessageKey) }))}
        />
        <Checkbox
          checked={!!filter.assignee}
          onChange={(e) => setFilter({ ...filter, assignee: e.target.checked ? me : undefined })}
          data-testid="mine"
        >
          {t("alerts.mine")}
        </Checkbox>
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
        {can("cases.handle") && picked.length > 0 && (
          <Button type="primary" onClick={() => setCaseTitle(items.find((a) => a.id === picked[0])?.rule_title ?? "")} data-testid="queue-case">
            {`${t("alerts.openCase")} (${picked.length})`}
          </Button>
        )}
      </Space>
      <Modal
        open={caseTitle !== null}
        title={t("alerts.openCase")}
        okText={t("alerts.submit")}
        cancelText={t("alerts.cancel")}
        onOk={() => void openCase()}
        onCancel={() => setCaseTitle(null)}
      >
        <Input aria-label={t("alerts.caseTitle")} placeholder={t("alerts.caseTitle")} value={caseTitle ?? ""} onChange={(e) => setCaseTitle(e.target.value)} />
      </Modal>
      <Table<AlertItem>
        size="small"
        loading={loading}
        rowKey="id"
        dataSource={items}
        pagination={false}
        locale={{ emptyText: t("alerts.none") }}
        tableLayout="fixed"
        rowSelection={can("cases.handle") ? { selectedRowKeys: picked, onChange: (keys) => setPicked(keys as string[]) } : undefined}
        scroll={{ x: 1480 }}
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
            width: 340,
            ellipsis: { showTitle: true },
            render: (title: string, alert) => (
              <Typography.Link onClick={() => open(alert)} data-testid="alert-link">
                {title}
              </Typography.Link>
            ),
          },
          { title: t("alerts.user"), key: "user", width: 130, render: (_: unknown, a) => subjectOf(a).user ?? subjectOf(a).ip ?? "—" },
          { title: t("alerts.asset"), key: "asset", width: 170, render: (_: unknown, a) => subjectOf(a).asset ?? "—" },
          { title: t("events.classification"), dataIndex: "grade", width: 100, render: (g: string | null) => <GradeTag grade={g} /> },
          { title: t("alerts.count"), dataIndex: "count", width: 64, align: "right" },
          { title: t("alerts.status"), dataIndex: "status", width: 92, render: (s: string) => <StatusTag status={s} /> },
          { title: t("alerts.assignee"), dataIndex: "assignee", width: 110, render: (v: string | null) => v ?? "—" },
          {
            title: t("alerts.sla"),
            dataIndex: "sla_due_at",
            width: 170,
            render: (v: string | null, a) => (
              <Tooltip title={a.sla_breaches ? t("alerts.slaBreaches", { count: a.sla_breaches }) : undefined}>
                <span className={a.sla_breaches ? "sla-breached" : undefined}>{formatTime(v, locale)}</span>
              </Tooltip>
            ),
          },
          {
            title: `${t("alerts.lastSeen")} · ${zoneLabel()}`,
            dataIndex: "last_seen",
            width: 200,
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

export default function Alerts() {
  return <AlertQueue />;
}
