// The console's root: locale and Ant Design theme, the session, and the routes of the registry.
import { Suspense, useEffect, useMemo } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router-dom";
import { App as AntApp, ConfigProvider, Result, Spin } from "antd";
import zhCN from "antd/locale/zh_CN";
import enUS from "antd/locale/en_US";
import dayjs from "dayjs";
import "dayjs/locale/zh-cn";
import { I18nProvider, useT } from "../i18n";
import { SessionProvider, useSession } from "./session";
import { PAGES, homePath } from "./pages";
import { Shell } from "./Shell";
import { SignIn } from "../pages/SignIn";
import { Denied } from "../pages/Denied";
import { cspNonce } from "../lib/csp";


function Guarded() {
  const { session, loading, can } = useSession();
  const { t } = useT();
  const location = useLocation();
  if (loading) return <Spin fullscreen tip={t("app.loading")} />;
  if (!session || session.stage !== "full") return <SignIn />;
  return (
    <Shell>
      <Suspense fallback={<Spin tip={t("app.loading")} />}>
        <Routes>
          <Route path="/" element={<Navigate to={homePath(can)} replace />} />
          {PAGES.map((page) => (
            <Route
              key={page.path}
              path={page.path}
              element={can(page.permission) ? <page.component /> : <Denied permission={page.permission ?? ""} />}
            />
          ))}
          <Route path="/denied" element={<Denied permission="" />} />
          <Route path="*" element={<Result status="404" title={t("notFound.title")} subTitle={location.pathname} />} />
        </Routes>
      </Suspense>
    </Shell>
  );
}

function Themed() {
  const { locale } = useT();
  const nonce = useMemo(() => cspNonce(), []);
  useEffect(() => {
    dayjs.locale(locale === "zh" ? "zh-cn" : "en");
  }, [locale]);
  return (
    <ConfigProvider
      locale={locale === "zh" ? zhCN : enUS}
      csp={nonce ? { nonce } : undefined}
      theme={{ token: { colorPrimary: "#1d39c4", borderRadius: 4 } }}
      componentSize="middle"
    >
      <AntApp>
        <SessionProvider>
          <BrowserRouter>
            <Guarded />
          </BrowserRouter>
        </SessionProvider>
      </AntApp>
    </ConfigProvider>
  );
}

export function App() {
  return (
    <I18nProvider>
      <Themed />
    </I18nProvider>
  );
}
