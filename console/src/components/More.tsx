// 加载更多 under a cursor-paged table (`usePaged`): shown while the API says there is a next page.
import { Button } from "antd";
import { useT } from "../i18n";

export function More({ paged, testId }: { paged: { more: boolean; loading: boolean; loadMore: () => Promise<void> }; testId?: string }) {
  const { t } = useT();
  if (!paged.more) return null;
  return (
    <div style={{ textAlign: "center", marginTop: 12 }}>
      <Button loading={paged.loading} onClick={() => void paged.loadMore()} data-testid={testId ?? "load-more"}>
        {t("list.more")}
      </Button>
    </div>
  );
}
