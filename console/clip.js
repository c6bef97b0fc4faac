// #/devices/{thing}/clips/{clip_id}: listen (presigned URL), see the spectrogram beside the
// normal reference, read why it scored as it did, label it and acknowledge the device's alert.

import { path } from "./api.js";
import { h, replace } from "./dom.js";
import { formatTime, number, ratio } from "./format.js";
import { ackControl } from "./device.js";
import { bandChart, bandLegend, drawSpectrogram } from "./spectrogram.js";
import { deviceLink, VIEWER_NOTE } from "./widgets.js";

function clipFacts(clip) {
  const fact = (term, value) => h("div", { class: "fact" }, h("dt", {}, term), h("dd", {}, value));
  return h(
    "dl",
    { class: "facts", id: "clip-facts" },
    fact("Captured", h("time", { datetime: clip.captured_at, title: clip.captured_at }, formatTime(clip.captured_at))),
    fact("Status", clip.status),
    fact("Score / threshold", clip.ratio === null || clip.ratio === undefined
      ? "–"
      : h("span", { class: clip.ratio > 1 ? "over" : null }, `${ratio(clip.ratio)} (${number(clip.score, 3)} / ${number(clip.threshold, 3)})`)),
    fact("Anomaly", clip.is_anomaly ? h("span", { class: "badge badge-warning" }, "yes") : "no"),
    fact("Model", clip.model_id ? `${clip.model_id}@${clip.model_version}` : "–"),
    fact("Length", clip.duration_s ? `${number(clip.duration_s, 1)} s` : "–"),
    fact("Label", h("span", { id: "clip-label" }, clip.label
      ? [h("span", { class: `badge badge-label-${clip.label}` }, clip.label), clip.label_note ? ` “${clip.label_note}”` : ""]
      : "not labelled")),
    clip.reason ? fact("Reason", clip.reason) : null,
  );
}

function labelForm(ctx, thing, clip, onSaved) {
  const canWrite = ctx.me.can_write;
  const status = h("p", { role: "status", id: "label-status", class: "muted" });
  const radio = (value) => h(
    "label",
    { class: "choice" },
    h("input", { type: "radio", name: "label", value, id: `label-${value}`, checked: clip.label === value, required: true }),
    ` ${value}`,
  );
  const note = h("textarea", { id: "label-note", name: "note", rows: 2, maxlength: 500 }, clip.label_note || "");
  const save = h("button", { type: "submit", class: "primary", id: "label-save" }, "Save label");
  const fieldset = h(
    "fieldset",
    { disabled: !canWrite, "aria-describedby": canWrite ? null : "label-viewer-note" },
    h("legend", {}, "Label this clip"),
    h("div", { class: "choices" }, radio("normal"), radio("anomaly")),
    h("div", { class: "field" }, h("label", { for: "label-note" }, "Note (optional)"), note),
    save,
  );
  const form = h("form", { class: "card", id: "label-form" }, fieldset,
    canWrite ? null : h("p", { class: "muted", id: "label-viewer-note" }, VIEWER_NOTE), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = form.querySelector("input[name=label]:checked");
    if (!chosen) return;
    save.disabled = true;
    replace(status, "Saving…");
    try {
      const result = await ctx.api.post(path`/devices/${thing}/clips/${clip.clip_id}/label`, {
        label: chosen.value,
        note: note.value.trim() || null,
      });
      replace(status, `Saved: labelled ${result.clip.label}.`);
      onSaved(result.clip);
    } catch (err) {
      replace(status, "Not saved.");
      ctx.fail(err);
    } finally {
      save.disabled = false;
    }
  });
  return form;
}

export async function render(ctx) {
  const [thing, clipId] = ctx.params;
  document.title = `${thing} clip · humwatch`;
  const [detail, device] = await Promise.all([
    ctx.api.get(path`/devices/${thing}/clips/${clipId}`),
    ctx.api.get(path`/devices/${thing}`),
  ]);
  if (!ctx.isCurrent()) return;
  const { clip, spectrogram, bands } = detail;

  const facts = h("div", {}, clipFacts(clip));
  const audioStatus = h("p", { class: "muted", role: "status", id: "audio-status" });
  const audio = detail.audio_url
    ? h("audio", { controls: true, preload: "metadata", id: "clip-audio", src: detail.audio_url })
    : h("p", { class: "muted", id: "clip-audio-missing" }, "This clip's audio is no longer stored.");
  // The presigned URL lives 5 minutes: after that, ask the API for a fresh one.
  const refreshAudio = h("button", { type: "button", class: "secondary", hidden: true }, "Get a fresh audio link");
  refreshAudio.addEventListener("click", async () => {
    try {
      const fresh = await ctx.api.get(path`/devices/${thing}/clips/${clipId}`);
      audio.src = fresh.audio_url;
      refreshAudio.hidden = true;
      replace(audioStatus, "");
    } catch (err) {
      ctx.fail(err);
    }
  });
  audio.addEventListener("error", () => {
    if (!spectrogram) {
      // The API could not decode it either: a fresh link would not help.
      replace(audioStatus, "The browser cannot play this clip: it is not decodable audio.");
      return;
    }
    replace(audioStatus, "The audio could not be loaded (the link lasts 5 minutes).");
    refreshAudio.hidden = false;
  });
  audio.addEventListener("loadedmetadata", () => replace(audioStatus, `Loaded: ${number(audio.duration, 1)} s.`));

  const seconds = spectrogram && spectrogram.db.length ? spectrogram.db[0].length * spectrogram.frame_s : 0;
  const canvas = spectrogram
    ? h("canvas", {
      id: "spectrogram", class: "spectrogram", role: "img",
      "aria-label": `Spectrogram of the clip: ${spectrogram.n_mels} mel bands over ${number(seconds, 1)} s`,
    }, "Spectrogram (needs canvas support).")
    : h("p", { class: "muted" }, "No spectrogram: the stored object is not decodable audio.");
  const hasNormal = Boolean(bands.normal_mean && bands.normal_std);
  const edges = (spectrogram && spectrogram.band_edges_hz) || (device.model && device.model.band_edges_hz) || null;
  const deviceBox = h("div");

  replace(
    ctx.main,
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Fleet"), " / ", deviceLink(thing), " / clip"),
    h("div", { class: "page-head" }, h("h1", { tabindex: -1 }, `${thing}: clip of ${formatTime(clip.captured_at)}`), deviceBox),
    h("p", { class: "explanation", id: "explanation" }, detail.explanation),
    h("section", { "aria-labelledby": "listen-heading", class: "listen" },
      h("h2", { id: "listen-heading" }, "Listen"), audio, audioStatus, refreshAudio),
    h(
      "div",
      { class: "compare" },
      h("figure", {}, canvas, h("figcaption", {}, "Spectrogram (mel bands, dB): bright = loud")),
      bands.clip
        ? h("figure", {}, bandChart(bands, edges), bandLegend(hasNormal),
          h("figcaption", {}, hasNormal ? "Band means: this clip against the model's normal ± 1 std" : "Band means of this clip (no normal reference for this model)"))
        : h("figure", {}, h("p", { class: "muted" }, "No band means for this clip.")),
    ),
    h(
      "div",
      { class: "two-col" },
      h("section", { "aria-labelledby": "clip-facts-heading" }, h("h2", { id: "clip-facts-heading" }, "Clip"), facts),
      h("section", { "aria-labelledby": "label-heading" }, h("h2", { id: "label-heading" }, "Label"),
        labelForm(ctx, thing, clip, (saved) => replace(facts, clipFacts(saved)))),
    ),
  );

  const showDevice = (row) => replace(deviceBox, ackControl(ctx, thing, row, showDevice));
  showDevice(device.device);
  if (!spectrogram) return;
  drawSpectrogram(canvas, spectrogram);
  let width = canvas.clientWidth;
  const observer = new ResizeObserver(() => {
    if (canvas.clientWidth !== width) {
      width = canvas.clientWidth;
      drawSpectrogram(canvas, spectrogram);
    }
  });
  observer.observe(canvas);
  ctx.onCleanup(() => observer.disconnect());
}
