// Times in the user's time zone, with the zone shown (analysts compare with other systems' logs).
export function userTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

function parts(value: string | number | Date, zone: string, locale: string): string {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return new Intl.DateTimeFormat(locale === "zh" ? "zh-CN" : "en-GB", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  }).format(date);
}

/** `2026-12-03 20:15:07` style text in `zone` (the zone is shown once in the header and columns). */
export function formatTime(value: string | number | Date | null | undefined, locale: string, zone = userTimeZone()): string {
  if (value === null || value === undefined || value === "") return "—";
  return parts(value, zone, locale);
}

/** The short offset name of `zone` now, e.g. `GMT+8`. */
export function zoneLabel(zone = userTimeZone()): string {
  const name = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "shortOffset" })
    .formatToParts(new Date())
    .find((p) => p.type === "timeZoneName");
  return `${zone} (${name?.value ?? ""})`;
}
