import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CATALOGS, translate } from "../src/i18n";

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

describe("message catalogs", () => {
  it("have the same keys and no empty message in either language", () => {
    expect(Object.keys(CATALOGS.en).sort()).toEqual(Object.keys(CATALOGS.zh).sort());
    for (const catalog of Object.values(CATALOGS)) {
      expect(Object.entries(catalog).filter(([, text]) => !text.trim())).toEqual([]);
    }
  });

  it("keep the same placeholders in both languages", () => {
    const names = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const key of Object.keys(CATALOGS.zh) as (keyof typeof CATALOGS.zh)[]) {
      expect(names(CATALOGS.en[key]), key).toEqual(names(CATALOGS.zh[key]));
    }
  });

  it("fill placeholders", () => {
    expect(translate("zh", "overview.hours", { hours: 24 })).toBe("最近 24 小时");
    expect(translate("en", "overview.hours", { hours: 24 })).toBe("Last 24 hours");
  });

  it("hold every Chinese string: no page hard-codes one", () => {
    // The language switch labels name the languages themselves (中文 / English) on purpose.
    const allowed = /中文/g;
    const offenders = files(join(__dirname, "../src"))
      .filter((f) => /\.(ts|tsx)$/.test(f) && !f.includes(`${join("src", "i18n")}`) && !f.endsWith(".d.ts"))
      .flatMap((f) =>
        readFileSync(f, "utf-8")
          .split("\n")
          .map((line, i) => [f, i + 1, line.replace(allowed, "")] as const)
          .filter(([, , line]) => /[\u4e00-\u9fff]/.test(line) && !line.trim().startsWith("//"))
          .map(([file, n, line]) => `${file}:${n}: ${line.trim()}`),
      );
    expect(offenders).toEqual([]);
  });
});
