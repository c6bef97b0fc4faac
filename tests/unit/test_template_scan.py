"""`make scan`'s filter (cdk/scan_template.py): the tools' JSON becomes findings, the exceptions file
accepts some, and an unlisted finding or a stale exception fails the scan."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

CDK_DIR = Path(__file__).resolve().parents[2] / "cdk"
if str(CDK_DIR) not in sys.path:
    sys.path.insert(0, str(CDK_DIR))

from scan_template import (  # noqa: E402
    TEMPLATE_LEVEL,
    ExceptionEntry,
    Finding,
    ScanError,
    classify,
    find_template,
    load_exceptions,
    main,
    parse_cfn_lint,
    parse_checkov,
    parse_exceptions,
    render,
)

PRESIGN = Finding("checkov", "CKV_AWS_117", "PresignUploadFunction30AE9AB6", "Lambda inside a VPC")
PROCESS = Finding("checkov", "CKV_AWS_117", "ProcessClipFunctionDC51B4FA", "Lambda inside a VPC")
QUEUE = Finding("checkov", "CKV_AWS_27", "ProcessingClipEvents0C75BA69", "SQS encrypted")


def _checkov_report(failed: list[tuple[str, str]], passed: int = 3, parsing_errors: int = 0) -> dict:
    return {
        "check_type": "cloudformation",
        "results": {
            "failed_checks": [
                {"check_id": check, "resource": resource, "check_name": f"name of {check}"}
                for check, resource in failed
            ],
            "passed_checks": [],
        },
        "summary": {"passed": passed, "failed": len(failed), "parsing_errors": parsing_errors},
    }


def test_checkov_failed_checks_become_findings_on_logical_ids() -> None:
    report = _checkov_report(
        [("CKV_AWS_117", "AWS::Lambda::Function.PresignUploadFunction30AE9AB6")], passed=7
    )
    findings, passed = parse_checkov(json.dumps(report))
    assert findings == [
        Finding("checkov", "CKV_AWS_117", "PresignUploadFunction30AE9AB6", "name of CKV_AWS_117")
    ]
    assert passed == 7


def test_checkov_list_output_is_read_and_a_parsing_error_is_not_a_pass() -> None:
    two = [_checkov_report([("CKV_AWS_18", "AWS::S3::Bucket.Logs")]), _checkov_report([], passed=2)]
    findings, passed = parse_checkov(json.dumps(two))
    assert [f.resource for f in findings] == ["Logs"] and passed == 5
    with pytest.raises(ScanError, match="could not parse the template"):
        parse_checkov(json.dumps(_checkov_report([], parsing_errors=1)))
    with pytest.raises(ScanError, match="did not print JSON"):
        parse_checkov("Traceback (most recent call last): ...")


def test_cfn_lint_matches_name_their_resource_or_the_template() -> None:
    matches = [
        {
            "Rule": {"Id": "W3005"},
            "Message": "dependency already enforced",
            "Location": {"Path": ["Resources", "StorageBucketNotifications531571AF", "DependsOn", 1]},
        },
        {"Rule": {"Id": "W6001"}, "Message": "output", "Location": {"Path": ["Outputs", "Bucket"]}},
    ]
    findings = parse_cfn_lint(json.dumps(matches))
    assert [(f.check, f.resource) for f in findings] == [
        ("W3005", "StorageBucketNotifications531571AF"),
        ("W6001", TEMPLATE_LEVEL),
    ]
    assert parse_cfn_lint("") == [] and parse_cfn_lint("[]") == []


def test_an_exception_matches_its_check_on_a_glob_of_the_logical_id() -> None:
    presign_only = ExceptionEntry("CKV_AWS_117", "PresignUploadFunction*", "why")
    assert presign_only.matches(PRESIGN)
    assert not presign_only.matches(PROCESS)
    assert not ExceptionEntry("CKV_AWS_116", "*", "why").matches(PRESIGN)  # another check
    assert ExceptionEntry("CKV_AWS_117", "*", "why").matches(PROCESS)


def test_listed_findings_pass_and_an_unlisted_one_fails() -> None:
    exceptions = [ExceptionEntry("CKV_AWS_117", "*Function*", "no VPC needed")]
    outcome = classify([PRESIGN, PROCESS, QUEUE], exceptions)
    assert outcome.unlisted == [QUEUE]
    assert [(f, e.reason) for f, e in outcome.excepted] == [
        (PRESIGN, "no VPC needed"),
        (PROCESS, "no VPC needed"),
    ]
    assert not outcome.ok
    assert classify([PRESIGN, PROCESS], exceptions).ok


def test_an_exception_that_matches_nothing_is_stale_and_fails() -> None:
    unused = ExceptionEntry("CKV_AWS_27", "*", "fixed long ago")
    outcome = classify([PRESIGN], [ExceptionEntry("CKV_AWS_117", "*", "ok"), unused])
    assert outcome.stale == [unused] and outcome.unlisted == [] and not outcome.ok
    assert "STALE" in render(outcome) and "CKV_AWS_27" in render(outcome)


def test_the_table_shows_each_verdict_with_its_reason() -> None:
    outcome = classify([PRESIGN, QUEUE], [ExceptionEntry("CKV_AWS_117", "*", "no VPC needed")])
    lines = render(outcome).splitlines()
    assert lines[0].split() == ["TOOL", "CHECK", "RESOURCE", "VERDICT", "REASON", "/", "MESSAGE"]
    assert any("CKV_AWS_27" in line and "FAIL" in line and "SQS encrypted" in line for line in lines)
    assert any("CKV_AWS_117" in line and "excepted" in line and "no VPC needed" in line for line in lines)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("exceptions: {}", "top-level `exceptions:` list"),
        ("nothing: []", "top-level `exceptions:` list"),
        ("exceptions:\n  - check: W3005\n    resource: X", "needs exactly check, resource and reason"),
        ("exceptions:\n  - {check: W3005, resource: X, reason: ''}", "reason must be a non-empty string"),
        ("exceptions:\n  - {check: W3005, resource: X, reason: y, owner: me}", "needs exactly"),
        ('exceptions:\n  - {check: W3005, resource: X, reason: "one\\ntwo"}', "one line"),
        (
            "exceptions:\n  - {check: W3005, resource: X, reason: a}\n"
            "  - {check: W3005, resource: X, reason: b}",
            "listed twice",
        ),
        ("exceptions: [", "not valid YAML"),
    ],
)
def test_a_malformed_exceptions_file_is_refused_with_the_entry_named(text: str, message: str) -> None:
    with pytest.raises(ScanError, match=message):
        parse_exceptions(text)


def test_the_repository_exceptions_file_is_valid_and_gives_every_entry_a_reason() -> None:
    entries = load_exceptions(CDK_DIR / "scan-exceptions.yaml")
    assert entries, "the exceptions file is empty"
    assert all(len(e.reason) >= 20 for e in entries), [e for e in entries if len(e.reason) < 20]


def test_a_cdk_out_folder_resolves_to_its_only_template(tmp_path: Path) -> None:
    (tmp_path / "Humwatch.template.json").write_text("{}")
    (tmp_path / "manifest.json").write_text("{}")
    assert find_template(tmp_path) == tmp_path / "Humwatch.template.json"
    (tmp_path / "Other.template.json").write_text("{}")
    with pytest.raises(ScanError, match="expected one"):
        find_template(tmp_path)


def test_main_fails_on_an_unlisted_finding_from_the_tools(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given stand-ins for the two tools that print one checkov failure and one cfn-lint warning
    tools = tmp_path / "bin"
    tools.mkdir()
    checkov = json.dumps(_checkov_report([("CKV_AWS_27", "AWS::SQS::Queue.ClipEvents")]))
    lint = json.dumps(
        [{"Rule": {"Id": "W3005"}, "Message": "m", "Location": {"Path": ["Resources", "Fn", "DependsOn"]}}]
    )
    for name, output, code in (("checkov", checkov, 1), ("cfn-lint", lint, 4)):
        script = tools / name
        script.write_text(f"#!{sys.executable}\nimport sys\nprint({output!r})\nsys.exit({code})\n")
        script.chmod(0o755)
    template = tmp_path / "Stack.template.json"
    template.write_text("{}")
    exceptions = tmp_path / "exceptions.yaml"
    exceptions.write_text("exceptions:\n  - {check: W3005, resource: Fn, reason: generated by CDK}\n")

    # When the scan runs, Then the unlisted checkov finding fails it and the listed one is excepted
    assert main([str(template), "--exceptions", str(exceptions), "--tools", str(tools)]) == 1
    out = capsys.readouterr().out
    assert "CKV_AWS_27" in out and "FAIL" in out and "generated by CDK" in out

    # And once it is listed too, the scan passes
    exceptions.write_text(
        exceptions.read_text() + "  - {check: CKV_AWS_27, resource: ClipEvents, reason: encrypted by SSE}\n"
    )
    assert main([str(template), "--exceptions", str(exceptions), "--tools", str(tools)]) == 0
