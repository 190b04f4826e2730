// 通报简报: bulletins newest first (period, who made them, SM3 digests of the files), made on
// demand over a period by someone who may, and downloaded as HTML or PDF.
import { useState } from "react";
import type { Dayjs } from "dayjs";
import dayjs from "dayjs";
import { App, Button, DatePicker, Row, Space, Table, Typography } from "antd";
import { DownloadOutlined, FileAddOutlined } from "@ant-design/icons";
import { api, rawFetch, unwrap, ApiError, type Schemas } from "../api/client";
import { useSession } from "../app/session";
import { More } from "../components/More";
import { useT } from "../i18n";
import { saveResponse } from "../lib/download";
import { formatTime, zoneLabel } from "../lib/time";
import { usePaged } from "../lib/usePaged";

type Bulletin = Schemas["BulletinPublic"];

export default function Bulletins() {
  const { t, locale } = useT();
  const { can } = useSession();
  const { message } = App.useApp();
  const [range, setRange] = useState<[Dayjs, Dayjs]>([dayjs().subtract(7, "day").startOf("day"), dayjs().startOf("hour")]);
  const [making, setMaking] = useState(false);
  const paged = usePaged(async (cursor) => unwrap(await api.GET("/api/v1/bulletins", { params: { query: { limit: 100, cursor } } })), []);
  const { items, loading, reload } = paged;

  const make = async () => {
    setMaking(true);
    try {
      const made = unwrap(await api.POST("/api/v1/bulletins", { body: { start: range[0].toISOString(), end: range[1].toISOString(), kind: "adhoc" } }));
      message.success(t("bulletins.made", { id: made.id }));
      void reload();
    } catch (e) {
      message.error((e as Error).message);
    } finally {
      setMaking(false);
    }
  };

  const download = async (id: string, kind: "html" | "pdf") => {
    try {
      const response = await rawFetch(`/api/v1/bulletins/${encodeURIComponent(id)}/${kind}`);
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => undefined));
      message.success(t("bulletins.downloaded", { name: await saveResponse(response, `${id}.${kind}`) }));
    } catch (e) {
      message.error((e as Error).message);
    }
  };

  return (
    <>
      <Row justify="space-between" align="middle" style={{ marginBottom: 12 }}>
        <Typography.Title level={3} style={{ margin: 0 }}>
          {t("bulletins.title")}
        </Typography.Title>
        {can("bulletins.manage") && (
          <Space>
            <DatePicker.RangePicker
              showTime
              aria-label={t("bulletins.period")}
              value={range}
              onChange={(v) => v && v[0] && v[1] && setRange([v[0], v[1]])}
            />
            <Button type="primary" icon={<FileAddOutlined />} loading={making} onClick={() => void make()} data-testid="make-bulletin">
              {t("bulletins.generate")}
            </Button>
          </Space>
        )}
      </Row>
      <Table<Bulletin>
        size="small"
        rowKey="id"
        loading={loading}
        dataSource={items}
        pagination={false}
        locale={{ emptyText: t("bulletins.none") }}
        columns={[
          { title: t("cases.name"), dataIndex: "title" },
          { title: t("bulletins.kind"), dataIndex: "kind", width: 80 },
          {
            title: `${t("bulletins.period")} · ${zoneLabel()}`,
            key: "period",
            width: 340,
            render: (_: unknown, b) => `${formatTime(b.period_start, locale)} — ${formatTime(b.period_end, locale)}`,
          },
          { title: t("bulletins.generatedAt"), dataIndex: "generated_at", width: 190, render: (v: string) => formatTime(v, locale) },
          { title: t("bulletins.generatedBy"), dataIndex: "generated_by", width: 140 },
          { title: t("bulletins.pages"), dataIndex: "pages", width: 60, align: "right" },
          {
            key: "files",
            width: 190,
            render: (_: unknown, b) => (
              <Space>
                <Button size="small" icon={<DownloadOutlined />} onClick={() => void download(b.id, "html")} title={b.html_digest}>
                  {t("bulletins.html")}
                </Button>
                <Button size="small" icon={<DownloadOutlined />} onClick={() => void download(b.id, "pdf")} title={b.pdf_digest}>
                  {t("bulletins.pdf")}
                </Button>
              </Space>
            ),
          },
        ]}
      />
      <More paged={paged} />
    </>
  );
}
