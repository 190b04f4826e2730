// 校验导出包: upload a bundle and the trusted public key; the server checks it in a temporary
// file (size-capped, never the live ledger) and the page shows every step with its result.
import { useState } from "react";
import { Alert, Button, Card, Descriptions, Input, Space, Steps, Typography, Upload } from "antd";
import { UploadOutlined } from "@ant-design/icons";
import { rawFetch, ApiError, type Schemas } from "../api/client";
import { useT } from "../i18n";
import { formatTime } from "../lib/time";

type Result = Schemas["VerifyResult"];

function base64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

export default function Verify() {
  const { t, locale } = useT();
  const [bundle, setBundle] = useState<File | null>(null);
  const [pem, setPem] = useState("");
  const [result, setResult] = useState<Result | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const verify = async () => {
    if (!bundle || !pem.trim()) {
      setError(t("verify.missing"));
      return;
    }
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const response = await rawFetch(`/api/v1/audit/verify?public_key=${encodeURIComponent(base64(pem.trim() + "\n"))}`, {
        method: "POST",
        headers: { "Content-Type": "application/zip" },
        body: bundle,
      });
      const body = await response.json();
      if (!response.ok) throw new ApiError(response.status, body);
      setResult(body as Result);
    } catch (e) {
      setError(e instanceof ApiError && e.status === 413 ? t("verify.tooLarge") : (e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Space direction="vertical" style={{ width: "100%" }} size="middle">
      <Typography.Title level={3}>{t("verify.title")}</Typography.Title>
      <Typography.Paragraph type="secondary">{t("verify.intro")}</Typography.Paragraph>
      <Card size="small">
        <Space direction="vertical" style={{ width: "100%" }}>
          <Typography.Text strong>{t("verify.bundle")}</Typography.Text>
          <Upload
            accept=".zip,application/zip"
            maxCount={1}
            beforeUpload={(file) => {
              setBundle(file);
              return false;
            }}
            onRemove={() => setBundle(null)}
          >
            <Button icon={<UploadOutlined />} data-testid="bundle-input">
              {t("verify.choose")}
            </Button>
          </Upload>
          <Typography.Text strong>{t("verify.key")}</Typography.Text>
          <Upload
            accept=".pem,application/x-pem-file,text/plain"
            maxCount={1}
            showUploadList={false}
            beforeUpload={(file) => {
              void file.text().then(setPem);
              return false;
            }}
          >
            <Button icon={<UploadOutlined />} data-testid="key-input">
              {t("verify.choose")}
            </Button>
          </Upload>
          <Input.TextArea aria-label={t("verify.keyPaste")} placeholder={t("verify.keyPaste")} rows={4} value={pem} onChange={(e) => setPem(e.target.value)} className="mono" />
          <Button type="primary" onClick={() => void verify()} loading={busy} data-testid="verify">
            {t("verify.submit")}
          </Button>
        </Space>
      </Card>
      {error && <Alert type="error" showIcon message={error} />}
      {result && (
        <Card size="small" title={t("verify.steps")} data-testid="verify-result">
          <Alert
            type={result.ok ? "success" : "error"}
            showIcon
            message={result.ok ? t("verify.ok") : t("verify.failed")}
            description={result.ok ? (locale === "zh" ? result.statement_zh : result.statement_en) : result.failure}
            style={{ marginBottom: 16 }}
          />
          <Steps
            direction="vertical"
            size="small"
            items={result.steps.map((s) => ({
              title: `${s.number}. ${locale === "zh" ? s.name_zh : s.name_en}`,
              description: s.outcome === "passed" ? t("verify.passed") : s.outcome === "failed" ? `${t("verify.stepFailed")}: ${s.detail ?? ""}` : t("verify.notReached"),
              status: s.outcome === "passed" ? "finish" : s.outcome === "failed" ? "error" : "wait",
            }))}
          />
          <Descriptions size="small" column={1} bordered>
            <Descriptions.Item label={t("verify.trustedKey")}><span className="mono">{result.trusted_key_id}</span></Descriptions.Item>
            <Descriptions.Item label={t("verify.bundleKey")}><span className="mono">{result.bundle_key_id ?? "—"}</span></Descriptions.Item>
            <Descriptions.Item label={t("verify.entries")}>{result.entries}</Descriptions.Item>
            <Descriptions.Item label={t("alerts.treeSize")}>{result.tree_size}</Descriptions.Item>
            <Descriptions.Item label={t("alerts.root")}><span className="mono">{result.root}</span></Descriptions.Item>
            <Descriptions.Item label={t("overview.checkpoint")}>{formatTime(result.checkpoint_time, locale)}</Descriptions.Item>
          </Descriptions>
        </Card>
      )}
    </Space>
  );
}
