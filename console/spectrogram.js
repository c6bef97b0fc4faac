// The clip's spectrogram (canvas: 64 mel bands x frames, a perceptual colormap, Hz on the y axis,
// seconds on the x axis) and its band means over the model's normal mean ± std (SVG).

import { h, s } from "./dom.js";
import { hz } from "./format.js";

// Control points of the "magma" colormap (matplotlib, CC0), dark = quiet, bright = loud.
const MAGMA = [
  [0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122],
  [229, 80, 100], [251, 135, 97], [254, 194, 135], [252, 253, 191],
];

function color(v) {
  const x = Math.min(1, Math.max(0, v)) * (MAGMA.length - 1);
  const i = Math.min(MAGMA.length - 2, Math.floor(x));
  const f = x - i;
  return MAGMA[i].map((c, k) => Math.round(c + (MAGMA[i + 1][k] - c) * f));
}

const NICE_HZ = [50, 100, 200, 500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 16000, 20000];

/** Band position (0..n, fractional) of frequency f on the mel band edges. */
function bandPosition(edges, f) {
  if (f <= edges[0]) return 0;
  for (let i = 0; i < edges.length - 1; i++) {
    if (f <= edges[i + 1]) return i + (f - edges[i]) / (edges[i + 1] - edges[i]);
  }
  return edges.length - 1;
}

/** Frequency labels that are round numbers and do not crowd each other. */
function frequencyTicks(edges, minGapBands) {
  const ticks = [];
  for (const f of NICE_HZ) {
    if (f < edges[0] || f > edges[edges.length - 1]) continue;
    const pos = bandPosition(edges, f);
    if (!ticks.length || pos - ticks[ticks.length - 1].pos >= minGapBands) ticks.push({ f, pos });
  }
  return ticks;
}

/** Draw spectrogram `spec` (the API's object) on `canvas`. */
export function drawSpectrogram(canvas, spec) {
  const rows = spec.db.length; // n_mels, lowest band first
  const cols = rows ? spec.db[0].length : 0;
  const edges = spec.band_edges_hz || [];
  const left = 64;
  const bottom = 34;
  const top = 8;
  const right = 22; // room for the last time label
  const scale = window.devicePixelRatio || 1;
  const cssWidth = canvas.clientWidth || 640;
  const cssHeight = canvas.clientHeight || 300;
  canvas.width = Math.round(cssWidth * scale);
  canvas.height = Math.round(cssHeight * scale);
  const g = canvas.getContext("2d");
  g.setTransform(scale, 0, 0, scale, 0, 0);
  g.fillStyle = "#ffffff";
  g.fillRect(0, 0, cssWidth, cssHeight);
  if (!rows || !cols) return;

  // One pixel per (frame, band), then scaled up without smoothing.
  const image = new ImageData(cols, rows);
  const lo = Math.max(spec.min_db, spec.max_db - 80); // 80 dB of dynamic range
  const span = Math.max(1e-6, spec.max_db - lo);
  for (let band = 0; band < rows; band++) {
    const y = rows - 1 - band; // low frequencies at the bottom
    for (let frame = 0; frame < cols; frame++) {
      const [r, gg, b] = color((spec.db[band][frame] - lo) / span);
      const i = (y * cols + frame) * 4;
      image.data[i] = r;
      image.data[i + 1] = gg;
      image.data[i + 2] = b;
      image.data[i + 3] = 255;
    }
  }
  const bitmap = document.createElement("canvas");
  bitmap.width = cols;
  bitmap.height = rows;
  bitmap.getContext("2d").putImageData(image, 0, 0);
  const plotW = cssWidth - left - right;
  const plotH = cssHeight - top - bottom;
  g.imageSmoothingEnabled = false;
  g.drawImage(bitmap, left, top, plotW, plotH);

  g.fillStyle = "#1f2933";
  g.strokeStyle = "#52606d";
  g.font = "12px system-ui, sans-serif";
  g.textAlign = "right";
  g.textBaseline = "middle";
  if (edges.length === rows + 1) {
    for (const { f, pos } of frequencyTicks(edges, rows / 10)) {
      const y = top + plotH - (pos / rows) * plotH;
      g.fillText(hz(f), left - 6, y);
      g.beginPath();
      g.moveTo(left - 3, y);
      g.lineTo(left, y);
      g.stroke();
    }
  }
  g.textAlign = "center";
  g.textBaseline = "top";
  const seconds = cols * spec.frame_s;
  const step = [0.5, 1, 2, 5, 10, 20, 30, 60].find((st) => seconds / st <= 10) || 60;
  for (let t = 0; t <= seconds + 1e-9; t += step) {
    const xPos = left + (t / seconds) * plotW;
    g.fillText(`${Number(t.toFixed(1))} s`, xPos, top + plotH + 6);
  }
  g.fillText("time", left + plotW / 2, top + plotH + 20);
}

/**
 * The clip's band means (dB) over the normal mean ± std of the model's training clips. Returns an
 * SVG element; `bands` is the API's {clip, normal_mean, normal_std}.
 */
export function bandChart(bands, edges) {
  const W = 640;
  const H = 300;
  const M = { left: 52, right: 26, top: 12, bottom: 44 }; // right: room for the last Hz label
  const clip = bands.clip || [];
  const mean = bands.normal_mean;
  const std = bands.normal_std;
  const n = clip.length;
  const values = [...clip];
  if (mean && std) mean.forEach((m, i) => values.push(m - std[i], m + std[i]));
  const lo = Math.floor(Math.min(...values) / 10) * 10;
  const hi = Math.ceil(Math.max(...values) / 10) * 10;
  const x = (i) => M.left + (i / Math.max(1, n - 1)) * (W - M.left - M.right);
  const y = (v) => H - M.bottom - ((v - lo) / Math.max(1e-6, hi - lo)) * (H - M.top - M.bottom);
  const line = (arr) => arr.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");

  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`, class: "bands", role: "img", "aria-labelledby": "bands-title bands-desc",
  });
  svg.append(
    s("title", { id: "bands-title" }, "Band means: this clip against normal"),
    s("desc", { id: "bands-desc" }, mean
      ? "The clip's mean level in each of the 64 mel bands (line) over the model's normal mean ± one standard deviation (shaded band)."
      : "The clip's mean level in each of the 64 mel bands; this model has no normal reference."),
  );
  const axis = s("g", { class: "axis" });
  for (let v = lo; v <= hi; v += Math.max(10, Math.ceil((hi - lo) / 60) * 10)) {
    axis.append(
      s("line", { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: M.left - 6, y: y(v) + 4, "text-anchor": "end", class: "y-tick" }, `${v} dB`),
    );
  }
  if (edges && edges.length === n + 1) {
    for (const { f, pos } of frequencyTicks(edges, n / 8)) {
      // Band i is centred between edges i and i+1.
      const px = x(Math.max(0, Math.min(n - 1, pos - 0.5)));
      axis.append(
        s("line", { x1: px, x2: px, y1: H - M.bottom, y2: H - M.bottom + 4, class: "axis-line" }),
        s("text", { x: px, y: H - M.bottom + 17, "text-anchor": "middle", class: "x-tick" }, hz(f)),
      );
    }
  }
  axis.append(s("text", { x: (M.left + W - M.right) / 2, y: H - 6, "text-anchor": "middle", class: "axis-label" }, "mel band (frequency)"));
  svg.append(axis);
  if (mean && std) {
    const upper = mean.map((m, i) => m + std[i]);
    const lower = mean.map((m, i) => m - std[i]);
    const area = `${line(upper)} ${lower.map((v, i) => [i, v]).reverse().map(([i, v]) => `L${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ")} Z`;
    svg.append(s("path", { d: area, class: "normal-band" }), s("path", { d: line(mean), class: "normal-mean" }));
  }
  svg.append(s("path", { d: line(clip), class: "clip-line" }));
  return svg;
}

export function bandLegend(hasNormal) {
  const swatch = (cls) => h("span", { class: `swatch ${cls}`, "aria-hidden": "true" });
  return h(
    "ul",
    { class: "legend" },
    h("li", {}, swatch("sw-clip"), " this clip"),
    hasNormal ? h("li", {}, swatch("sw-normal-mean"), " normal mean") : null,
    hasNormal ? h("li", {}, swatch("sw-normal-band"), " normal ± 1 std") : null,
  );
}
