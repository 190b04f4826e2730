// A suppression's conditions as the form holds them (one row each, values comma-separated) and as
// the API takes them (`ConditionModel`: field, operator, a list of values).
import type { Schemas } from "../api/client";

export type Op = Schemas["ConditionModel"]["op"];
export type ConditionValues = { field: string; op: Op; values: string };

/** As many conditions as the API takes (`SuppressionCreate.conditions`). */
export const MAX_CONDITIONS = 20;

/** The API's conditions from the form's rows (values split on either comma, blanks dropped). */
export function conditionsOf(rows: ConditionValues[] | undefined): Schemas["ConditionModel"][] {
  return (rows ?? []).map((c) => ({
    field: c.field.trim(),
    op: c.op ?? "eq",
    values: c.values
      .split(/[,，]/)
      .map((x) => x.trim())
      .filter(Boolean),
  }));
}
