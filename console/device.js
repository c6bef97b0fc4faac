// #/devices/{thing}: the device's state, its score timeline (zoom: all / day / week / drag), its
// recent clips and anomalies (paged with the API's `next`), and acknowledging its alert.

import { path } from "./api.js";
import { h, replace, table } from "./dom.js";
import { alertInfo, formatTime, isSilent, number, ratio, silentText } from "./format.js";
import { legend, modelChanges, timeline, toPoints } from "./timeline.js";
import { alertBadge, clipLink, timeAgo, timeCell, VIEWER_NOTE } from "./widgets.js";

const PAGE = 500;
const ANOMALY_PAGE = 50;
const MAX_PAGES = 10; // a week at the default 5-minute interval is about 2,000 clips
const LIST_ROWS = 100;
const HOUR = 3600e3;
const ZOOMS = [
  { id: "all", label: "All", span: null, title: "every clip loaded so far" },
  { id: "week", label: "Week", span: 7 * 24 * HOUR, title: "the last 7 days of data" },
  { id: "day", label: "Day", span: 24 * HOUR, title: "the last 24 hours of data" },
];

function clipColumns(thing) {
  return [
    { label: "Captured", rowHeader: true, cell: (c) => clipLink(thing, c.clip_id, formatTime(c.captured_at)) },
    { label: "Status", cell: (c) => c.status },
    { label: "Ratio", class: "num", cell: (c) => h("span", { class: c.ratio > 1 ? "over" : null }, ratio(c.ratio)) },
    { label: "Anomaly", cell: (c) => (c.is_anomaly ? h("span", { class: "badge badge-warning" }, "anomaly") : "–") },
    { label: "Label", cell: (c) => (c.label ? h("span", { class: `badge badge-label-${c.label}` }, c.label) : "–") },
    { label: "Model", cell: (c) => (c.model_id ? `${c.model_id}@${c.model_version}` : "–") },
    { label: "Note", cell: (c) => c.reason || c.label_note || "" },
  ];
}

/** The acknowledge control of a device with an open alert (shared with the clip page). */
export function ackControl(ctx, thing, row, onDone) {
  const info = alertInfo(row);
  const status = h("p", { class: "muted", role: "status", id: "ack-status" });
  if (!info.open) return h("div", { class: "ack" }, h("p", { class: "muted", id: "ack-status" }, "No open alert."));
  if (info.acked) {
    return h("div", { class: "ack" }, h("p", { id: "ack-status" }, `Alert acknowledged ${row.acked_at ? formatTime(row.acked_at) : ""}.`));
  }
  const button = h("button", {
    type: "button", class: "primary", id: "ack-button", disabled: !ctx.me.can_write,
    "aria-describedby": ctx.me.can_write ? null : "ack-viewer-note",
  }, "Acknowledge alert");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const result = await ctx.api.post(path`/devices/${thing}/ack`);
      replace(status, result.message || (result.acknowledged ? "Acknowledged." : "Nothing to acknowledge."));
      onDone(result.device);
    } catch (err) {
      button.disabled = false;
      ctx.fail(err);
    }
  });
  return h(
    "div",
    { class: "ack" },
    button,
    ctx.me.can_write ? null : h("p", { class: "muted", id: "ack-viewer-note" }, VIEWER_NOTE),
    status,
  );
}

function deviceFacts(row, model) {
  const fact = (term, value) => h("div", { class: "fact" }, h("dt", {}, term), h("dd", {}, value));
  return h(
    "dl",
    { class: "facts" },
    fact("State", row.state || "–"),
    fact("Alert", alertBadge(row)),
    fact("Last clip", timeAgo(row.last_clip_at)),
    fact("Last ratio", ratio(row.last_ratio)),
    fact("Recent k/n", row.recent || "–"),
    fact("Evidence", number(row.evidence, 1)),
    fact("Silent", isSilent(row) ? h("span", { class: "badge badge-warning" }, silentText(row)) : silentText(row)),
    fact("Model", model ? `${model.model_id}@${model.version} (threshold ${number(model.threshold, 3)})` : row.model || "–"),
    row.last_alert_at ? fact("Last alert", timeCell(row.last_alert_at)) : null,
    row.note && row.note !== "-" ? fact("Note", row.note) : null,
  );
}

export async function render(ctx) {
  const [thing] = ctx.params;
  document.title = `${thing} · humwatch`;
  const view = { zoom: "all", range: null, clips: [], next: null, anomalies: [], anomaliesNext: null, row: null };

  const heading = h("h1", { tabindex: -1 }, thing);
  const factsBox = h("section", { "aria-label": "Device status" });
  const ackBox = h("div");
  const chartBox = h("div", { class: "chart", id: "timeline-box" });
  const rangeNote = h("p", { class: "muted", role: "status", id: "timeline-range" });
  const zoomButtons = ZOOMS.map((z) => {
    const b = h("button", { type: "button", class: "toggle", "data-zoom": z.id, title: z.title, "aria-pressed": "false" }, z.label);
    b.addEventListener("click", () => setZoom(z.id));
    return b;
  });
  const olderButton = h("button", { type: "button", class: "secondary", id: "load-older" }, "Load older clips");
  olderButton.addEventListener("click", async () => {
    await loadPage();
    draw();
  });
  const clipsBox = h("div");
  const anomaliesBox = h("div");
  const moreAnomalies = h("button", { type: "button", class: "secondary", hidden: true }, "More anomalies");
  moreAnomalies.addEventListener("click", () => loadAnomalies());

  replace(
    ctx.main,
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Fleet"), " / ", thing),
    h("div", { class: "page-head" }, heading, ackBox),
    factsBox,
    h(
      "section",
      { "aria-labelledby": "timeline-heading" },
      h("h2", { id: "timeline-heading" }, "Score timeline"),
      h("div", { class: "toolbar" }, h("div", { class: "zoom", role: "group", "aria-label": "Zoom" }, zoomButtons), olderButton),
      legend(),
      chartBox,
      rangeNote,
      h("p", { class: "muted hint" }, "Drag across the chart to zoom into a time range; click a point to open the clip."),
    ),
    h("section", { "aria-labelledby": "anomalies-heading" }, h("h2", { id: "anomalies-heading" }, "Anomalies"), anomaliesBox, moreAnomalies),
    h("section", { "aria-labelledby": "clips-heading" }, h("h2", { id: "clips-heading" }, "Clips"), clipsBox),
  );

  function showDevice(row, model) {
    view.row = row;
    replace(factsBox, deviceFacts(row, model));
    replace(ackBox, ackControl(ctx, thing, row, (updated) => showDevice(updated, model)));
  }

  async function loadPage() {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (view.next) query.set("next", view.next);
    olderButton.disabled = true;
    try {
      const page = await ctx.api.get(`${path`/devices/${thing}/clips`}?${query}`);
      view.clips.push(...page.items);
      view.next = page.next;
    } finally {
      olderButton.disabled = false;
      olderButton.hidden = !view.next;
    }
  }

  async function loadAnomalies() {
    const query = new URLSearchParams({ limit: String(ANOMALY_PAGE), anomalies: "true" });
    if (view.anomaliesNext) query.set("next", view.anomaliesNext);
    try {
      const page = await ctx.api.get(`${path`/devices/${thing}/clips`}?${query}`);
      view.anomalies.push(...page.items);
      view.anomaliesNext = page.next;
      moreAnomalies.hidden = !page.next;
      replace(anomaliesBox, table({
        caption: "Clips flagged as anomalies, newest first",
        columns: clipColumns(thing),
        rows: view.anomalies,
        empty: "No anomalies.",
      }));
    } catch (err) {
      ctx.fail(err);
    }
  }

  /** The clips of the current view: all loaded, the last day/week of data, or a dragged range. */
  function visible(points) {
    if (view.range) return points.filter((p) => p.t >= view.range[0] && p.t <= view.range[1]);
    const zoom = ZOOMS.find((z) => z.id === view.zoom);
    if (!zoom.span || !points.length) return points;
    const newest = points[points.length - 1].t;
    return points.filter((p) => p.t >= newest - zoom.span);
  }

  async function setZoom(id) {
    view.zoom = id;
    view.range = null;
    const zoom = ZOOMS.find((z) => z.id === id);
    // Day and week need the data back to newest - span: fetch older pages until it is covered.
    if (zoom.span) {
      let pages = 0;
      const covered = () => {
        const points = toPoints(view.clips);
        return !points.length || points[0].t <= points[points.length - 1].t - zoom.span;
      };
      while (view.next && !covered() && pages < MAX_PAGES) {
        await loadPage();
        pages += 1;
      }
    }
    draw();
  }

  function draw() {
    const all = toPoints(view.clips);
    const points = visible(all);
    for (const b of zoomButtons) b.setAttribute("aria-pressed", String(!view.range && b.dataset.zoom === view.zoom));
    const alerts = [view.row && view.row.last_alert_at].filter(Boolean).map((t) => Date.parse(t));
    replace(
      chartBox,
      timeline({
        points,
        alerts,
        changes: modelChanges(all),
        thing,
        onZoom: (from, to) => {
          view.range = [from, to];
          draw();
        },
      }),
    );
    replace(
      rangeNote,
      points.length
        ? `${points.length} clips from ${formatTime(points[0].captured_at)} to ${formatTime(points[points.length - 1].captured_at)}` +
            (view.range ? " (dragged range: press All, Week or Day to reset)" : "")
        : "No clips in this range.",
    );
    const newestFirst = points.slice().reverse();
    replace(
      clipsBox,
      table({
        caption: "Clips in the timeline's range, newest first",
        columns: clipColumns(thing),
        rows: newestFirst.slice(0, LIST_ROWS),
        rowClass: (c) => (c.is_anomaly ? "row-alert" : c.status === "REJECTED" ? "row-silent" : null),
        empty: "No clips yet.",
      }),
      newestFirst.length > LIST_ROWS
        ? h("p", { class: "muted" }, `Showing the newest ${LIST_ROWS} of ${newestFirst.length}: zoom or drag on the timeline to narrow.`)
        : null,
    );
  }

  const detail = await ctx.api.get(path`/devices/${thing}`);
  if (!ctx.isCurrent()) return;
  showDevice(detail.device, detail.model);
  await loadPage();
  if (!ctx.isCurrent()) return;
  draw();
  await loadAnomalies();
}
