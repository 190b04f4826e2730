// 检索条件: the inline search form of the ledger and trail pages: text keys, an outcome and a time
// range (fields `outcome` and `range` of the page's criteria), and the search button.
import type { Dayjs } from "dayjs";
import { Button, DatePicker, Form, Input, Select, type FormInstance } from "antd";

/** A text key of the criteria: its field name, label (also its placeholder) and width. */
export type TextKey<C> = { name: keyof C & string; label: string; width: number };

type Props<C> = {
  form: FormInstance<C>;
  keys: TextKey<C>[];
  outcome: { label: string; width: number; options: { value: string; label: string }[] };
  rangeLabel?: string;
  submit: { label: string; loading: boolean; testId?: string };
  onSearch: (criteria: C) => void;
};

export function CriteriaForm<C extends { outcome?: string; range?: [Dayjs, Dayjs] }>({ form, keys, outcome, rangeLabel, submit, onSearch }: Props<C>) {
  return (
    <Form form={form} layout="inline" onFinish={onSearch} style={{ rowGap: 8 }}>
      {keys.map((key) => (
        // antd's name type cannot follow a generic C: the name is one of C's keys all the same.
        <Form.Item key={key.name} name={key.name as string}>
          <Input aria-label={key.label} placeholder={key.label} allowClear style={{ width: key.width }} />
        </Form.Item>
      ))}
      <Form.Item name="outcome">
        <Select aria-label={outcome.label} placeholder={outcome.label} allowClear style={{ width: outcome.width }} options={outcome.options} />
      </Form.Item>
      <Form.Item name="range">
        <DatePicker.RangePicker showTime aria-label={rangeLabel} />
      </Form.Item>
      <Button type="primary" htmlType="submit" loading={submit.loading} data-testid={submit.testId}>
        {submit.label}
      </Button>
    </Form>
  );
}
