"""Render an alert for a person: a short subject, a plain-text body, SNS message attributes.

Written for someone reading an email or SMS on the shop floor: which machine, since when, how far
above normal (score as a multiple of the threshold), how many of the recent clips (and the
evidence when that rule fired), the commands that show its history, and, when an operator console
is deployed, a link to the clip's page there. Attributes (severity, device, machine_type) let SMS
subscriptions filter to critical alerts only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from humwatch.alerts.policy import AlertDecision, AlertReason, Severity
from humwatch.contracts import format_timestamp

SUBJECT_MAX = 100  # SNS email subjects are limited to 100 characters


@dataclass(frozen=True)
class AlertMessage:
    subject: str
    body: str
    attributes: dict[str, str]


@dataclass(frozen=True)
class AlertContext:
    thing: str
    machine_type: str
    captured_at: datetime  # the clip that made the policy fire
    clip_id: str
    score: float
    threshold: float
    model_id: str
    model_version: str
    first_anomaly_at: datetime | None = None
    # The operator console's address, when one is deployed: the alert ends with the clip's page.
    console_url: str | None = None
    # What made the clip stand out, in words (humwatch.explain.describe_why), when the model says.
    why: str | None = None


_REASON_TEXT = {
    AlertReason.NEW_EPISODE: "started sounding abnormal",
    AlertReason.ESCALATION: "sounds worse than when it was last reported",
    AlertReason.REMINDER: "still sounds abnormal (not acknowledged)",
}


def render_alert(decision: AlertDecision, ctx: AlertContext) -> AlertMessage:
    level = "CRITICAL" if decision.severity is Severity.CRITICAL else "Warning"
    ratio = ctx.score / ctx.threshold if ctx.threshold > 0 else float("inf")
    # The evidence rule can fire while the newest clip is under the threshold ("0.9x threshold"
    # would read as a contradiction): say what made it fire instead.
    how = (
        f"{ratio:.1f}x threshold"
        if ratio >= 1.0 or decision.evidence <= 0
        else f"clips near the threshold, evidence {decision.evidence:.1f}"
    )
    subject = f"[humwatch] {level}: {ctx.thing} ({ctx.machine_type}) sounds abnormal, {how}"[:SUBJECT_MAX]
    since = ctx.first_anomaly_at or ctx.captured_at
    lines = [
        f"{ctx.thing} ({ctx.machine_type}) {_REASON_TEXT[decision.reason]}.",
        "",
        f"Severity:       {decision.severity.value}",
        f"Latest clip:    {format_timestamp(ctx.captured_at)} (clip {ctx.clip_id})",
        f"Abnormal since: {format_timestamp(since)}",
        f"Score:          {ratio:.1f}x the alert threshold ({ctx.score:.3g} vs {ctx.threshold:.3g})",
        *([f"Why:            {ctx.why}"] if ctx.why else []),
        f"Worst recent:   {decision.max_ratio:.1f}x the threshold",
        f"Recent clips:   {decision.anomalous_count} of the last {decision.window} clips sounded abnormal",
        *(
            [f"Evidence:       {decision.evidence:.1f} (builds up while clips score near or over threshold)"]
            if decision.evidence > 0
            else []
        ),
        f"Model:          {ctx.model_id} version {ctx.model_version}",
        "",
        "See its history:",
        f"  humwatch history --device {ctx.thing} --since 24h",
        "Mark this alert as seen (no reminders until it gets worse or starts again):",
        f"  humwatch ack {ctx.thing}",
        "Tell us whether it was right:",
        f"  humwatch label {ctx.thing} {ctx.clip_id} --as anomaly|normal",
    ]
    if ctx.console_url:
        # The page asks the reader to sign in: the link carries no token and no presigned URL.
        lines += ["", "Listen to it and compare with normal in the console:", f"  {console_link(ctx)}"]
    attributes = {
        "severity": decision.severity.value,
        "device": ctx.thing,
        "machine_type": ctx.machine_type,
        "kind": "anomaly",
    }
    return AlertMessage(subject=subject, body="\n".join(lines), attributes=attributes)


def console_link(ctx: AlertContext) -> str:
    """The clip's page in the operator console (its SPA route), or "" without a console."""
    if not ctx.console_url:
        return ""
    return f"{ctx.console_url.rstrip('/')}/#/devices/{ctx.thing}/clips/{ctx.clip_id}"


def describe_duration(seconds: float) -> str:
    """A span a person reads at a glance: `40 s`, `12 min`, `3.5 h`, `2.0 days`."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def render_notice(kind: str, thing: str, machine_type: str, summary: str, details: list[str]) -> AlertMessage:
    """Drift and silence notices: always severity `warning` (SMS filters skip them)."""
    subject = f"[humwatch] {thing} ({machine_type}): {summary}"[:SUBJECT_MAX]
    body = "\n".join(
        [
            f"{thing} ({machine_type}): {summary}.",
            "",
            *details,
            "",
            "See its history:",
            f"  humwatch history --device {thing} --since 24h",
        ]
    )
    attributes = {
        "severity": Severity.WARNING.value,
        "device": thing,
        "machine_type": machine_type,
        "kind": kind,
    }
    return AlertMessage(subject=subject, body=body, attributes=attributes)
