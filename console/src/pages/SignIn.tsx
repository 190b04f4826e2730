// Sign-in in up to three steps: password; then the second factor (a TOTP code or a recovery
// code) or, for a role that needs one and has none, enrolment with its recovery codes.
import { useState } from "react";
import { Alert, Button, Card, Form, Input, Segmented, Space, Typography } from "antd";
import { api, unwrap, ApiError } from "../api/client";
import { useSession } from "../app/session";
import { useT, type Locale } from "../i18n";

function Enrol({ onDone }: { onDone: () => void }) {
  const { t } = useT();
  const [enrolment, setEnrolment] = useState<{ secret: string; qr_svg: string } | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const start = async () => {
    setError(null);
    try {
      setEnrolment(unwrap(await api.POST("/api/v1/me/second-factor")));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const confirm = async (values: { code: string }) => {
    setError(null);
    const answer = await api.POST("/api/v1/me/second-factor/confirm", { body: { code: values.code.trim() } });
    if (answer.data) setCodes(answer.data.recovery_codes);
    else setError(t("enrol.failed"));
  };
  if (codes) {
    return (
      <Space direction="vertical">
        <Typography.Title level={4}>{t("enrol.codesTitle")}</Typography.Title>
        <Typography.Paragraph>{t("enrol.codesIntro")}</Typography.Paragraph>
        <pre className="mono" data-testid="recovery-codes">
          {codes.join("\n")}
        </pre>
        <Button type="primary" onClick={onDone}>
          {t("enrol.done")}
        </Button>
      </Space>
    );
  }
  return (
    <Space direction="vertical" style={{ width: "100%" }}>
      <Typography.Title level={4}>{t("enrol.title")}</Typography.Title>
      <Typography.Paragraph>{t("enrol.intro")}</Typography.Paragraph>
      {!enrolment ? (
        <Button type="primary" onClick={() => void start()}>
          {t("enrol.title")}
        </Button>
      ) : (
        <>
          {/* The QR code is an SVG the API generated from the otpauth URI (segno); no script in it. */}
          <div className="qr" dangerouslySetInnerHTML={{ __html: enrolment.qr_svg }} />
          <Typography.Text>
            {t("enrol.secret")}: <Typography.Text code copyable data-testid="enrol-secret">{enrolment.secret}</Typography.Text>
          </Typography.Text>
          <Form layout="vertical" onFinish={confirm}>
            <Form.Item name="code" label={t("signin.code")} rules={[{ required: true }]}>
              <Input autoComplete="one-time-code" inputMode="numeric" maxLength={6} />
            </Form.Item>
            <Button type="primary" htmlType="submit">
              {t("enrol.confirm")}
            </Button>
          </Form>
        </>
      )}
      {error && <Alert type="error" message={error} showIcon />}
    </Space>
  );
}

export function SignIn() {
  const { t, locale, setLocale } = useT();
  const { session, accept, refresh, expired } = useSession();
  const [error, setError] = useState<string | null>(null);
  const [recovery, setRecovery] = useState(false);
  const [busy, setBusy] = useState(false);
  const stage = session?.stage;

  const password = async (values: { username: string; password: string }) => {
    setBusy(true);
    setError(null);
    try {
      accept(unwrap(await api.POST("/api/v1/session", { body: values })));
    } catch (e) {
      setError(e instanceof ApiError && e.status === 401 ? t("signin.failed") : (e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const second = async (values: { code?: string; recovery_code?: string }) => {
    setBusy(true);
    setError(null);
    try {
      const body = recovery ? { recovery_code: values.recovery_code?.trim() } : { code: values.code?.trim() };
      accept(unwrap(await api.POST("/api/v1/session/second-factor", { body })));
    } catch {
      setError(t("signin.mfaFailed"));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="signin">
      <Card className="signin-card" title={`${t("app.short")} · ${t("app.title")}`} extra={
        <Segmented<Locale>
          aria-label={t("app.language")}
          size="small"
          value={locale}
          onChange={setLocale}
          options={[
            { label: "中文", value: "zh" },
            { label: "EN", value: "en" },
          ]}
        />
      }>
        {expired && !stage && <Alert type="warning" showIcon message={t("app.sessionExpired")} style={{ marginBottom: 16 }} />}
        {stage === "enrol" ? (
          <Enrol onDone={() => void refresh()} />
        ) : stage === "mfa" ? (
          <Form layout="vertical" onFinish={second} requiredMark={false}>
            <Typography.Title level={4}>{t("signin.mfaTitle")}</Typography.Title>
            {recovery ? (
              <Form.Item name="recovery_code" label={t("signin.recoveryCode")} rules={[{ required: true }]}>
                <Input autoFocus autoComplete="off" />
              </Form.Item>
            ) : (
              <Form.Item name="code" label={t("signin.code")} rules={[{ required: true }]}>
                <Input autoFocus autoComplete="one-time-code" inputMode="numeric" maxLength={6} />
              </Form.Item>
            )}
            <Space>
              <Button type="primary" htmlType="submit" loading={busy}>
                {t("signin.verify")}
              </Button>
              <Button type="link" onClick={() => setRecovery(!recovery)}>
                {recovery ? t("signin.useCode") : t("signin.useRecovery")}
              </Button>
            </Space>
          </Form>
        ) : (
          <Form layout="vertical" onFinish={password} requiredMark={false}>
            <Typography.Title level={4}>{t("signin.title")}</Typography.Title>
            <Form.Item name="username" label={t("signin.username")} rules={[{ required: true }]}>
              <Input autoFocus autoComplete="username" />
            </Form.Item>
            <Form.Item name="password" label={t("signin.password")} rules={[{ required: true }]}>
              <Input.Password autoComplete="current-password" />
            </Form.Item>
            <Button type="primary" htmlType="submit" loading={busy} block>
              {t("signin.submit")}
            </Button>
          </Form>
        )}
        {error && <Alert type="error" message={error} showIcon style={{ marginTop: 16 }} role="alert" />}
      </Card>
    </main>
  );
}
