import { describe, expect, it } from "vitest";
import { conditionsOf } from "../src/alerts/conditions";
import { ApiError } from "../src/api/client";
import { attachmentMediaType, attachmentName, base64Of } from "../src/lib/attachments";
import { layOut, locPath, topLevel } from "../src/lib/problems";

describe("an API refusal laid onto a form", () => {
  const invalid = new ApiError(422, {
    type: "https://datasoc.local/problems/invalid-request",
    title: "Unprocessable Content",
    status: 422,
    detail: "请求参数无效 / invalid request",
    errors: [
      { loc: ["body", "hours"], msg: "String should match pattern", type: "string_pattern_mismatch" },
      { loc: ["path", "name"], msg: "String should match pattern", type: "string_pattern_mismatch" },
      { loc: ["body", "channels", "0"], msg: "too long", type: "string_too_long" },
      { loc: ["body", "channels", "1"], msg: "too long", type: "string_too_long" },
      { loc: ["body", "nonsense"], msg: "Extra", type: "extra" },
    ],
  });

  it("puts each field's problems under that field and the rest in the summary", () => {
    const { fields, summary } = layOut(invalid, topLevel(["name", "hours", "channels"]));
    expect(fields).toEqual([
      { name: ["hours"], errors: ["String should match pattern"] },
      { name: ["name"], errors: ["String should match pattern"] },
      { name: ["channels"], errors: ["too long", "too long"] },
    ]);
    expect(summary).toEqual(["请求参数无效 / invalid request", "nonsense: Extra"]);
  });

  it("reaches into list rows with numeric indexes", () => {
    expect(locPath(["body", "conditions", "1", "values", "0"])).toEqual(["conditions", 1, "values", 0]);
    const nested = new ApiError(422, { errors: [{ loc: ["body", "conditions", "1", "values"], msg: "at least 1" }] });
    const { fields } = layOut(nested, (loc) => (loc[0] === "conditions" ? ["conditions", loc[1], loc[2]] : null));
    expect(fields).toEqual([{ name: ["conditions", 1, "values"], errors: ["at least 1"] }]);
  });

  it("keeps a service's refusal without field problems as the summary", () => {
    const refused = new ApiError(409, { status: 409, detail: "route 'soc-all' is configured in settings: change it there" });
    expect(layOut(refused, topLevel(["name"]))).toEqual({ fields: [], summary: ["route 'soc-all' is configured in settings: change it there"] });
    expect(layOut(new Error("network down"), topLevel([])).summary).toEqual(["network down"]);
  });
});

describe("suppression conditions from the form", () => {
  it("split values on either comma, trim, and keep every row", () => {
    expect(
      conditionsOf([
        { field: " user.name ", op: "in", values: "sunhui， lihua,, " },
        { field: "source.ip", op: "cidr", values: "10.10.0.0/16" },
      ]),
    ).toEqual([
      { field: "user.name", op: "in", values: ["sunhui", "lihua"] },
      { field: "source.ip", op: "cidr", values: ["10.10.0.0/16"] },
    ]);
    expect(conditionsOf(undefined)).toEqual([]);
  });
});

describe("attachments as the API takes them", () => {
  it("make names plain and media types acceptable", () => {
    expect(attachmentName("..\\evil/name\u0001.txt")).toBe(".._evil_name_.txt");
    expect(attachmentName("x".repeat(300))).toHaveLength(200);
    expect(attachmentName("")).toBe("attachment");
    expect(attachmentMediaType("text/plain")).toBe("text/plain");
    expect(attachmentMediaType("text/plain;charset=utf-8")).toBe("application/octet-stream");
    expect(attachmentMediaType("")).toBe("application/octet-stream");
  });

  it("encode the bytes in base64 without the data URL prefix", async () => {
    const bytes = new TextEncoder().encode("处置记录 / notes\n");
    const encoded = await base64Of(new Blob([bytes], { type: "text/plain" }));
    expect(Array.from(atob(encoded), (c) => c.charCodeAt(0))).toEqual(Array.from(bytes));
  });
});
