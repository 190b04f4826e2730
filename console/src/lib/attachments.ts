// A case attachment as the API takes it (`AttachmentBody`: a JSON body with the file base64-encoded,
// at most 5 MiB decoded; `soc_api/webapi/routes/cases.py`): the name and media type made to pass the
// service's checks, and the size checked here first so a too-large file is refused before upload.

/** The service's limit (`soc_api.alerting.cases.MAX_ATTACHMENT`). */
export const MAX_ATTACHMENT = 5 * 1024 * 1024;
const MEDIA = /^[a-z]+\/[a-z0-9.+-]{1,100}$/;

/** A plain file name: no path separators or control characters, at most 200 characters. */
export function attachmentName(name: string): string {
  // eslint-disable-next-line no-control-regex
  const plain = name.replace(/[/\\\u0000-\u001f]/g, "_").slice(0, 200);
  return plain || "attachment";
}

/** The browser's media type when the API takes it, else `application/octet-stream`. */
export function attachmentMediaType(type: string): string {
  const lower = type.toLowerCase();
  return MEDIA.test(lower) ? lower : "application/octet-stream";
}

/** The file's bytes in base64 (no `data:` prefix). */
export function base64Of(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(reader.error ?? new Error("FileReader"));
    reader.readAsDataURL(file);
  });
}
