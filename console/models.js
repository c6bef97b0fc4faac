// #/models: the published models (live version, default, devices) and the learning loop's
// candidates with their gate verdicts; per device the full gate reports, promote and rollback.

import { ApiError, path } from "./api.js";
import { h, replace, table } from "./dom.js";
import { formatTime } from "./format.js";
import { deviceLink, timeCell, VIEWER_NOTE } from "./widgets.js";

const MODEL_COLUMNS = [
  { label: "Model", rowHeader: true, cell: (m) => m.model_id },
  { label: "Live version", cell: (m) => h("code", {}, m.version) },
  { label: "Published", cell: (m) => timeCell(m.published_at) },
  { label: "Default", cell: (m) => (m.default ? h("span", { class: "badge badge-ok" }, "default") : "–") },
  { label: "Devices", class: "num", cell: (m) => String(m.devices ?? 0) },
  { label: "SHA-256", cell: (m) => h("code", { title: m.sha256_full || "" }, m.sha256 || "") },
];

function statusBadge(status) {
  const kind = { promoted: "ok", "rolled-back": "acked", rejected: "critical", candidate: "none" }[String(status).toLowerCase()] || "none";
  return h("span", { class: `badge badge-${kind}` }, String(status).toLowerCase());
}

function gateBadge(gate) {
  return h("span", { class: `badge ${gate === "passed" ? "badge-ok" : "badge-critical"}` }, gate);
}

const CANDIDATE_COLUMNS = [
  { label: "Device", rowHeader: true, cell: (c) => deviceLink(c.device) },
  { label: "Version", cell: (c) => h("code", {}, c.version) },
  { label: "Status", cell: (c) => statusBadge(c.status) },
  { label: "Gate", cell: (c) => gateBadge(c.gate) },
  { label: "Clips", class: "num", cell: (c) => String(c.clips ?? "–") },
  { label: "Reason", cell: (c) => c.reason || "–" },
  { label: "Created", cell: (c) => timeCell(c.created) },
  { label: "Summary", cell: (c) => c.summary || "" },
];

function reportDetails(report) {
  if (!report) return h("p", { class: "muted" }, "No gate report stored for this candidate.");
  const checks = h(
    "ul",
    { class: "checks" },
    (report.checks || []).map((check) =>
      h("li", { class: check.passed ? "check-pass" : "check-fail" },
        h("strong", {}, check.passed ? "✓ " : "✗ ", check.name), `: ${check.detail}`)),
  );
  const training = report.training
    ? h("p", {}, `Trained on ${report.training.clips} clips over ${Number(report.training.span_hours).toFixed(1)} h` +
        (report.training.first_at ? ` (${formatTime(report.training.first_at)} to ${formatTime(report.training.last_at)})` : "") +
        `; threshold ${Number(report.threshold).toFixed(3)}.`)
    : null;
  const labelled = [...(report.labelled_anomalies || []).map((x) => ({ ...x, label: "anomaly" })),
    ...(report.labelled_normals || []).map((x) => ({ ...x, label: "normal" }))];
  return h(
    "div",
    { class: "report" },
    checks,
    training,
    labelled.length
      ? table({
        caption: "Labelled clips scored by this candidate",
        columns: [
          { label: "Captured", rowHeader: true, cell: (x) => timeCell(x.captured_at) },
          { label: "Label", cell: (x) => x.label },
          { label: "Ratio", class: "num", cell: (x) => (x.ratio === null ? "–" : `${Number(x.ratio).toFixed(2)}x`) },
          { label: "Verdict", cell: (x) => x.verdict },
        ],
        rows: labelled,
      })
      : null,
  );
}

function deviceCandidates(ctx, thing, box) {
  const status = h("p", { role: "status", class: "muted" });

  async function act(label, request) {
    try {
      const result = await request();
      replace(status, `${label}: ${result.candidate ? `${result.candidate.version} is now ${String(result.candidate.status).toLowerCase()}` : "done"}.`);
      await load();
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) replace(status, `${label} refused: ${err.message}`);
      else ctx.fail(err);
    }
  }

  function promoteButton(candidate) {
    const button = h("button", {
      type: "button", class: "secondary", "data-action": "promote", disabled: !ctx.me.can_write,
      title: ctx.me.can_write ? null : VIEWER_NOTE,
    }, `Promote ${candidate.version}`);
    button.addEventListener("click", async () => {
      let force = false;
      if (candidate.gate !== "passed") {
        // The API refuses a failed gate without force; say what forcing means before doing it.
        if (!window.confirm(`${candidate.version} failed its gate (${candidate.summary}). Promote it anyway?`)) return;
        force = true;
      }
      await act("Promote", () => ctx.api.post(path`/devices/${thing}/promote`, { version: candidate.version, force }));
    });
    return button;
  }

  async function load() {
    const { candidates } = await ctx.api.get(path`/devices/${thing}/candidates`);
    const rollback = h("button", {
      type: "button", class: "secondary", "data-action": "rollback", disabled: !ctx.me.can_write,
      title: ctx.me.can_write ? null : VIEWER_NOTE,
    }, "Roll back to the previous version");
    rollback.addEventListener("click", async () => {
      if (!window.confirm(`Roll ${thing} back to its previous model version?`)) return;
      await act("Rollback", () => ctx.api.post(path`/devices/${thing}/rollback`));
    });
    replace(
      box,
      h("div", { class: "toolbar" }, rollback, ctx.me.can_write ? null : h("span", { class: "muted" }, VIEWER_NOTE)),
      status,
      candidates.length ? null : h("p", { class: "muted" }, "No candidates for this device."),
      candidates.map((c) =>
        h(
          "details",
          // One waiting for a decision opens with its report; decided ones stay folded.
          { class: "candidate card", open: String(c.status).toLowerCase() === "candidate" },
          h("summary", {}, h("code", {}, c.version), " ", statusBadge(c.status), " ", gateBadge(c.gate), ` ${c.reason || ""}, ${c.clips} clips, ${formatTime(c.created)}`),
          reportDetails(c.report),
          String(c.status).toLowerCase() === "promoted" ? null : promoteButton(c),
        )),
    );
  }
  return load;
}

export async function render(ctx) {
  document.title = "Models · humwatch";
  const { models, candidates } = await ctx.api.get("/models");
  if (!ctx.isCurrent()) return;
  const devices = [...new Set(candidates.map((c) => c.device))].sort();
  const perDevice = devices.map((thing) => {
    const box = h("div", { class: "device-candidates" });
    const details = h("details", { class: "card", "data-device": thing },
      h("summary", {}, h("strong", {}, thing), ` — ${candidates.filter((c) => c.device === thing).length} candidate(s): gate reports, promote, rollback`),
      box);
    const load = deviceCandidates(ctx, thing, box);
    let loaded = false;
    details.addEventListener("toggle", () => {
      if (details.open && !loaded) {
        loaded = true;
        replace(box, h("p", { class: "muted" }, "Loading…"));
        load().catch((err) => {
          loaded = false;
          ctx.fail(err);
        });
      }
    });
    return details;
  });
  replace(
    ctx.main,
    h("h1", { tabindex: -1 }, "Models"),
    h("section", { "aria-labelledby": "published-heading" },
      h("h2", { id: "published-heading" }, "Published models"),
      table({ caption: "The live version of each model and how many devices it scores", columns: MODEL_COLUMNS, rows: models, empty: "No model is published yet." })),
    h("section", { "aria-labelledby": "candidates-heading" },
      h("h2", { id: "candidates-heading" }, "Learning loop candidates"),
      table({ caption: "Candidates trained by the learning loop, with their gate verdicts", columns: CANDIDATE_COLUMNS, rows: candidates, empty: "No candidates yet: no device has trained its own model." })),
    devices.length
      ? h("section", { "aria-labelledby": "per-device-heading" }, h("h2", { id: "per-device-heading" }, "Gate reports per device"), perDevice)
      : null,
  );
}
