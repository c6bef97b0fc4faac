// Small pieces several pages share: the alert badge, state text, times.

import { h } from "./dom.js";
import { alertInfo, formatTime, age } from "./format.js";

export function alertBadge(row) {
  const info = alertInfo(row);
  let kind = "ok";
  if (info.firing) kind = info.severity === "critical" ? "critical" : "warning";
  else if (info.acked) kind = "acked";
  else if (info.text === "no data") kind = "none";
  return h("span", { class: `badge badge-${kind}` }, info.text);
}

export function timeAgo(iso) {
  if (!iso) return h("span", { class: "muted" }, "never");
  return h("time", { datetime: iso, title: `${formatTime(iso)} (${iso})` }, age(iso));
}

export function timeCell(iso) {
  if (!iso) return h("span", { class: "muted" }, "–");
  return h("time", { datetime: iso, title: iso }, formatTime(iso));
}

export function deviceLink(thing) {
  return h("a", { href: `#/devices/${encodeURIComponent(thing)}` }, thing);
}

export function clipLink(thing, clipId, text) {
  return h("a", { href: `#/devices/${encodeURIComponent(thing)}/clips/${encodeURIComponent(clipId)}` }, text);
}

/** The reason a write control is disabled for a viewer. */
export const VIEWER_NOTE = "Operators only: you are signed in as a viewer.";
