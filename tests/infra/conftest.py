"""One synthesized template for every infra test (the first synth costs ~7 s: share it)."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from humwatch.envvars import temporary_environ

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_DIR = REPO_ROOT / "cdk"
if str(CDK_DIR) not in sys.path:
    sys.path.insert(0, str(CDK_DIR))

# Context the tests deploy with: subscriptions need addresses to exist in the template.
TEST_CONTEXT: dict[str, Any] = {
    "alertEmails": ["oncall@example.org", "reliability@example.org"],
    "alertPhoneNumbers": ["+15555550100"],
    "opsEmails": ["ops@example.org"],
    "alertK": 2,
    "alertN": 4,
    "clipRetentionDays": 30,
    "noClipsAlarmMinutes": 120,
    "driftSchedule": "cron(0 5 * * ? *)",
}

# No credentials, no account, no region: synth must work offline like a fresh CI machine.
OFFLINE_ENV = {
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,
    "CDK_DEFAULT_ACCOUNT": None,
    "CDK_DEFAULT_REGION": None,
    "AWS_EC2_METADATA_DISABLED": "true",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
}


@dataclass(frozen=True)
class Synthesized:
    app: Any
    stack: Any
    template: dict[str, Any]
    assertions: Any  # aws_cdk.assertions.Template
    outdir: Path
    context: dict[str, Any]
    seconds: float

    @property
    def validation_report(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads((self.outdir / "validation-report.json").read_text())
        return report


def offline_environment() -> contextlib.AbstractContextManager[None]:
    """Synthesize as a fresh machine would; restore the caller's environment afterwards, so the
    suites that run after this one see what they expect."""
    return temporary_environ(OFFLINE_ENV)


SynthWith = Callable[..., tuple[Any, dict[str, Any]]]


@pytest.fixture(scope="session")
def synth_with() -> SynthWith:
    """Synthesize the stack with other cdk.json context: `synth_with(**context)` -> (stack,
    template). A synth takes seconds, so use it only for what the shared template cannot show."""

    def synth(outdir: str | None = None, **context: Any) -> tuple[Any, dict[str, Any]]:
        from aws_cdk import assertions
        from humwatch_cdk.application import build_app

        with offline_environment():
            _, stack = build_app(
                context={**TEST_CONTEXT, "aws:cdk:disable-asset-staging": True, **context}, outdir=outdir
            )
            return stack, assertions.Template.from_stack(stack).to_json()  # cdk-nag runs here too

    return synth


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    from aws_cdk import assertions
    from humwatch_cdk.application import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    started = time.perf_counter()
    # Asset staging off: the template is the same, and ~150 MB of layer is not copied per session.
    context = {**TEST_CONTEXT, "aws:cdk:disable-asset-staging": True}
    with offline_environment():
        app, stack = build_app(context=context, outdir=str(outdir))
        template = assertions.Template.from_stack(stack)  # runs cdk-nag: an unacknowledged error raises
    seconds = time.perf_counter() - started
    print(f"\ninfra: app built and template synthesized in {seconds:.1f} s")
    return Synthesized(app, stack, dict(template.to_json()), template, outdir, context, seconds)


@pytest.fixture(scope="session")
def template(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.template
