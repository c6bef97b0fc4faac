"""Builds the CDK app: cdk.json context -> `DeploySettings` -> `HumwatchStack` + cdk-nag checks."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from humwatch_cdk.settings import DeploySettings
from humwatch_cdk.stack import HumwatchStack

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = REPO_ROOT / "cdk.json"


def default_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads(CDK_JSON.read_text()).get("context", {})
    return context


def build_app(
    *, context: dict[str, Any] | None = None, outdir: str | None = None
) -> tuple[cdk.App, HumwatchStack]:
    """The app with cdk-nag's AWS Solutions checks; `context` adds to/overrides cdk.json's.

    cdk.json's context is read here too, so `python cdk/app.py` and the tests see the same defaults
    as the CLI (values the CLI passes, e.g. `cdk synth -c alertK=2`, still take precedence).
    Raises `SettingsError` for a bad knob and `LayerBuildError` when the layers cannot be built.
    """
    app = cdk.App(context={**default_context(), **(context or {})}, outdir=outdir)
    settings = DeploySettings.from_context(app.node.try_get_context)
    stack = HumwatchStack(
        app,
        settings.stack_name,
        settings=settings,
        description="humwatch: machine sound anomaly detection (IoT ingest, scoring, history, alerts)",
        env=cdk.Environment(
            account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
        ),
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack
