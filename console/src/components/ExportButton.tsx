// 导出: the export button of the ledger and trail pages. It makes the page's request, saves the
// answer as a file (the server's name, else `filename`) and says so; a refusal shows the problem.
import { useState } from "react";
import { App, Button } from "antd";
import { ExportOutlined } from "@ant-design/icons";
import { ApiError } from "../api/client";
import { saveResponse } from "../lib/download";

type Props = {
  /** The export request (its error answers become an `ApiError`). */
  request: () => Promise<Response>;
  /** Checked before anything is sent: false stops the export (the page says why itself). */
  ready?: () => boolean;
  filename: string;
  label: string;
  busyLabel: string;
  /** The success message for the saved file's name. */
  done: (name: string) => string;
  testId: string;
};

export function ExportButton({ request, ready, filename, label, busyLabel, done, testId }: Props) {
  const { message } = App.useApp();
  const [exporting, setExporting] = useState(false);

  const run = async () => {
    if (ready && !ready()) return;
    setExporting(true);
    try {
      const response = await request();
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => undefined));
      message.success(done(await saveResponse(response, filename)));
    } catch (e) {
      message.error((e as Error).message);
    } finally {
      setExporting(false);
    }
  };

  return (
    <Button icon={<ExportOutlined />} onClick={() => void run()} loading={exporting} data-testid={testId}>
      {exporting ? busyLabel : label}
    </Button>
  );
}
