import { Button, Result } from "antd";
import { useNavigate } from "react-router-dom";
import { useT } from "../i18n";

export function Denied({ permission }: { permission: string }) {
  const { t } = useT();
  const navigate = useNavigate();
  return (
    <Result
      status="403"
      title={t("denied.title")}
      subTitle={t("denied.body", { permission: permission || "—" })}
      extra={
        <Button type="primary" onClick={() => navigate("/")}>
          {t("denied.home")}
        </Button>
      }
    />
  );
}
