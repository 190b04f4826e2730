import { describe, expect, it } from "vitest";
import { cspNonce, stampStyleNonce } from "../src/lib/csp";

describe("style nonce", () => {
  it("stamps the page's nonce on every style element the bundle creates", () => {
    const doc = document.implementation.createHTMLDocument("t");
    const meta = doc.createElement("meta");
    meta.setAttribute("name", "csp-nonce");
    meta.setAttribute("content", "abc123");
    doc.head.appendChild(meta);
    stampStyleNonce(doc);
    expect(doc.createElement("style").nonce).toBe("abc123");
    expect(doc.createElement("div").nonce).toBe("");
  });

  it("ignores the unfilled placeholder of a page not served by the platform", () => {
    const doc = document.implementation.createHTMLDocument("t");
    doc.head.innerHTML = '<meta name="csp-nonce" content="__CSP_NONCE__">';
    expect(cspNonce(doc)).toBeUndefined();
  });
});
