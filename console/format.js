// How times, ages, ratios and frequencies read on every page.

export function parseTime(iso) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hour12: false,
});

/** Local date and time; the element's datetime (and tooltip) keeps the exact UTC instant. */
export function formatTime(iso) {
  const t = parseTime(iso);
  return t === null ? "–" : dateTime.format(new Date(t));
}

export function age(iso, now = Date.now()) {
  const t = parseTime(iso);
  if (t === null) return "never";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 48 * 3600) return `${(s / 3600).toFixed(s < 36000 ? 1 : 0)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function ratio(value) {
  if (value === null || value === undefined) return "–";
  return value >= 10 ? `${value.toFixed(0)}x` : `${value.toFixed(2)}x`;
}

export function number(value, digits = 2) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

export function hz(value) {
  if (value >= 1000) {
    const k = value / 1000;
    return `${Number.isInteger(k) ? k : k.toFixed(k < 10 ? 2 : 1).replace(/0$/, "")} kHz`;
  }
  return `${Math.round(value)} Hz`;
}

/** The alert column of a device row: "ALERT critical", "acked warning", "ok", "firing", "no data". */
export function alertInfo(row) {
  const text = String(row.alert || "no data");
  const [head, severity] = text.split(" ");
  const firing = head === "ALERT" || head === "firing";
  const acked = head === "acked";
  return { text, severity: severity || null, firing, acked, open: firing || acked };
}

/** `silent` is "no", "SILENT (why)" or "REVOKED …" in a device row (a bool in older rows). */
export function isSilent(row) {
  const value = row.silent;
  if (typeof value === "boolean") return value;
  return typeof value === "string" && value.startsWith("SILENT");
}

export function silentText(row) {
  if (typeof row.silent === "string") return row.silent;
  return row.silent ? `SILENT${row.silent_reason ? ` (${row.silent_reason})` : ""}` : "no";
}
