// An API refusal shown with its form: per-field messages under the fields (Ant Design's own error
// slot), the rest (the problem's detail, checks no field names) in an alert above the form.
import { useCallback, useState } from "react";
import { Alert, type FormInstance } from "antd";
import { useT } from "../i18n";
import { layOut, type FieldOf } from "../lib/problems";

export function useProblem<T>(form: FormInstance<T>, fieldOf: FieldOf) {
  const [summary, setSummary] = useState<string[]>([]);
  const show = useCallback(
    (error: unknown) => {
      const { fields, summary: rest } = layOut(error, fieldOf);
      form.setFields(fields as Parameters<typeof form.setFields>[0]);
      setSummary(rest);
      if (fields.length) form.scrollToField(fields[0].name); // a tall form: bring the first one into view
    },
    [form, fieldOf],
  );
  const clear = useCallback(() => setSummary([]), []);
  return { summary, show, clear };
}

export function ProblemAlert({ summary }: { summary: string[] }) {
  const { t } = useT();
  if (!summary.length) return null;
  return (
    <Alert
      type="error"
      showIcon
      data-testid="form-problem"
      style={{ marginBottom: 12 }}
      message={t("problem.title")}
      description={summary.map((line, i) => (
        <div key={i}>{line}</div>
      ))}
    />
  );
}
