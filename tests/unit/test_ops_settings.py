"""Stack discovery: flags > environment > local-stack file > CloudFormation outputs.

The local-stack file's own errors are tested with its model (test_local_stack_file.py); here,
what the operator commands make of it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from local_stack_values import stack_values

from humwatch.contracts import StackOutput
from humwatch.errors import ConfigError, NotFound
from humwatch.local_stack_file import LocalStackInfo
from humwatch.ops.settings import StackSettings, from_outputs, resolve_settings

CFN_OUTPUTS = {
    "HistoryTableName": "Humwatch-HistoryTable-1ABC",
    "ClipsBucketName": "humwatch-clipsbucket-xyz",
    "DevicePolicyName": "Humwatch-DevicePolicy",
    "AlertTopicArn": "arn:aws:sns:eu-west-1:123456789012:alerts",
    "IotEndpointCommand": "aws iot describe-endpoint --endpoint-type iot:Data-ATS",
    "ProvisionDeviceCommand": "humwatch provision-device THING_NAME --stack Humwatch",
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
    assert s.iot_data_endpoint is None  # the endpoint command is a hint for people, not a host
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


def _write_local(directory: Path, **overrides: object) -> Path:
    """A settings file as a running local stack writes it (this process stands in for the stack)."""
    values = stack_values(directory, **overrides)
    directory.mkdir(parents=True, exist_ok=True)
    return LocalStackInfo.model_validate(values).write(directory)


def test_local_settings_file_from_default_location(tmp_path: Path) -> None:
    stack_dir = tmp_path / ".humwatch"
    _write_local(stack_dir)
    cfn = FakeCloudFormation(CFN_OUTPUTS)
    s = resolve(tmp_path, cfn, local=True, required=("table", "bucket", "iot_policy"))
    assert cfn.calls == []  # local mode never asks CloudFormation
    assert (s.endpoint_url, s.table, s.iot_data_endpoint, s.mqtt_port) == (
        "http://127.0.0.1:5000",
        "humwatch-history",
        "127.0.0.1",
        18883,
    )
    assert s.ca_file == str(stack_dir / "pki" / "ca.crt")
    assert s.ca_key_file == str(stack_dir / "pki" / "ca.key")
    assert s.alert_topic_arn == "arn:aws:sns:us-east-1:123456789012:humwatch-alerts"
    assert s.local and s.stack is None
    assert s.sources["table"] == f"local {stack_dir / 'local-stack.json'}"


def test_the_demo_copy_is_found_when_no_stack_dir_has_one(tmp_path: Path) -> None:
    _write_local(tmp_path / "demo-output", table="demo-table")
    s = resolve(tmp_path, FakeCloudFormation(), local=True)
    assert s.table == "demo-table"


def test_local_settings_from_env_path_and_flags_still_win(tmp_path: Path) -> None:
    path = _write_local(tmp_path / "elsewhere")
    s = resolve(
        tmp_path, FakeCloudFormation(), flags={"table": "mine"}, env={"HUMWATCH_LOCAL_SETTINGS": str(path)}
    )
    assert s.local and s.table == "mine" and s.bucket == "humwatch-clips"


def test_a_relative_env_path_is_relative_to_the_working_directory(tmp_path: Path) -> None:
    _write_local(tmp_path / "stack")
    s = resolve(tmp_path, FakeCloudFormation(), env={"HUMWATCH_LOCAL_SETTINGS": "stack/local-stack.json"})
    assert s.table == "humwatch-history"


def test_no_local_settings_anywhere_says_how_to_start_the_stack(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no local stack settings found .*humwatch local up"):
        resolve(tmp_path, FakeCloudFormation(), local=True)


def test_a_missing_env_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"local stack settings file not found: .*nope\.json"):
        resolve(tmp_path, FakeCloudFormation(), env={"HUMWATCH_LOCAL_SETTINGS": "nope.json"})


def test_a_file_left_by_a_stopped_stack_is_a_clear_error(tmp_path: Path) -> None:
    stale = _write_local(tmp_path / "stale", pid=2**22 + 12345)
    with pytest.raises(ConfigError, match=r"is not running \(pid 4206649\)"):
        resolve(tmp_path, FakeCloudFormation(), env={"HUMWATCH_LOCAL_SETTINGS": str(stale)})


def test_an_invalid_local_settings_file_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        resolve(tmp_path, FakeCloudFormation(), env={"HUMWATCH_LOCAL_SETTINGS": str(broken)})


def test_outputs_are_read_by_the_keys_the_cdk_app_declares() -> None:
    # Given every output the stack declares (docs/deploy.md)
    outputs = {key.value: f"value-of-{key.value}" for key in StackOutput}
    # Then exactly the five names resolve; the command outputs are hints, never values
    assert from_outputs(outputs) == {
        "table": "value-of-HistoryTableName",
        "bucket": "value-of-ClipsBucketName",
        "iot_policy": "value-of-DevicePolicyName",
        "alert_topic_arn": "value-of-AlertTopicArn",
        "train_queue_url": "value-of-TrainQueueUrl",
    }


def test_output_keys_are_not_guessed() -> None:
    # Look-alike keys from another stack are not taken for ours
    assert from_outputs({"history_table": "a", "BUCKETNAME": "b", "ClipsBucketName0F3A9C2E": "c"}) == {}
