// An API refusal (RFC 9457 problem details) laid onto a form: each per-field problem of a 422
// (`errors[].loc`, e.g. ["body", "conditions", "1", "values"]) goes under the field it names, and
// what names no field of the form (the detail, a path parameter, a rule the service checks) stays
// in a summary shown next to the form. Pure, so it is tested without a browser.
import { ApiError } from "../api/client";

export type FieldPath = (string | number)[];
export type FieldProblem = { name: FieldPath; errors: string[] };
export type LaidOut = { fields: FieldProblem[]; summary: string[] };

/** Where a problem's `loc` points in the form, or null when no field shows it. */
export type FieldOf = (loc: FieldPath) => FieldPath | null;

/** The default: the first member of the body or path names a top-level field. */
export const topLevel =
  (known: readonly string[]): FieldOf =>
  (loc) =>
    typeof loc[0] === "string" && known.includes(loc[0]) ? [loc[0]] : null;

/** `loc` without its `body`/`path`/`query` head, list indexes as numbers. */
export function locPath(loc: readonly string[]): FieldPath {
  const rest = ["body", "path", "query"].includes(loc[0] ?? "") ? loc.slice(1) : loc.slice();
  return rest.map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

/** Lay `error` onto a form: per-field messages for what `fieldOf` places, a summary for the rest. */
export function layOut(error: unknown, fieldOf: FieldOf): LaidOut {
  if (!(error instanceof ApiError)) return { fields: [], summary: [(error as Error)?.message ?? String(error)] };
  const byField = new Map<string, FieldProblem>();
  const summary: string[] = [];
  for (const item of error.problem?.errors ?? []) {
    const msg = item.msg ?? item.type ?? "";
    const path = locPath(item.loc ?? []);
    const name = path.length ? fieldOf(path) : null;
    if (name === null) {
      summary.push(path.length ? `${path.join(".")}: ${msg}` : msg);
      continue;
    }
    const key = JSON.stringify(name);
    const found = byField.get(key) ?? { name, errors: [] };
    found.errors.push(msg);
    byField.set(key, found);
  }
  // The detail first: it says what was refused when no field does (a 409, a service's own check).
  summary.unshift(error.message);
  return { fields: [...byField.values()], summary };
}
