// The console's page registry: one entry per page, read by the router and the menu.
// Another issue's pages (governance: catalog, approvals, grants; alerting: cases, routing) are
// added here with their permission, menu key (in both catalogs) and icon; nothing else changes.
import { lazy, type ComponentType, type LazyExoticComponent, type ReactNode } from "react";
import {
  AlertOutlined,
  ApartmentOutlined,
  AuditOutlined,
  CheckSquareOutlined,
  ContainerOutlined,
  DashboardOutlined,
  DatabaseOutlined,
  FileProtectOutlined,
  FileSearchOutlined,
  FileTextOutlined,
  FormOutlined,
  KeyOutlined,
  NotificationOutlined,
  SafetyCertificateOutlined,
  SearchOutlined,
  StopOutlined,
  TeamOutlined,
} from "@ant-design/icons";
import type { MessageKey } from "../i18n";

export type PageDef = {
  /** Route path (react-router syntax). */
  path: string;
  /** Menu entry (omit for pages reached from another page, e.g. a detail). */
  menu?: { key: MessageKey; icon: ReactNode; group?: "operate" | "govern" | "audit" | "admin" };
  /** The permission the page needs (`soc_api/identity/roles.py`); without it, the denied page. */
  permission?: string;
  component: LazyExoticComponent<ComponentType>;
};

export const PAGES: PageDef[] = [
  {
    path: "/overview",
    menu: { key: "menu.overview", icon: <DashboardOutlined />, group: "operate" },
    permission: "sources.read",
    component: lazy(() => import("../pages/Overview")),
  },
  {
    path: "/alerts",
    menu: { key: "menu.alerts", icon: <AlertOutlined />, group: "operate" },
    permission: "alerts.read",
    component: lazy(() => import("../pages/Alerts")),
  },
  {
    path: "/alerts/:alertId",
    permission: "alerts.read",
    component: lazy(() => import("../pages/AlertDetail")),
  },
  {
    path: "/cases",
    menu: { key: "menu.cases", icon: <ContainerOutlined />, group: "operate" },
    permission: "alerts.read",
    component: lazy(() => import("../pages/Cases")),
  },
  {
    path: "/cases/:caseId",
    permission: "alerts.read",
    component: lazy(() => import("../pages/CaseDetail")),
  },
  {
    path: "/suppressions",
    menu: { key: "menu.suppressions", icon: <StopOutlined />, group: "operate" },
    permission: "alerts.read",
    component: lazy(() => import("../pages/Suppressions")),
  },
  {
    path: "/notifications",
    menu: { key: "menu.notifications", icon: <NotificationOutlined />, group: "operate" },
    permission: "alerts.read",
    component: lazy(() => import("../pages/Notifications")),
  },
  {
    path: "/bulletins",
    menu: { key: "menu.bulletins", icon: <FileTextOutlined />, group: "operate" },
    permission: "bulletins.read",
    component: lazy(() => import("../pages/Bulletins")),
  },
  {
    path: "/routes",
    menu: { key: "menu.routes", icon: <ApartmentOutlined />, group: "admin" },
    permission: "alert_routing.manage",
    component: lazy(() => import("../pages/Routes")),
  },
  {
    path: "/events",
    menu: { key: "menu.events", icon: <SearchOutlined />, group: "operate" },
    permission: "events.read",
    component: lazy(() => import("../pages/Events")),
  },
  {
    path: "/rules",
    menu: { key: "menu.rules", icon: <FileSearchOutlined />, group: "operate" },
    permission: "alerts.read",
    component: lazy(() => import("../pages/Rules")),
  },
  // Data governance (issue 16): catalog, request, approvals, grants; the trail under audit.
  {
    path: "/catalog",
    menu: { key: "menu.catalog", icon: <DatabaseOutlined />, group: "govern" },
    permission: "catalog.read",
    component: lazy(() => import("../pages/Catalog")),
  },
  {
    path: "/access/request",
    menu: { key: "menu.request", icon: <FormOutlined />, group: "govern" },
    permission: "access.request",
    component: lazy(() => import("../pages/RequestAccess")),
  },
  {
    path: "/access/inbox",
    menu: { key: "menu.approvals", icon: <CheckSquareOutlined />, group: "govern" },
    permission: "approvals.decide",
    component: lazy(() => import("../pages/Approvals")),
  },
  {
    path: "/access/grants",
    menu: { key: "menu.grants", icon: <KeyOutlined />, group: "govern" },
    permission: "access.request",
    component: lazy(() => import("../pages/MyGrants")),
  },
  {
    path: "/audit/trail",
    menu: { key: "menu.trail", icon: <FileProtectOutlined />, group: "audit" },
    permission: "audit.read",
    component: lazy(() => import("../pages/Trail")),
  },
  {
    path: "/ledger",
    menu: { key: "menu.ledger", icon: <AuditOutlined />, group: "audit" },
    permission: "audit.read",
    component: lazy(() => import("../pages/Ledger")),
  },
  {
    path: "/verify",
    menu: { key: "menu.verify", icon: <SafetyCertificateOutlined />, group: "audit" },
    permission: "audit.read",
    component: lazy(() => import("../pages/Verify")),
  },
  {
    path: "/accounts",
    menu: { key: "menu.accounts", icon: <TeamOutlined />, group: "admin" },
    permission: "users.read",
    component: lazy(() => import("../pages/Accounts")),
  },
];

/** The first menu page the session may see (where `/` and sign-in lead). */
export function homePath(can: (permission: string | undefined) => boolean): string {
  return PAGES.find((p) => p.menu && can(p.permission))?.path ?? "/denied";
}
