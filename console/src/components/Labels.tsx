// Shared labels: warning levels, grades, statuses and roles as tags, in the current language.
import { Tag } from "antd";
import { useT, type MessageKey } from "../i18n";

export const LEVEL_COLORS: Record<string, string> = { red: "#cf1322", orange: "#d46b08", yellow: "#d4b106", blue: "#1d39c4" };
const GRADE_COLORS: Record<string, string> = { core: "red", important: "orange", general: "default" };

export function LevelTag({ level }: { level: string }) {
  const { t } = useT();
  return (
    <Tag color={LEVEL_COLORS[level]} data-level={level}>
      {t(`level.${level}` as MessageKey)}
    </Tag>
  );
}

export function GradeTag({ grade }: { grade: string | null | undefined }) {
  const { t } = useT();
  if (!grade) return <span>—</span>;
  return <Tag color={GRADE_COLORS[grade]}>{t(`grade.${grade}` as MessageKey)}</Tag>;
}

export function StatusTag({ status }: { status: string }) {
  const { t } = useT();
  return <Tag>{t(`status.${status}` as MessageKey)}</Tag>;
}
