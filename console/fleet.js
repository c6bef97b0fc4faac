// #/ : every device, its state and alert; refreshed every 15 s.

import { h, replace, table } from "./dom.js";
import { alertInfo, isSilent, number, ratio, silentText } from "./format.js";
import { alertBadge, deviceLink, timeAgo } from "./widgets.js";

const REFRESH_MS = 15000;

const COLUMNS = [
  { label: "Device", rowHeader: true, cell: (d) => deviceLink(d.device) },
  { label: "State", cell: (d) => d.state || "–" },
  { label: "Alert", cell: (d) => alertBadge(d) },
  { label: "Last clip", cell: (d) => timeAgo(d.last_clip_at) },
  { label: "Last ratio", class: "num", cell: (d) => h("span", { class: d.last_ratio > 1 ? "over" : null }, ratio(d.last_ratio)) },
  { label: "Recent k/n", class: "num", cell: (d) => d.recent || "–" },
  { label: "Evidence", class: "num", cell: (d) => number(d.evidence, 1) },
  { label: "Silent", cell: (d) => (isSilent(d) ? h("span", { class: "badge badge-warning" }, silentText(d)) : silentText(d)) },
  { label: "Model", cell: (d) => d.model || "–" },
];

function rowClass(d) {
  const info = alertInfo(d);
  if (info.firing) return "row-alert";
  if (info.acked) return "row-acked";
  if (isSilent(d)) return "row-silent";
  return null;
}

function summary(devices) {
  const alerting = devices.filter((d) => alertInfo(d).firing).length;
  const acked = devices.filter((d) => alertInfo(d).acked).length;
  const silent = devices.filter(isSilent).length;
  return h(
    "ul",
    { class: "stats", "aria-label": "Fleet summary" },
    h("li", {}, h("strong", {}, String(devices.length)), " devices"),
    h("li", { class: alerting ? "stat-alert" : null }, h("strong", {}, String(alerting)), " alerting"),
    h("li", {}, h("strong", {}, String(acked)), " acknowledged"),
    h("li", { class: silent ? "stat-warning" : null }, h("strong", {}, String(silent)), " silent"),
  );
}

export async function render(ctx) {
  document.title = "Fleet · humwatch";
  const body = h("div", { id: "fleet-body" }, h("p", { class: "muted" }, "Loading devices…"));
  const updated = h("span", { class: "muted", role: "status", "aria-live": "polite", id: "fleet-updated" });
  const refreshButton = h("button", { type: "button", class: "secondary" }, "Refresh");
  replace(
    ctx.main,
    h("div", { class: "page-head" }, h("h1", { tabindex: -1 }, "Fleet"), h("div", { class: "actions" }, updated, refreshButton)),
    body,
  );

  async function load() {
    try {
      const { devices } = await ctx.api.get("/devices");
      if (!ctx.isCurrent()) return;
      devices.sort((a, b) => Number(alertInfo(b).firing) - Number(alertInfo(a).firing) || a.device.localeCompare(b.device));
      replace(
        body,
        summary(devices),
        table({
          caption: "Devices (alerting first); refreshed every 15 s",
          columns: COLUMNS,
          rows: devices,
          rowClass,
          empty: "No devices are registered yet.",
        }),
      );
      replace(updated, `Updated ${new Date().toLocaleTimeString()}`);
      ctx.banner.clear();
    } catch (err) {
      ctx.fail(err);
    }
  }

  refreshButton.addEventListener("click", load);
  const timer = setInterval(load, REFRESH_MS);
  ctx.onCleanup(() => clearInterval(timer));
  await load();
}
