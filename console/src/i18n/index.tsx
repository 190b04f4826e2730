// The two catalogs, a language switch kept in localStorage, and `useT()` for every component.
// Other pages (governance, alerting) add their keys to both catalogs; the compiler checks both.
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { en } from "./en";
import { zh, type MessageKey } from "./zh";

export type Locale = "zh" | "en";
export type { MessageKey };
export const CATALOGS: Record<Locale, Record<MessageKey, string>> = { zh, en };
const KEY = "datasoc.locale";

/** `{name}` placeholders replaced by `vars`. */
export function translate(locale: Locale, key: MessageKey, vars?: Record<string, string | number>): string {
  const text = CATALOGS[locale][key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
}

type I18n = {
  locale: Locale;
  setLocale: (locale: Locale) => void;
  t: (key: MessageKey, vars?: Record<string, string | number>) => string;
};

const Context = createContext<I18n>({
  locale: "zh",
  setLocale: () => undefined,
  t: (key, vars) => translate("zh", key, vars),
});

function initialLocale(): Locale {
  const stored = typeof localStorage !== "undefined" ? localStorage.getItem(KEY) : null;
  return stored === "en" ? "en" : "zh"; // Chinese first
}

export function I18nProvider({ children, locale: fixed }: { children: ReactNode; locale?: Locale }) {
  const [locale, setState] = useState<Locale>(fixed ?? initialLocale());
  const setLocale = useCallback((next: Locale) => {
    localStorage.setItem(KEY, next);
    document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
    setState(next);
  }, []);
  const value = useMemo<I18n>(
    () => ({ locale, setLocale, t: (key, vars) => translate(locale, key, vars) }),
    [locale, setLocale],
  );
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useT(): I18n {
  return useContext(Context);
}
