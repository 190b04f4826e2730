// Shared layout: menu from the page registry, language switch, the time zone in use, sign-out.
import type { ReactNode } from "react";
import { useLocation, useNavigate } from "react-router-dom";
import { Button, Layout, Menu, Segmented, Space, Tag, Tooltip, Typography } from "antd";
import { LogoutOutlined } from "@ant-design/icons";
import { useT, type Locale, type MessageKey } from "../i18n";
import { zoneLabel } from "../lib/time";
import { PAGES } from "./pages";
import { useSession } from "./session";

export function Shell({ children }: { children: ReactNode }) {
  const { t, locale, setLocale } = useT();
  const { session, signOut, can } = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const items = PAGES.filter((p) => p.menu && can(p.permission)).map((p) => ({
    key: p.path,
    icon: p.menu?.icon,
    label: t(p.menu!.key),
  }));
  const selected = items.find((i) => location.pathname.startsWith(i.key))?.key;
  return (
    <Layout style={{ minHeight: "100%" }}>
      <a className="skip-link" href="#main">
        {t("app.skip")}
      </a>
      <Layout.Sider width={208} breakpoint="lg" collapsedWidth={0}>
        <div className="brand">
          {t("app.title")}
          <div style={{ fontWeight: 400, fontSize: 12, opacity: 0.7 }}>{t("app.short")}</div>
        </div>
        <nav aria-label={t("app.title")}>
          <Menu
            theme="dark"
            mode="inline"
            selectedKeys={selected ? [selected] : []}
            items={items}
            onClick={({ key }) => navigate(key)}
          />
        </nav>
      </Layout.Sider>
      <Layout>
        <Layout.Header className="header-bar">
          <Typography.Text type="secondary">
            {t("app.timezone")}: {zoneLabel()}
          </Typography.Text>
          <Space size="middle">
            <Segmented<Locale>
              aria-label={t("app.language")}
              value={locale}
              onChange={(value) => setLocale(value)}
              options={[
                { label: "中文", value: "zh" },
                { label: "English", value: "en" },
              ]}
            />
            <Tooltip title={session?.role_titles.join(", ")}>
              <Space size={4}>
                <span data-testid="whoami">{session?.display_name || session?.username}</span>
                {session?.roles.map((r) => (
                  <Tag key={r}>{t(`role.${r}` as MessageKey)}</Tag>
                ))}
              </Space>
            </Tooltip>
            <Button icon={<LogoutOutlined />} onClick={() => void signOut()}>
              {t("app.signOut")}
            </Button>
          </Space>
        </Layout.Header>
        <Layout.Content id="main" tabIndex={-1} className="main" role="main">
          {children}
        </Layout.Content>
      </Layout>
    </Layout>
  );
}
