// 数据资源目录: assets with their grades (GB/T 43697-2024), an asset's fields, grade history and
// discovery evidence; grade changes with a reason (data owners of the department, the security
// administrator). The API checks the department and ledgers every change.
import { useState } from "react";
import { Alert, App, Button, Descriptions, Drawer, Form, Input, InputNumber, Modal, Select, Space, Table, Tag, Typography } from "antd";
import { api, unwrap, type Schemas } from "../api/client";
import { GradeTag } from "../components/Labels";
import { useSession } from "../app/session";
import { useT } from "../i18n";
import { formatTime } from "../lib/time";
import { useApi } from "../lib/useApi";

type Asset = Schemas["AssetPublic"];
type Grade = Asset["grade"];
type Finding = { field: string; kind: string; label: string; by: string; hits: number; checked: number; positions: number[]; grade: Grade; sub_grade: number | null };
type Discovery = { at: string; actor: string; rows: number; suggested: { grade: Grade; sub_grade: number | null }; findings: Finding[] };
type GradeForm = { grade: Grade; sub_grade?: number; field?: string; reason: string };
const GRADES: Grade[] = ["core", "important", "general"];

function gradeText(grade: unknown, sub: unknown): string {
  return sub ? `${String(grade)}-${String(sub)}` : String(grade ?? "—");
}

function AssetDrawer({ assetId, onClose, onChanged }: { assetId: string; onClose: () => void; onChanged: () => void }) {
  const { t, locale } = useT();
  const { can } = useSession();
  const { message } = App.useApp();
  const [grading, setGrading] = useState(false);
  const [form] = Form.useForm<GradeForm>();
  const { data, error, reload } = useApi(
    async () => unwrap(await api.GET("/api/v1/catalog/assets/{asset_id}", { params: { path: { asset_id: assetId } } })),
    [assetId],
  );
  const discovery = data?.discovery as Discovery | null | undefined;
  const manage = can("classification.manage");

  const act = async (work: () => Promise<unknown>, done: string) => {
    try {
      await work();
      message.success(done);
      await reload();
      onChanged();
    } catch (e) {
      message.error((e as Error).message);
    }
  };

  const changeGrade = async (values: GradeForm) => {
    await act(
      async () =>
        unwrap(
          await api.PUT("/api/v1/catalog/assets/{asset_id}/grade", {
            params: { path: { asset_id: assetId } },
            body: { grade: values.grade, sub_grade: values.grade === "general" ? (values.sub_grade ?? null) : null, field: values.field || null, reason: values.reason },
          }),
        ),
      t("catalog.gradeChanged"),
    );
    setGrading(false);
    form.resetFields();
  };

  return (
    <Drawer open width={760} title={data ? `${data.name} · ${data.id}` : t("catalog.detail")} onClose={onClose} data-testid="asset-detail">
      {error && <Alert type="error" showIcon message={error.message} />}
      {data && (
        <Space direction="vertical" style={{ width: "100%" }} size="large">
          <Descriptions size="small" column={2} bordered>
            <Descriptions.Item label={t("gov.grade")}>
              <GradeTag grade={data.grade} /> {data.sub_grade ? `${t("catalog.subGrade")} ${data.sub_grade}` : ""}
            </Descriptions.Item>
            <Descriptions.Item label={t("catalog.owner")}>{data.owner}</Descriptions.Item>
            <Descriptions.Item label={t("gov.region")}>{data.region}</Descriptions.Item>
            <Descriptions.Item label={t("catalog.records")}>{data.record_count ?? "—"}</Descriptions.Item>
          </Descriptions>
          {manage && (
            <Space>
              <Button type="primary" onClick={() => setGrading(true)} data-testid="change-grade">
                {t("catalog.changeGrade")}
              </Button>
              <Button
                onClick={() =>
                  void act(
                    async () => unwrap(await api.POST("/api/v1/catalog/assets/{asset_id}/discovery", { params: { path: { asset_id: assetId } }, body: { samples: [] } })),
                    t("gov.saved"),
                  )
                }
              >
                {t("catalog.runDiscovery")}
              </Button>
            </Space>
          )}
          <Table<Schemas["FieldPublic"]>
            size="small"
            rowKey="name"
            pagination={false}
            dataSource={data.fields}
            columns={[
              { title: t("gov.fields"), dataIndex: "name", render: (n: string) => <span className="mono">{n}</span> },
              { title: t("catalog.kind"), dataIndex: "type" },
              { title: t("catalog.fieldGrade"), dataIndex: "grade", render: (g: string | null, f) => (g ? <span><GradeTag grade={g} />{f.sub_grade ?? ""}</span> : "—") },
            ]}
          />
          <div data-testid="discovery">
            <Typography.Title level={5}>{t("catalog.discovery")}</Typography.Title>
            {discovery ? (
              <Space direction="vertical" style={{ width: "100%" }}>
                <Typography.Text type="secondary">
                  {t("catalog.discoveredBy", { actor: discovery.actor, at: formatTime(discovery.at, locale), rows: discovery.rows })}
                </Typography.Text>
                <span>
                  {t("catalog.suggested")}: <GradeTag grade={discovery.suggested.grade} /> {discovery.suggested.sub_grade ?? ""}
                </span>
                <Table<Finding>
                  size="small"
                  rowKey={(f) => `${f.field}-${f.kind}`}
                  pagination={false}
                  dataSource={discovery.findings}
                  columns={[
                    { title: t("gov.fields"), dataIndex: "field", render: (n: string) => <span className="mono">{n}</span> },
                    { title: t("catalog.kind"), dataIndex: "label" },
                    { title: "", dataIndex: "by", render: (b: string) => <Tag>{t(b === "name" ? "catalog.by.name" : "catalog.by.values")}</Tag> },
                    { title: t("catalog.hits"), render: (_, f) => `${f.hits} / ${f.checked}` },
                    { title: t("catalog.positions"), dataIndex: "positions", render: (p: number[]) => p.join(", ") || "—" },
                    { title: t("catalog.suggested"), dataIndex: "grade", render: (g: string) => <GradeTag grade={g} /> },
                  ]}
                />
                <Typography.Text type="secondary">{t("catalog.discoveryNote")}</Typography.Text>
              </Space>
            ) : (
              <Typography.Text type="secondary">{t("catalog.discoveryNone")}</Typography.Text>
            )}
          </div>
          <div>
            <Typography.Title level={5}>{t("catalog.history")}</Typography.Title>
            <Table<Schemas["GradeChangePublic"]>
              size="small"
              rowKey={(h) => `${h.at}-${h.field ?? ""}`}
              pagination={false}
              dataSource={data.grade_history}
              locale={{ emptyText: t("gov.none") }}
              columns={[
                { title: t("catalog.at"), dataIndex: "at", render: (v: string) => formatTime(v, locale) },
                { title: t("gov.fields"), dataIndex: "field", render: (f: string | null) => f ?? "—" },
                { title: t("catalog.before"), dataIndex: "before", render: (b: Record<string, unknown>) => gradeText(b.grade, b.sub_grade) },
                { title: t("catalog.after"), dataIndex: "after", render: (a: Record<string, unknown>) => gradeText(a.grade, a.sub_grade) },
                { title: t("gov.reason"), dataIndex: "reason" },
                { title: t("catalog.by"), dataIndex: "actor" },
              ]}
            />
          </div>
        </Space>
      )}
      <Modal open={grading} title={t("catalog.changeGrade")} onCancel={() => setGrading(false)} onOk={() => form.submit()}>
        <Form form={form} layout="vertical" onFinish={(v) => void changeGrade(v)} initialValues={{ grade: data?.grade }}>
          <Form.Item name="grade" label={t("gov.grade")} rules={[{ required: true }]}>
            <Select options={GRADES.map((g) => ({ value: g, label: t(`grade.${g}`) }))} />
          </Form.Item>
          <Form.Item name="sub_grade" label={t("catalog.subGrade")}>
            <InputNumber min={1} max={4} />
          </Form.Item>
          <Form.Item name="field" label={t("catalog.gradeField")}>
            <Select allowClear options={(data?.fields ?? []).map((f) => ({ value: f.name, label: f.name }))} />
          </Form.Item>
          <Form.Item name="reason" label={t("gov.reason")} rules={[{ required: true, max: 500 }]}>
            <Input.TextArea rows={2} />
          </Form.Item>
        </Form>
      </Modal>
    </Drawer>
  );
}

export default function Catalog() {
  const { t, locale } = useT();
  const [grade, setGrade] = useState<Grade | undefined>(undefined);
  const [open, setOpen] = useState<string | null>(null);
  const { data, error, loading, reload } = useApi(
    async () => unwrap(await api.GET("/api/v1/catalog/assets", { params: { query: { grade, limit: 200 } } })),
    [grade],
  );
  if (error) return <Alert type="error" showIcon message={t("app.error")} description={error.message} />;
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Space style={{ justifyContent: "space-between", width: "100%" }}>
        <Typography.Title level={3}>{t("catalog.title")}</Typography.Title>
        <Select<Grade>
          aria-label={t("gov.grade")}
          placeholder={t("gov.grade")}
          allowClear
          style={{ width: 160 }}
          value={grade}
          onChange={setGrade}
          options={GRADES.map((g) => ({ value: g, label: t(`grade.${g}`) }))}
        />
      </Space>
      <Alert type="info" showIcon message={t("catalog.intro")} />
      <Table<Asset>
        size="small"
        rowKey="id"
        loading={loading}
        dataSource={data?.items ?? []}
        pagination={false}
        onRow={(asset) => ({ onClick: () => setOpen(asset.id), style: { cursor: "pointer" }, "data-asset-id": asset.id }) as object}
        columns={[
          { title: t("catalog.id"), dataIndex: "id", render: (v: string) => <span className="mono">{v}</span> },
          { title: t("catalog.name"), dataIndex: "name", render: (v: string, a) => (locale === "en" && a.name_en ? a.name_en : v) },
          { title: t("gov.grade"), dataIndex: "grade", render: (g: string, a) => <span><GradeTag grade={g} />{a.sub_grade ?? ""}</span> },
          { title: t("catalog.owner"), dataIndex: "owner" },
          { title: t("gov.region"), dataIndex: "region" },
          { title: t("catalog.records"), dataIndex: "record_count", align: "right", render: (v: number | null) => v ?? "—" },
          { title: t("gov.fields"), dataIndex: "fields", align: "right", render: (f: unknown[]) => f.length },
        ]}
      />
      {open && <AssetDrawer assetId={open} onClose={() => setOpen(null)} onChanged={() => void reload()} />}
    </Space>
  );
}
