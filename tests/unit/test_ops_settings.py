"""Stack discovery: flags > environment > local-stack file > CloudFormation outputs."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from humwatch.errors import ConfigError, NotFound
from humwatch.ops.settings import StackSettings, match_outputs, resolve_settings

CFN_OUTPUTS = {
    "HistoryTableName": "Humwatch-HistoryTable-1ABC",
    "ClipsBucketName0F3A9C2E": "humwatch-clipsbucket-xyz",  # CDK hash suffix inside a construct
    "DevicePolicyName": "Humwatch-DevicePolicy",
    "IotDataEndpoint": "abc-ats.iot.eu-west-1.amazonaws.com",
    "AlertTopicArn": "arn:aws:sns:eu-west-1:123456789012:alerts",
    "ProvisionCommand": "humwatch provision-device ...",
}


class FakeCloudFormation:
    """Records lookups; returns fixed outputs or raises like the dal does."""

    def __init__(self, outputs: Mapping[str, str] | None = None, error: Exception | None = None) -> None:
        self.outputs = outputs or {}
        self.error = error
        self.calls: list[tuple[str, str | None, str | None]] = []

    def __call__(self, stack: str, region: str | None, endpoint_url: str | None) -> Mapping[str, str]:
        self.calls.append((stack, region, endpoint_url))
        if self.error:
            raise self.error
        return self.outputs


def resolve(
    tmp_path: Path,
    cfn: FakeCloudFormation,
    *,
    flags: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    required: tuple[str, ...] = ("table",),
    local: bool = False,
    stack: str | None = None,
) -> StackSettings:
    return resolve_settings(
        flags=flags or {},
        env=env or {},
        cwd=tmp_path,
        stack_outputs=cfn,
        required=required,
        local=local,
        stack=stack,
    )


def test_cloudformation_outputs_fill_what_flags_and_env_do_not(tmp_path: Path) -> None:
    cfn = FakeCloudFormation(CFN_OUTPUTS)
    s = resolve(tmp_path, cfn, env={"AWS_REGION": "eu-west-1"}, required=("table", "bucket", "iot_policy"))
    assert cfn.calls == [("Humwatch", "eu-west-1", None)]
    assert s.table == "Humwatch-HistoryTable-1ABC" and s.bucket == "humwatch-clipsbucket-xyz"
    assert s.iot_policy == "Humwatch-DevicePolicy"
    assert s.iot_data_endpoint == "abc-ats.iot.eu-west-1.amazonaws.com"
    assert s.sources["table"] == "stack Humwatch" and s.sources["region"] == "env AWS_REGION"


def test_flags_beat_env_beat_stack_and_stack_is_not_asked_when_complete(tmp_path: Path) -> None:
    cfn = FakeCloudFormation(CFN_OUTPUTS)
    s = resolve(
        tmp_path,
        cfn,
        flags={"table": "from-flag"},
        env={"HUMWATCH_TABLE": "from-env", "HUMWATCH_BUCKET": "env-bucket"},
    )
    assert s.table == "from-flag" and s.bucket == "env-bucket"
    assert cfn.calls == []  # only the table was required and a flag gave it
    s2 = resolve(tmp_path, cfn, env={"HUMWATCH_TABLE": "from-env"}, required=("table", "iot_policy"))
    assert s2.table == "from-env" and s2.iot_policy == "Humwatch-DevicePolicy"
    assert cfn.calls == [("Humwatch", None, None)]


def test_stack_name_from_option_or_env(tmp_path: Path) -> None:
    cfn = FakeCloudFormation(CFN_OUTPUTS)
    resolve(tmp_path, cfn, env={"HUMWATCH_STACK": "HumwatchProd"})
    resolve(tmp_path, cfn, env={"HUMWATCH_STACK": "HumwatchProd"}, stack="Other")
    assert [c[0] for c in cfn.calls] == ["HumwatchProd", "Other"]


def test_nothing_resolvable_is_a_clear_error(tmp_path: Path) -> None:
    cfn = FakeCloudFormation(error=NotFound("CloudFormation stack 'Humwatch' not found"))
    with pytest.raises(ConfigError) as err:
        resolve(tmp_path, cfn)
    message = str(err.value)
    assert message.startswith("cannot resolve the table:")
    for hint in ("--table", "HUMWATCH_TABLE", "--local", "--stack", "stack 'Humwatch' not found"):
        assert hint in message


def test_stack_without_the_needed_output_is_a_clear_error(tmp_path: Path) -> None:
    cfn = FakeCloudFormation({"HistoryTableName": "t"})
    with pytest.raises(ConfigError, match="cannot resolve the iot policy"):
        resolve(tmp_path, cfn, required=("table", "iot_policy"))


def _write_local(path: Path, **overrides: object) -> Path:
    data: dict[str, object] = {
        "format_version": 1,
        "pid": os.getpid(),
        "region": "us-east-1",
        "endpoint_url": "http://127.0.0.1:5000",
        "table": "humwatch-history",
        "bucket": "humwatch-clips",
        "iot_policy": "humwatch-device-policy",
        "mqtt_host": "127.0.0.1",
        "mqtt_port": 18883,
        "ca_file": "pki/ca.crt",
        "ca_key_file": "pki/ca.key",
        "iot_data_http_endpoint": "http://127.0.0.1:5001",
    }
    data.update(overrides)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_local_settings_file_from_default_location(tmp_path: Path) -> None:
    _write_local(tmp_path / ".humwatch" / "local-stack.json")
    cfn = FakeCloudFormation(CFN_OUTPUTS)
    s = resolve(tmp_path, cfn, local=True, required=("table", "bucket", "iot_policy"))
    assert cfn.calls == []  # local mode never asks CloudFormation
    assert (s.endpoint_url, s.table, s.iot_data_endpoint, s.mqtt_port) == (
        "http://127.0.0.1:5000",
        "humwatch-history",
        "127.0.0.1",
        18883,
    )
    # relative paths are relative to the settings file
    assert s.ca_file == str((tmp_path / ".humwatch" / "pki" / "ca.crt").resolve())
    assert s.local and s.stack is None


def test_local_settings_from_env_path_and_flags_still_win(tmp_path: Path) -> None:
    path = _write_local(tmp_path / "elsewhere.json")
    s = resolve(
        tmp_path, FakeCloudFormation(), flags={"table": "mine"}, env={"HUMWATCH_LOCAL_SETTINGS": str(path)}
    )
    assert s.local and s.table == "mine" and s.bucket == "humwatch-clips"


def test_missing_or_stale_local_settings_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no local stack settings found .*humwatch local up"):
        resolve(tmp_path, FakeCloudFormation(), local=True)
    with pytest.raises(ConfigError, match="local stack settings file not found"):
        resolve(tmp_path, FakeCloudFormation(), env={"HUMWATCH_LOCAL_SETTINGS": "nope.json"})
    stale = _write_local(tmp_path / "stale.json", pid=2**22 + 12345)
    with pytest.raises(ConfigError, match="is not running"):
        resolve(tmp_path, FakeCloudFormation(), env={"HUMWATCH_LOCAL_SETTINGS": str(stale)})
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read local stack settings"):
        resolve(tmp_path, FakeCloudFormation(), env={"HUMWATCH_LOCAL_SETTINGS": str(broken)})


def test_output_key_matching_ignores_case_separators_and_cdk_hashes() -> None:
    found = match_outputs(
        {"history_table": "a", "BUCKETNAME": "b", "IoTPolicyName12AB34CD": "c", "Unrelated": "d"}
    )
    assert found == {"table": "a", "bucket": "b", "iot_policy": "c"}


def test_the_cdk_stack_output_keys_resolve() -> None:
    # The keys cdk/humwatch_cdk/stack.py declares; the endpoint *command* is a hint, not a host.
    outputs = {
        "ClipsBucketName": "bucket",
        "HistoryTableName": "table",
        "AlertTopicArn": "arn:aws:sns:eu-west-1:123456789012:alerts",
        "OpsTopicArn": "arn:aws:sns:eu-west-1:123456789012:ops",
        "DevicePolicyName": "policy",
        "IotEndpointCommand": "aws iot describe-endpoint --endpoint-type iot:Data-ATS",
        "ProvisionDeviceCommand": "humwatch provision-device THING_NAME --stack Humwatch",
    }
    assert match_outputs(outputs) == {
        "table": "table",
        "bucket": "bucket",
        "iot_policy": "policy",
        "alert_topic_arn": "arn:aws:sns:eu-west-1:123456789012:alerts",
    }
