"""eval.md: targets first, then each generator, few-shot, leave-one-generator-out, the real sets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from humwatch.research.eval_suite.plan import HEADLINE_SEVERITY, HEADLINE_SNR_DB, describe_candidate
from humwatch.research.eval_suite.targets import drifting_headline, headline


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _met(met: bool | None) -> str:
    return {True: "met", False: "**NOT met**", None: "not measured"}[met]


def _faults_of(generators: Mapping[str, Any]) -> list[str]:
    for generator in generators.values():
        for case in generator["cases"]:
            for model in case["models"].values():
                return list(model["faults"])
    return []


def _targets(results: Mapping[str, Any]) -> list[str]:
    lines = [
        "## Targets (issue 15; default detector)",
        "",
        "| target | generator | limit | this run | |",
        "|---|---|---|---|---|",
    ]
    for row in results["targets"]:
        lines.append(
            f"| {row['target']} | {row['generator'] or 'real'} | {row['limit']} | {row['value']} | "
            f"{_met(row['met'])} |"
        )
    return [*lines, ""]


def _headline(results: Mapping[str, Any], faults: Sequence[str]) -> list[str]:
    types = results["plan"]["model_types"]
    generators = results["generators"]
    lines = [
        f"## Headline: SNR {HEADLINE_SNR_DB:g} dB, severity {HEADLINE_SEVERITY:g}, "
        "each generator's held-out machines",
        "",
        "AUC/pAUC per machine, averaged over machines (anomaly = positive class); recall and FAR "
        "at the calibrated threshold, pooled. *Drifting*: the same machines with every clip at its "
        "own level (+-1.5 dB) and speed (+-1 %), drawn over the alert simulation's envelope "
        "(training clips too): what a machine sounds like over days rather than at its set point.",
        "",
        "| generator | machine | model | training clips | pooled AUC | pAUC | "
        + " | ".join(f"{f} AUC" for f in faults)
        + " | recall@thr | FAR |",
        "|---|---|---|---|---|---|" + "---|" * len(faults) + "---|---|",
    ]
    for name, generator in generators.items():
        for label, case, key in (
            ("set point", headline(generator), str(HEADLINE_SNR_DB)),
            ("drifting", drifting_headline(generator), f"{HEADLINE_SNR_DB} drift"),
        ):
            if case is None:
                continue
            far = generator["false_alarm_rate"][key]
            for t in types:
                m = case["models"][t]
                lines.append(
                    f"| {name} | {label} | {t} | {case['n_train']} | {_f(m['pooled']['auc'])} | "
                    f"{_f(m['pooled']['pauc'])} | "
                    + " | ".join(_f(m["faults"][f]["auc"]) for f in faults)
                    + f" | {_f(m['pooled'].get('recall'))} | {_f(far[t])} |"
                )
    return [*lines, ""]


def _generator_detail(
    name: str, generator: Mapping[str, Any], types: Sequence[str], faults: Sequence[str]
) -> list[str]:
    lines = [
        f"### `{name}`: held-out seeds {generator['machine_seeds']}, every case",
        "",
        "| SNR dB | drift | severity | training clips | model | pooled AUC | pAUC | "
        + " | ".join(f"{f} AUC" for f in faults)
        + " | recall@thr |",
        "|---|---|---|---|---|---|---|" + "---|" * len(faults) + "---|",
    ]
    for case in generator["cases"]:
        drift = "level +-1.5 dB, speed +-1 %" if case.get("drift") else "-"
        for t in types:
            m = case["models"][t]
            lines.append(
                f"| {case['snr_db']:g} | {drift} | {case['severity']:g} | {case['n_train']} | {t} | "
                f"{_f(m['pooled']['auc'])} | "
                f"{_f(m['pooled']['pauc'])} | "
                + " | ".join(_f(m["faults"][f]["auc"]) for f in faults)
                + f" | {_f(m['pooled'].get('recall'))} |"
            )
    lines += ["", "| case (SNR dB) | unseen normals | " + " | ".join(f"FAR {t}" for t in types) + " |"]
    lines += ["|---|---|" + "---|" * len(types)]
    for snr, by_type in generator["false_alarm_rate"].items():
        lines.append(
            f"| {snr} | {generator['n_far_normals'][snr]} | "
            + " | ".join(_f(by_type[t]) for t in types)
            + " |"
        )
    return [*lines, ""]


def _few_shot(results: Mapping[str, Any], faults: Sequence[str]) -> list[str]:
    generators = {n: g for n, g in results["generators"].items() if "few_shot" in g}
    if not generators:
        return []
    detector = results["default_detector"]
    lines = [
        f"## Few-shot: {detector} trained on the first N normal clips (SNR 0 dB, severity 0.5)",
        "",
        "The same held-out machines and test clips as the headline; fitted on the serving front "
        "end's statistics (`fit_spectral`), AUC/pAUC per machine averaged.",
        "",
        "| generator | training clips | pooled AUC | pAUC | " + " | ".join(f"{f} AUC" for f in faults) + " |",
        "|---|---|---|---|" + "---|" * len(faults),
    ]
    for name, generator in generators.items():
        for n, m in generator["few_shot"].items():
            lines.append(
                f"| {name} | {n} | {_f(m['pooled']['auc'])} | {_f(m['pooled']['pauc'])} | "
                + " | ".join(_f(m["faults"][f]["auc"]) for f in faults)
                + " |"
            )
    return [*lines, ""]


def _transfer(results: Mapping[str, Any], faults: Sequence[str]) -> list[str]:
    rows = results.get("leave_one_generator_out") or []
    generators = {n: g for n, g in results["generators"].items() if "candidates" in g}
    if not generators:
        return []
    candidates = list(next(iter(generators.values()))["candidates"]["held_out"])
    plan = results["plan"]
    lines = [
        "## Leave one generator out: the default detector's configuration chosen on one generator",
        "",
        "Candidates (`SpectralGaussOptions.config`): "
        + "; ".join(f"`{c}`: {describe_candidate(c)}" for c in candidates)
        + ". Each is fitted on the headline's training clips "
        f"({plan['development']['n_train']} on development machines); pooled AUC at SNR 0 dB, "
        "severity 0.5, averaged over machines. The configuration with the best pooled AUC on "
        "generator A's *development* seeds is scored on generator B's "
        "*held-out* seeds, beside the default.",
        "",
        "| candidate | "
        + " | ".join(
            f"{g} development {generators[g]['development_seeds']} | {g} held-out" for g in generators
        )
        + " |",
        "|---|" + "---|---|" * len(generators),
    ]
    for c in candidates:
        cells = []
        for g in generators.values():
            development = g["candidates"].get("development", {}).get(c)
            cells += [
                _f(development["pooled"]["auc"]) if development else "-",
                _f(g["candidates"]["held_out"][c]["pooled"]["auc"]),
            ]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    if rows:
        lines += [
            "",
            "| tuned on (development) | scored on (held-out) | chosen | chosen: pooled AUC | pAUC | "
            + " | ".join(f"{f}" for f in faults)
            + " | default: pooled AUC | pAUC | "
            + " | ".join(f"{f}" for f in faults)
            + " |",
            "|---|---|---|---|---|" + "---|" * len(faults) + "---|---|" + "---|" * len(faults),
        ]
        for r in rows:
            lines.append(
                f"| {r['tuned_on']} | {r['scored_on']} | `{r['chosen']}` | {_f(r['chosen_auc'])} | "
                f"{_f(r['chosen_pauc'])} | "
                + " | ".join(_f(r["chosen_faults"][f]) for f in faults)
                + f" | {_f(r['default_auc'])} | {_f(r['default_pauc'])} | "
                + " | ".join(_f(r["default_faults"][f]) for f in faults)
                + " |"
            )
    return [*lines, ""]


def _real(results: Mapping[str, Any]) -> list[str]:
    types = results["plan"]["model_types"]
    dcase, mimii = results.get("dcase"), results.get("mimii")
    if not dcase and not mimii:
        return []
    lines = [
        "## Real recordings, DCASE protocol",
        "",
        "AUC and pAUC at max FPR 0.1 with the anomaly as the positive class. pAUC (McClish) is "
        "what the DCASE Task 2 baseline's evaluator reports (`sklearn roc_auc_score(max_fpr=0.1)`, "
        "0.5 = chance); pAUC raw is the task description's definition (area over FPR <= 0.1 divided "
        "by 0.1, chance 0.05). DCASE 2020 id_00 has one anomalous clip: its score in each CV fold "
        "against that fold's held-out normals (scores as ratios to each fold's threshold). MIMII: "
        "leave one machine id out, 8 microphones = 8 clips per recording.",
        "",
        "| set | model | AUC | pAUC (McClish) | pAUC raw | FAR at thr | normal / anomalous clips |",
        "|---|---|---|---|---|---|---|",
    ]
    if dcase:
        for t in types:
            c = dcase["cross_validation"][t]
            lines.append(
                f"| DCASE 2020 id_00 ({c['folds']}-fold CV) | {t} | {_f(c['auc_anomaly_vs_heldout'])} | "
                f"{_f(c.get('pauc'))} | {_f(c.get('pauc_raw'))} | {_f(c['false_alarm_rate'])} | "
                f"{c['n_normal']} / {c['folds']} |"
            )
    for machine_type, by_type in (mimii or {}).items():
        for t in types:
            m = by_type[t]
            lines.append(
                f"| MIMII {machine_type} (all ids) | {t} | {_f(m['auc'])} | {_f(m['pauc'])} | "
                f"{_f(m['pauc_raw'])} | {_f(m['false_alarm_rate'])} | {m['n_normal']} / {m['n_anomaly']} |"
            )
            for id_name, i in m.get("ids", {}).items():
                lines.append(
                    f"| MIMII {machine_type} {id_name} | {t} | {_f(i['auc'])} | {_f(i['pauc'])} | "
                    f"{_f(i['pauc_raw'])} | - | {i['n_normal']} / {i['n_anomaly']} |"
                )
    lines.append("")
    if dcase:
        cv = dcase["cross_validation"]
        lines += [
            "### DCASE 2020 id_00 decisions at the calibrated threshold",
            "",
            "| model | CV FAR (unseen normals) | anomaly flagged (folds) | "
            "first-60 protocol: false alarms | anomaly flagged |",
            "|---|---|---|---|---|",
        ]
        for t in types:
            c, b = cv[t], dcase["first60_protocol"].get(t, {})
            lines.append(
                f"| {t} | {_f(c['false_alarm_rate'])} ({c['false_alarms']}/{c['n_normal']}) | "
                f"{c['anomaly_flagged_folds']}/{c['folds']} | "
                f"{b.get('false_alarms', '-')}/{b.get('n_normal', '-')} | {b.get('anomaly_flagged', '-')}/1 |"
            )
        lines.append("")
    return lines


def _alerts(results: Mapping[str, Any]) -> list[str]:
    alerts = results.get("alerts") or {}
    if not alerts:
        return []
    lines = ["## Alert level (from `humwatch simulate-alerts` results, default policy)", ""]
    for name, a in alerts.items():
        if a is None:
            lines.append(f"- `{name}`: no simulate-alerts results found.")
            continue
        p = a["policy"]
        lines.append(
            f"- `{name}`: {p['k']}/{p['n']} or evidence {p['evidence']:g} at target FPR {p['target_fpr']:g}; "
            f"{a['steps_within_30_min']}/{a['step_streams']} step faults (severity "
            f"{a['step_severity']}) within 30 min, {a['false_alerts']} false alerts in "
            f"{a['machine_months']:.1f} machine-months ({a['false_alerts_per_machine_month']:.2f} per "
            "machine-month); runs: " + ", ".join(f"`{r}`" for r in a["runs"])
        )
    return [*lines, ""]


def render_markdown(results: Mapping[str, Any]) -> str:
    plan = results["plan"]
    types = plan["model_types"]
    generators = results["generators"]
    faults = _faults_of(generators)
    seeds = "; ".join(
        f"`{g}` held out {p['held_out_seeds']}, development {p['development_seeds']} "
        f"({p['development_note']})"
        for g, p in plan["generators"].items()
    )
    lines = [
        "# humwatch detector evaluation",
        "",
        f"Command: `{results['command']}`; {results['seconds']:.0f} s on this machine "
        f"({plan['workers']} worker processes). Target FPR per clip {plan['target_fpr']:g}; "
        "FAR = false-alarm rate on unseen normal clips at the calibrated threshold; AUC/pAUC (FPR <= "
        "0.1, McClish) with the anomaly "
        "as the positive class. Generators (`humwatch.research.generators`): `synth`, the one the "
        "detectors were developed on, and `orders`, written independently from a physics description. "
        f"Machine seeds: {seeds}; even seeds are fans, odd seeds pumps.",
        "",
        *_targets(results),
        *_headline(results, faults),
        *_few_shot(results, faults),
        *_transfer(results, faults),
        *_real(results),
        *_alerts(results),
        "## Every synthetic case",
        "",
    ]
    for name, generator in generators.items():
        lines += _generator_detail(name, generator, types, faults)
    return "\n".join(lines)
