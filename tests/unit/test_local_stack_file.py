"""`local-stack.json`: the one typed model the local stack writes and the operator commands read.

One test per way the file can be wrong: each is a ConfigError that names the file and the problem.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from local_stack_values import stack_values

from humwatch.errors import ConfigError
from humwatch.local_stack_file import (
    STATE_FILE,
    LocalStackInfo,
    find_settings_file,
    load_running_stack,
)


def write_raw(directory: Path, document: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / STATE_FILE
    path.write_text(json.dumps(document))
    return path


def test_what_the_stack_writes_is_what_the_operator_reads(tmp_path: Path) -> None:
    # Given the info a local stack writes
    info = LocalStackInfo.model_validate(stack_values(tmp_path))
    path = info.write(tmp_path)
    # When it is read back by directory or by path
    # Then it is the same typed value, and no temporary file is left behind
    assert path == tmp_path / STATE_FILE
    assert LocalStackInfo.read(tmp_path) == info == LocalStackInfo.load(path)
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]


def test_a_missing_file_says_how_to_start_the_stack(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"settings file not found: .*\(is `humwatch local up` running\?\)"):
        LocalStackInfo.load(tmp_path / STATE_FILE)


def test_a_directory_without_a_stack_says_how_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no local stack in .*start one with `humwatch local up`"):
        LocalStackInfo.read(tmp_path)


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    # A directory where the file should be: reading it fails with an OSError other than "missing"
    (tmp_path / STATE_FILE).mkdir()
    with pytest.raises(ConfigError, match=r"cannot read local stack settings .*local-stack\.json"):
        LocalStackInfo.load(tmp_path / STATE_FILE)


def test_a_file_that_is_not_json_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / STATE_FILE
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"local-stack\.json is not valid JSON"):
        LocalStackInfo.load(path)


def test_json_that_is_not_an_object_is_a_clear_error(tmp_path: Path) -> None:
    path = write_raw(tmp_path, ["table", "humwatch-history"])
    with pytest.raises(ConfigError, match="must be a JSON object"):
        LocalStackInfo.load(path)


def test_another_format_version_says_to_restart_the_stack(tmp_path: Path) -> None:
    path = write_raw(tmp_path, stack_values(tmp_path, format_version=2))
    with pytest.raises(ConfigError, match="format_version 2, this humwatch reads 1: restart the stack"):
        LocalStackInfo.load(path)


def test_a_missing_field_is_named(tmp_path: Path) -> None:
    values = stack_values(tmp_path)
    del values["table"]
    path = write_raw(tmp_path, values)
    with pytest.raises(ConfigError, match="not a valid local stack settings file: table: Field required"):
        LocalStackInfo.load(path)


def test_an_unknown_field_is_named_not_guessed(tmp_path: Path) -> None:
    # A name from some other layout (the old reader matched "table_name" as the table) is refused
    path = write_raw(tmp_path, stack_values(tmp_path, table_name="other-table"))
    with pytest.raises(ConfigError, match="table_name: Extra inputs are not permitted"):
        LocalStackInfo.load(path)


def test_a_value_of_the_wrong_type_is_named(tmp_path: Path) -> None:
    path = write_raw(tmp_path, stack_values(tmp_path, mqtt_port="eighty"))
    with pytest.raises(ConfigError, match="mqtt_port: Input should be a valid integer"):
        LocalStackInfo.load(path)


def test_a_relative_file_path_is_refused(tmp_path: Path) -> None:
    # Operators read the file from any working directory: a relative path would point elsewhere
    path = write_raw(tmp_path, stack_values(tmp_path, ca_file="pki/ca.crt"))
    with pytest.raises(ConfigError, match="ca_file: Value error, must be an absolute path"):
        LocalStackInfo.load(path)


def test_a_file_left_by_a_stopped_stack_is_refused(tmp_path: Path) -> None:
    LocalStackInfo.model_validate(stack_values(tmp_path, pid=2**22 + 12345)).write(tmp_path)
    with pytest.raises(ConfigError, match=r"is not running \(pid 4206649\)"):
        load_running_stack(str(tmp_path / STATE_FILE), cwd=tmp_path)


def test_no_file_in_any_default_location_lists_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        find_settings_file(None, cwd=tmp_path)
    message = str(error.value)
    for place in (".humwatch/local-stack.json", "demo-output/local-stack.json", "HUMWATCH_LOCAL_SETTINGS"):
        assert place in message


def test_the_stack_directory_wins_over_the_demo_copy(tmp_path: Path) -> None:
    for directory in (tmp_path / ".humwatch", tmp_path / "demo-output"):
        directory.mkdir()
        LocalStackInfo.model_validate(stack_values(directory)).write(directory)
    assert find_settings_file(None, cwd=tmp_path) == tmp_path / ".humwatch" / STATE_FILE
