"""Leave one generator out: choose the default detector's configuration on one generator's
development machines, report it on the other generator's held-out machines.

This is what tuning on the machines we have does to machines we do not have: a choice that only
fits one rendering of the faults shows up as a drop on the other generator. The default
configuration's result on the same held-out machines stands beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def choose(development_auc: Mapping[str, float], default: str) -> str:
    """The candidate with the best pooled AUC; a tie keeps the default, then the earlier one."""
    best = max(development_auc.values())
    if development_auc.get(default) == best:
        return default
    return next(name for name, auc in development_auc.items() if auc == best)


def leave_one_generator_out(
    generators: Mapping[str, Mapping[str, Any]], default: str, names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """One row per ordered pair (tuned on A, scored on B) of generators that have candidates.

    `generators[g]["candidates"]` holds `development` and `held_out` results per candidate
    (`{"pooled": {"auc": ...}, "faults": {fault: {"auc": ...}}}`, as `summarise_generator` makes).
    """
    names = list(names or generators)
    usable = [g for g in names if "development" in generators[g].get("candidates", {})]
    rows = []
    for tuned_on in usable:
        development = generators[tuned_on]["candidates"]["development"]
        development_auc = {name: float(m["pooled"]["auc"]) for name, m in development.items()}
        chosen = choose(development_auc, default)
        for scored_on in usable:
            if scored_on == tuned_on:
                continue
            held_out = generators[scored_on]["candidates"]["held_out"]
            rows.append(
                {
                    "tuned_on": tuned_on,
                    "scored_on": scored_on,
                    "development_auc": development_auc,
                    "chosen": chosen,
                    "chosen_auc": held_out[chosen]["pooled"]["auc"],
                    "chosen_pauc": held_out[chosen]["pooled"]["pauc"],
                    "chosen_faults": {f: m["auc"] for f, m in held_out[chosen]["faults"].items()},
                    "default": default,
                    "default_auc": held_out[default]["pooled"]["auc"],
                    "default_pauc": held_out[default]["pooled"]["pauc"],
                    "default_faults": {f: m["auc"] for f, m in held_out[default]["faults"].items()},
                }
            )
    return rows
