import { describe, expect, it } from "vitest";
import { OPEN_STATUSES, matches, subjectOf, type AlertItem } from "../src/alerts/source";
import { CATALOGS } from "../src/i18n";

function alert(over: Partial<AlertItem> = {}): AlertItem {
  return {
    id: "alt-1",
    rule_id: "r1",
    rule_title: "无审批访问 / Access without approval",
    rule_level: "high",
    tags: [],
    warning_level: "orange",
    event_class: "data",
    grade: "core",
    group: { "user.name": "sunhui", "data.asset.id": "ds-gaj-hjqy" },
    sources: ["apigw"],
    first_seen: "2026-12-03T01:00:00Z",
    last_seen: "2026-12-03T01:05:00Z",
    count: 2,
    events: 2,
    status: "new",
    resolution: null,
    suppressed_by: null,
    assignee: null,
    case_id: null,
    raised_at: "2026-12-03T01:00:01Z",
    updated_at: "2026-12-03T01:00:01Z",
    notified_at: null,
    responded_at: null,
    closed_at: null,
    sla_stage: "respond",
    sla_due_at: null,
    sla_breaches: 0,
    ...over,
  };
}

describe("the queue's live filter", () => {
  it("keeps what the server's filter would answer", () => {
    const open = { status: OPEN_STATUSES };
    expect(matches(alert(), open)).toBe(true);
    expect(matches(alert({ status: "closed" }), open)).toBe(false); // closed leaves the open queue
    expect(matches(alert({ suppressed_by: "sup-1" }), {})).toBe(false);
    expect(matches(alert(), { level: ["red"] })).toBe(false);
    expect(matches(alert({ assignee: "ana" }), { assignee: "ana" })).toBe(true);
    expect(matches(alert({ assignee: "bob" }), { assignee: "ana" })).toBe(false);
    expect(matches(alert(), { text: "SUNHUI" })).toBe(true); // group values, any case
    expect(matches(alert(), { text: "无审批" })).toBe(true);
    expect(matches(alert(), { text: "nobody" })).toBe(false);
  });

  it("names the person and the data asset from the group key", () => {
    expect(subjectOf(alert())).toEqual({ user: "sunhui", asset: "ds-gaj-hjqy", ip: undefined });
  });
});

describe("the alerting catalog", () => {
  it("names every lifecycle stage and status the alert store answers, in both languages", () => {
    for (const catalog of Object.values(CATALOGS)) {
      for (const s of ["new", "notified", "in_progress", "closed"]) {
        expect(catalog[`status.${s}` as keyof typeof catalog], s).toBeTruthy();
        expect(catalog[`lifecycle.${s}` as keyof typeof catalog], s).toBeTruthy();
      }
      for (const r of ["resolved", "false_positive", "accepted_risk"]) {
        expect(catalog[`resolution.${r}` as keyof typeof catalog], r).toBeTruthy();
      }
    }
  });
});
