// The device's score timeline (SVG): x = capture time over the span of the clips shown (fitted to
// the data, not to a requested window), y = score / threshold on a log scale with the threshold at
// 1.0. Anomalies, labels, alerts, model changes and unscored (rejected, baseline) clips are marked.
// Drag across the plot to zoom into a time range.

import { h, s } from "./dom.js";
import { formatTime, parseTime, ratio as formatRatio } from "./format.js";

const W = 960;
const H = 300;
const M = { left: 58, right: 18, top: 22, bottom: 78 };
const PLOT_BOTTOM = H - M.bottom;
const STRIP_Y = PLOT_BOTTOM + 16; // the row of clips without a score
const MIN_RATIO = 1e-3;

const MINUTE = 60e3;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const TIME_STEPS = [
  MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
  HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY,
];

/** Clips as points, oldest first (ratio null: not scored). */
export function toPoints(clips) {
  return clips
    .map((c) => ({ ...c, t: parseTime(c.captured_at) }))
    .filter((p) => p.t !== null)
    .sort((a, b) => a.t - b.t);
}

/** Where the scoring model changed between consecutive scored clips: [{t, from, to}]. */
export function modelChanges(points) {
  const changes = [];
  let previous = null;
  for (const p of points) {
    if (!p.model_version) continue;
    const current = `${p.model_id}@${p.model_version}`;
    if (previous && current !== previous) changes.push({ t: p.t, from: previous, to: current, label: p.model_version });
    previous = current;
  }
  return changes;
}

function timeTicks(lo, hi) {
  const span = hi - lo;
  const step = TIME_STEPS.find((st) => span / st <= 7) || TIME_STEPS[TIME_STEPS.length - 1];
  // Align to the step in local time (a tick at 00:00, 06:00 … reads better than 03:17).
  const offset = new Date(lo).getTimezoneOffset() * MINUTE;
  const first = Math.ceil((lo - offset) / step) * step + offset;
  const ticks = [];
  for (let t = first; t <= hi; t += step) ticks.push(t);
  return { ticks, step };
}

function tickLabel(t, step, span) {
  const d = new Date(t);
  const two = (n) => String(n).padStart(2, "0");
  const hm = `${two(d.getHours())}:${two(d.getMinutes())}`;
  const md = `${two(d.getMonth() + 1)}-${two(d.getDate())}`;
  if (step >= DAY) return md;
  if (span > DAY || (d.getHours() === 0 && d.getMinutes() === 0)) return [md, hm];
  return hm;
}

function ratioTicks(logLo, logHi) {
  const ticks = [];
  for (let k = Math.floor(logLo) - 1; k <= Math.ceil(logHi); k++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** k;
      const lv = Math.log10(v);
      if (lv >= logLo - 1e-9 && lv <= logHi + 1e-9) ticks.push(v);
    }
  }
  return ticks.length > 9 ? ticks.filter((v) => Math.abs(Math.log10(v) % 1) < 1e-9 || v === 1) : ticks;
}

function ratioText(v) {
  return v >= 1 ? `${v}x` : `${Number(v.toPrecision(1))}x`;
}

/**
 * The chart for `points` (from toPoints, already limited to the view). alerts: [ms]; changes:
 * modelChanges() of every loaded clip; onZoom(fromMs, toMs) after a drag; thing: for clip links.
 */
export function timeline({ points, alerts = [], changes = [], thing, onZoom }) {
  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "timeline",
    role: "img",
    "aria-labelledby": "timeline-title timeline-desc",
    preserveAspectRatio: "xMidYMid meet",
  });
  if (!points.length) {
    svg.append(
      s("title", { id: "timeline-title" }, "Score timeline"),
      s("desc", { id: "timeline-desc" }, "No clips in this range."),
      s("text", { x: W / 2, y: H / 2, class: "empty", "text-anchor": "middle" }, "No clips in this range"),
    );
    return svg;
  }
  let lo = points[0].t;
  let hi = points[points.length - 1].t;
  const domainLo = lo;
  const domainHi = hi;
  if (hi - lo < MINUTE) {
    lo -= 5 * MINUTE;
    hi += 5 * MINUTE;
  } else {
    const pad = (hi - lo) * 0.02; // keep the first and last point off the frame
    lo -= pad;
    hi += pad;
  }
  const scored = points.filter((p) => p.ratio !== null && p.ratio !== undefined);
  const logs = scored.map((p) => Math.log10(Math.max(p.ratio, MIN_RATIO)));
  // The threshold (1.0) is always in view, with some room either side.
  const logLo = Math.min(Math.log10(0.5), ...logs) - 0.05;
  const logHi = Math.max(Math.log10(2), ...logs) + 0.05;

  const x = (t) => M.left + ((t - lo) / (hi - lo)) * (W - M.left - M.right);
  const y = (r) => PLOT_BOTTOM - ((Math.log10(Math.max(r, MIN_RATIO)) - logLo) / (logHi - logLo)) * (PLOT_BOTTOM - M.top);

  svg.dataset.xMin = new Date(domainLo).toISOString();
  svg.dataset.xMax = new Date(domainHi).toISOString();
  svg.dataset.clips = String(points.length);
  const anomalies = scored.filter((p) => p.is_anomaly).length;
  const maxRatio = scored.length ? Math.max(...scored.map((p) => p.ratio)) : null;
  svg.append(
    s("title", { id: "timeline-title" }, `Score timeline of ${thing}`),
    s(
      "desc",
      { id: "timeline-desc" },
      `${points.length} clips from ${formatTime(svg.dataset.xMin)} to ${formatTime(svg.dataset.xMax)}; ` +
        `${anomalies} anomalies; highest ratio ${formatRatio(maxRatio)}.`,
    ),
  );

  const background = s("rect", {
    x: M.left, y: M.top, width: W - M.left - M.right, height: PLOT_BOTTOM - M.top, class: "plot-bg",
  });
  svg.append(background);

  // y axis: log ratio ticks and the threshold line.
  const yAxis = s("g", { class: "axis y-axis" });
  for (const v of ratioTicks(logLo, logHi)) {
    yAxis.append(
      s("line", { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: M.left - 6, y: y(v) + 4, "text-anchor": "end", class: "y-tick" }, ratioText(v)),
    );
  }
  yAxis.append(
    s("text", {
      x: 14, y: (M.top + PLOT_BOTTOM) / 2, transform: `rotate(-90 14 ${(M.top + PLOT_BOTTOM) / 2})`,
      "text-anchor": "middle", class: "axis-label",
    }, "score / threshold (log)"),
  );
  svg.append(yAxis);

  // x axis: nice local-time ticks inside the data's span.
  const xAxis = s("g", { class: "axis x-axis" });
  const { ticks, step } = timeTicks(lo, hi);
  for (const t of ticks) {
    const label = tickLabel(t, step, hi - lo);
    const text = s("text", { x: x(t), y: STRIP_Y + 26, "text-anchor": "middle", class: "x-tick", "data-t": t });
    if (Array.isArray(label)) {
      text.append(s("tspan", { x: x(t), dy: 0 }, label[1]), s("tspan", { x: x(t), dy: 14 }, label[0]));
    } else {
      text.append(label);
    }
    xAxis.append(s("line", { x1: x(t), x2: x(t), y1: M.top, y2: PLOT_BOTTOM, class: "grid" }), text);
  }
  xAxis.append(
    s("line", { x1: M.left, x2: W - M.right, y1: PLOT_BOTTOM, y2: PLOT_BOTTOM, class: "axis-line" }),
    s("text", { x: M.left - 6, y: STRIP_Y + 4, "text-anchor": "end", class: "y-tick" }, "no score"),
  );
  svg.append(xAxis);

  svg.append(
    s("line", { x1: M.left, x2: W - M.right, y1: y(1), y2: y(1), class: "threshold" }),
    s("text", { x: W - M.right - 4, y: y(1) - 5, "text-anchor": "end", class: "threshold-label" }, "threshold"),
  );

  for (const change of changes.filter((c) => c.t >= lo && c.t <= hi)) {
    svg.append(
      s("line", { x1: x(change.t), x2: x(change.t), y1: M.top, y2: PLOT_BOTTOM, class: "model-change" },
        s("title", {}, `model ${change.from} → ${change.to}`)),
      s("text", { x: x(change.t) + 3, y: M.top + 10, class: "model-change-label" }, `model ${change.label}`),
    );
  }
  for (const t of alerts.filter((a) => a >= lo && a <= hi)) {
    svg.append(
      s("path", { d: `M${x(t) - 6},${M.top - 12} h12 l-6,10 z`, class: "alert-mark" },
        s("title", {}, `alert sent ${formatTime(new Date(t).toISOString())}`)),
    );
  }

  const dots = s("g", { class: "points" });
  for (const p of points) {
    const scoredPoint = p.ratio !== null && p.ratio !== undefined;
    const cx = x(p.t);
    const cy = scoredPoint ? y(p.ratio) : STRIP_Y;
    const link = s("a", {
      href: `#/devices/${encodeURIComponent(thing)}/clips/${encodeURIComponent(p.clip_id)}`,
      tabindex: -1, // keyboard users get the same links in the clip table below
    });
    const what = scoredPoint
      ? `${formatRatio(p.ratio)}${p.is_anomaly ? ", anomaly" : ""}`
      : String(p.status || "not scored").toLowerCase();
    link.append(s("title", {}, `${formatTime(p.captured_at)}: ${what}${p.label ? `, labelled ${p.label}` : ""}`));
    if (p.label) {
      link.append(s("circle", { cx, cy, r: 7, class: `ring ring-${p.label}` }));
    }
    if (scoredPoint) {
      link.append(s("circle", { cx, cy, r: 3.5, class: p.is_anomaly ? "pt pt-anomaly" : "pt pt-normal" }));
    } else if (p.status === "REJECTED") {
      link.append(s("path", { d: `M${cx - 4},${cy - 4} l8,8 m0,-8 l-8,8`, class: "pt-rejected" }));
    } else {
      link.append(s("rect", { x: cx - 3, y: cy - 3, width: 6, height: 6, class: "pt-unscored" }));
    }
    dots.append(link);
  }
  svg.append(dots);

  if (onZoom) enableDragZoom(svg, background, { lo, hi, x0: M.left, x1: W - M.right }, onZoom);
  return svg;
}

function enableDragZoom(svg, surface, { lo, hi, x0, x1 }, onZoom) {
  const selection = s("rect", { y: M.top, height: PLOT_BOTTOM - M.top, width: 0, class: "selection", visibility: "hidden" });
  svg.append(selection);
  const toX = (event) => {
    const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
    return Math.min(x1, Math.max(x0, point.x));
  };
  const toT = (px) => lo + ((px - x0) / (x1 - x0)) * (hi - lo);
  let start = null;
  surface.addEventListener("pointerdown", (event) => {
    start = toX(event);
    surface.setPointerCapture(event.pointerId);
    selection.setAttribute("x", start);
    selection.setAttribute("width", 0);
    selection.setAttribute("visibility", "visible");
  });
  surface.addEventListener("pointermove", (event) => {
    if (start === null) return;
    const now = toX(event);
    selection.setAttribute("x", Math.min(start, now));
    selection.setAttribute("width", Math.abs(now - start));
  });
  const finish = (event) => {
    if (start === null) return;
    const end = toX(event);
    const from = Math.min(start, end);
    const to = Math.max(start, end);
    start = null;
    selection.setAttribute("visibility", "hidden");
    if (to - from > 6) onZoom(toT(from), toT(to));
  };
  surface.addEventListener("pointerup", finish);
  surface.addEventListener("pointercancel", () => {
    start = null;
    selection.setAttribute("visibility", "hidden");
  });
}

export function legend() {
  const item = (mark, text) => h("li", {}, mark, " ", text);
  const swatch = (cls) => h("span", { class: `swatch ${cls}`, "aria-hidden": "true" });
  return h(
    "ul",
    { class: "legend", "aria-label": "Timeline legend" },
    item(swatch("sw-normal"), "scored clip"),
    item(swatch("sw-anomaly"), "anomaly"),
    item(swatch("sw-label-normal"), "labelled normal"),
    item(swatch("sw-label-anomaly"), "labelled anomaly"),
    item(swatch("sw-rejected"), "rejected / not scored (bottom row)"),
    item(swatch("sw-model"), "model change"),
    item(swatch("sw-alert"), "alert sent"),
    item(swatch("sw-threshold"), "threshold (1.0)"),
  );
}
