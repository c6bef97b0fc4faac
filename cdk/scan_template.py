"""`make scan`: cfn-lint and checkov over the synthesized CloudFormation template.

Every finding is either fixed in the CDK code or listed, with a one-line reason, in ONE exceptions
file (`cdk/scan-exceptions.yaml`). The build fails on a finding nobody listed, and on a listed
exception that no longer matches any finding (so the file never keeps a stale excuse).

    python cdk/scan_template.py cdk/cdk.out --tools .venv-scan/bin   # or a .template.json file

Both tools come from their own virtual environment (`make scan` builds it from the `scan`
dependency group in pyproject.toml): checkov pins boto3 to one exact old release, which must not
replace the project's boto3. This module only needs the standard library and PyYAML.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CDK_DIR = Path(__file__).resolve().parent
DEFAULT_EXCEPTIONS = CDK_DIR / "scan-exceptions.yaml"
ANY_RESOURCE = "*"
TEMPLATE_LEVEL = "(template)"  # a cfn-lint finding outside Resources (Outputs, Parameters, ...)
_ENTRY_KEYS = {"check", "resource", "reason"}


class ScanError(Exception):
    """The scan could not run or its configuration is wrong (not a finding: a broken scan)."""


@dataclass(frozen=True)
class Finding:
    tool: str  # "checkov" | "cfn-lint"
    check: str  # CKV_AWS_27, W3005, ...
    resource: str  # the template's logical id, or TEMPLATE_LEVEL
    message: str


@dataclass(frozen=True)
class ExceptionEntry:
    """A finding the project accepts: `check` on `resource` (a logical id, a glob, or *)."""

    check: str
    resource: str
    reason: str

    def matches(self, finding: Finding) -> bool:
        return self.check == finding.check and fnmatch.fnmatchcase(finding.resource, self.resource)


@dataclass(frozen=True)
class ScanOutcome:
    unlisted: list[Finding]
    excepted: list[tuple[Finding, ExceptionEntry]]
    stale: list[ExceptionEntry]

    @property
    def ok(self) -> bool:
        return not self.unlisted and not self.stale


# --- the exceptions file ---------------------------------------------------------------------------
def parse_exceptions(text: str, *, source: str = "exceptions") -> list[ExceptionEntry]:
    """`exceptions:` is a list of {check, resource, reason}; each reason is one non-empty line."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScanError(f"{source}: not valid YAML: {exc}") from None
    entries = (document or {}).get("exceptions") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ScanError(f"{source}: expected a top-level `exceptions:` list")
    parsed: list[ExceptionEntry] = []
    seen: set[tuple[str, str]] = set()
    for number, entry in enumerate(entries, start=1):
        where = f"{source}: entry {number}"
        if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
            keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise ScanError(f"{where}: needs exactly check, resource and reason (got {keys})")
        values = {key: entry[key] for key in _ENTRY_KEYS}
        for key, value in values.items():
            if not isinstance(value, str) or not value.strip():
                raise ScanError(f"{where}: {key} must be a non-empty string")
        if "\n" in values["reason"].strip():
            raise ScanError(f"{where}: the reason must be one line ({values['check']})")
        identity = (values["check"].strip(), values["resource"].strip())
        if identity in seen:
            raise ScanError(f"{where}: {identity[0]} on {identity[1]} is listed twice")
        seen.add(identity)
        parsed.append(ExceptionEntry(identity[0], identity[1], values["reason"].strip()))
    return parsed


def load_exceptions(path: Path) -> list[ExceptionEntry]:
    if not path.is_file():
        raise ScanError(f"exceptions file not found: {path}")
    return parse_exceptions(path.read_text(), source=str(path))


# --- the tools' JSON -------------------------------------------------------------------------------
def _json(text: str, tool: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ScanError(f"{tool} did not print JSON: {text[:300]!r}") from None


def parse_checkov(text: str) -> tuple[list[Finding], int]:
    """(failed checks, number of passed checks). checkov prints one report object, or a list of
    them when several frameworks ran; a template it could not parse is an error, not a pass."""
    document = _json(text, "checkov")
    reports = document if isinstance(document, list) else [document]
    findings: list[Finding] = []
    passed = 0
    for report in reports:
        if not isinstance(report, dict) or "results" not in report:
            raise ScanError(f"checkov: unexpected report shape: {str(report)[:200]}")
        summary = report.get("summary", {})
        if summary.get("parsing_errors"):
            raise ScanError(f"checkov could not parse the template ({summary['parsing_errors']} errors)")
        passed += int(summary.get("passed", 0))
        for failed in report["results"].get("failed_checks", []):
            # "AWS::Lambda::Function.PresignUploadFunction30AE9AB6" -> the logical id
            resource = str(failed["resource"]).rsplit(".", 1)[-1]
            findings.append(Finding("checkov", str(failed["check_id"]), resource, str(failed["check_name"])))
    return findings, passed


def parse_cfn_lint(text: str) -> list[Finding]:
    """cfn-lint's `--format json`: a list of matches, each with a rule id and a path."""
    document = _json(text or "[]", "cfn-lint")
    if not isinstance(document, list):
        raise ScanError(f"cfn-lint: expected a list of matches, got {type(document).__name__}")
    findings = []
    for match in document:
        path = match.get("Location", {}).get("Path") or []
        resource = str(path[1]) if len(path) > 1 and path[0] == "Resources" else TEMPLATE_LEVEL
        findings.append(Finding("cfn-lint", str(match["Rule"]["Id"]), resource, str(match["Message"])))
    return findings


# --- filtering -------------------------------------------------------------------------------------
def classify(findings: Iterable[Finding], exceptions: Sequence[ExceptionEntry]) -> ScanOutcome:
    """Each finding is excepted by the first entry that matches it, or unlisted; an entry that
    matches no finding at all is stale."""
    unlisted: list[Finding] = []
    excepted: list[tuple[Finding, ExceptionEntry]] = []
    used: set[ExceptionEntry] = set()
    for finding in sorted(set(findings), key=lambda f: (f.tool, f.check, f.resource, f.message)):
        entry = next((e for e in exceptions if e.matches(finding)), None)
        if entry is None:
            unlisted.append(finding)
        else:
            excepted.append((finding, entry))
            used.add(entry)
    stale = [e for e in exceptions if e not in used]
    return ScanOutcome(unlisted, excepted, stale)


def render(outcome: ScanOutcome) -> str:
    """One table: every finding with its verdict (and reason), then the stale entries."""
    rows = [(f.tool, f.check, f.resource, "FAIL", f.message) for f in outcome.unlisted]
    rows += [(f.tool, f.check, f.resource, "excepted", e.reason) for f, e in outcome.excepted]
    rows += [
        ("-", e.check, e.resource, "STALE", "listed, but no such finding: remove it") for e in outcome.stale
    ]
    header = ("TOOL", "CHECK", "RESOURCE", "VERDICT", "REASON / MESSAGE")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    lines = []
    for row in [header, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        lines.append("  ".join([*cells, str(row[4])]))
    return "\n".join(lines)


# --- running the tools -----------------------------------------------------------------------------
def _run(command: list[str], tool: str, ok_codes: set[int]) -> str:
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except FileNotFoundError:
        raise ScanError(
            f"{tool} not found at {command[0]}: run `make scan` (it installs the scanners)"
        ) from None
    if proc.returncode not in ok_codes:
        raise ScanError(f"{tool} failed with exit code {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def run_checkov(template: Path, tools: Path) -> tuple[list[Finding], int]:
    # --skip-download: offline, no guideline lookups against the vendor's API. Exit 1 = failed checks.
    command = [
        str(tools / "checkov"),
        "--file",
        str(template),
        "--framework",
        "cloudformation",
        "--output",
        "json",
        "--skip-download",
    ]
    return parse_checkov(_run(command, "checkov", {0, 1}))


def run_cfn_lint(template: Path, tools: Path) -> list[Finding]:
    # Exit status is a bit mask: 2 errors, 4 warnings, 8 informational; 1 means cfn-lint itself broke.
    command = [str(tools / "cfn-lint"), "--format", "json", "--", str(template)]
    return parse_cfn_lint(_run(command, "cfn-lint", {0, 2, 4, 6, 8, 10, 12, 14}))


def find_template(path: Path) -> Path:
    """The template itself, or the only `*.template.json` in a cdk.out folder."""
    if path.is_file():
        return path
    found = sorted(path.glob("*.template.json")) if path.is_dir() else []
    if len(found) != 1:
        what = ", ".join(f.name for f in found) or "none"
        raise ScanError(f"expected one *.template.json in {path} (found {what}): run `make synth` first")
    return found[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template", type=Path, help="cdk.out, or the synthesized template in it")
    parser.add_argument("--exceptions", type=Path, default=DEFAULT_EXCEPTIONS)
    parser.add_argument(
        "--tools", type=Path, required=True, help="folder with the checkov and cfn-lint commands"
    )
    args = parser.parse_args(argv)
    try:
        template = find_template(args.template)
        exceptions = load_exceptions(args.exceptions)
        started = time.perf_counter()
        checkov_findings, passed = run_checkov(template, args.tools)
        lint_findings = run_cfn_lint(template, args.tools)
        seconds = time.perf_counter() - started
    except ScanError as exc:
        print(f"scan: error: {exc}", file=sys.stderr)
        return 2
    outcome = classify([*checkov_findings, *lint_findings], exceptions)
    print(render(outcome))
    print(
        f"\nscan: checkov {passed} checks clean, {len(checkov_findings)} findings; "
        f"cfn-lint {len(lint_findings)} findings; {len(outcome.excepted)} excepted in "
        f"{args.exceptions.name}, {len(outcome.unlisted)} unlisted, {len(outcome.stale)} stale "
        f"({seconds:.1f} s)"
    )
    if not outcome.ok:
        print(
            f"scan: FAILED: fix each unlisted finding or list it, with a one-line reason, in "
            f"{args.exceptions}; remove stale entries",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
