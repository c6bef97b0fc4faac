"""`cdk synth` through the CLI pinned in cdk/package-lock.json, offline and without credentials."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_CLI = REPO_ROOT / "cdk" / "node_modules" / ".bin" / "cdk"


@pytest.mark.slow
def test_pinned_cli_synthesizes_offline(tmp_path: Path) -> None:
    # Given the CLI installed by `make setup` (npm ci) and no AWS credentials or region at all
    lock = json.loads((REPO_ROOT / "cdk" / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/aws-cdk"]["version"]
    assert pinned.startswith("2.1"), pinned
    assert CDK_CLI.exists(), "run `make setup` (npm ci in cdk/) first"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env |= {
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    version = subprocess.run([str(CDK_CLI), "--version"], capture_output=True, text=True, env=env, check=True)
    assert version.stdout.startswith(pinned)

    # When `cdk synth` runs from the repo root, as `make synth` does
    out = tmp_path / "cdk.out"
    proc = subprocess.run(
        [str(CDK_CLI), "synth", "--quiet", "--no-notices", "--output", str(out), "-c", "alertK=2"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )

    # Then it succeeds, with the CLI's context reaching the app and cdk-nag clean
    assert proc.returncode == 0, proc.stderr[-3000:]
    template = json.loads((out / "Humwatch.template.json").read_text())
    types = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::IoT::TopicRule", "AWS::DynamoDB::Table"} <= types
    process = [
        r["Properties"]["Environment"]["Variables"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "HUMWATCH_ALERT_K" in str(r["Properties"])
    ]
    assert process and process[0]["HUMWATCH_ALERT_K"] == "2"
    report = json.loads((out / "validation-report.json").read_text())
    assert all(r["conclusion"] == "success" for r in report["pluginReports"])
