"""Settings from the environment: defaults, and one clear error per missing/bad variable."""

from __future__ import annotations

from datetime import timedelta

import pytest

from humwatch import contracts as c
from humwatch.alerts.policy import AlertPolicy
from humwatch.config import DriftSettings, PresignSettings, ProcessSettings, TrainSettings, load_settings
from humwatch.errors import ConfigError

TOPIC = "arn:aws:sns:eu-west-1:123456789012:humwatch-alerts"
PRESIGN_ENV = {
    "HUMWATCH_BUCKET": "b-1",
    "HUMWATCH_TABLE": "history",
    "HUMWATCH_IOT_DATA_ENDPOINT": "abc-ats.iot.x",
}
PROCESS_ENV = {
    "HUMWATCH_BUCKET": "clips-bucket",
    "HUMWATCH_TABLE": "history",
    "HUMWATCH_ALERT_TOPIC_ARN": TOPIC,
}


def test_defaults_come_from_the_pipeline_settings():
    s = load_settings(ProcessSettings, PROCESS_ENV)
    assert s.max_clip_bytes == c.PIPELINE.max_clip_bytes
    assert s.alert_policy == AlertPolicy() and (s.alert_policy.k, s.alert_policy.n) == (5, 8)
    assert s.alert_policy.evidence_threshold == 2.5
    assert s.alert_policy.cooldown == timedelta(minutes=60)
    assert s.service_name == "humwatch" and s.metrics_namespace == "Humwatch"
    p = load_settings(PresignSettings, PRESIGN_ENV)
    assert p.url_expiry_s == c.PIPELINE.url_expiry_s
    assert p.iot_data_endpoint == "https://abc-ats.iot.x"
    assert p.max_uploads_per_hour == 36  # 3x the 12 clips an hour of the default 300 s interval


def test_the_variable_names_match_the_contracts():
    fields = ProcessSettings.model_fields
    assert fields["bucket"].alias == c.ENV_BUCKET
    assert fields["table"].alias == c.ENV_TABLE
    assert fields["alert_topic_arn"].alias == c.ENV_ALERT_TOPIC_ARN
    assert PresignSettings.model_fields["iot_data_endpoint"].alias == c.ENV_IOT_DATA_ENDPOINT


def test_tunables_are_read_and_typed():
    env = dict(
        PROCESS_ENV,
        HUMWATCH_ALERT_K="2",
        HUMWATCH_ALERT_N="4",
        HUMWATCH_ALERT_COOLDOWN_MIN="15",
        HUMWATCH_CRITICAL_RATIO="3.5",
        HUMWATCH_HISTORY_TTL_DAYS="0",
    )
    s = load_settings(ProcessSettings, env)
    assert (s.alert_k, s.alert_n, s.critical_ratio, s.history_ttl_days) == (2, 4, 3.5, 0)
    assert s.alert_policy.cooldown == timedelta(minutes=15)


@pytest.mark.parametrize("missing", sorted(PROCESS_ENV))
def test_each_missing_required_variable_is_named(missing):
    env = {k: v for k, v in PROCESS_ENV.items() if k != missing}
    with pytest.raises(ConfigError, match=rf"{missing}: required but not set"):
        load_settings(ProcessSettings, env)


def test_an_empty_variable_counts_as_missing():
    with pytest.raises(ConfigError, match="HUMWATCH_TABLE: required"):
        load_settings(ProcessSettings, dict(PROCESS_ENV, HUMWATCH_TABLE=""))


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("HUMWATCH_ALERT_K", "three", "valid integer"),
        ("HUMWATCH_ALERT_K", "0", "greater than or equal to 1"),
        ("HUMWATCH_ALERT_COOLDOWN_MIN", "-5", "greater than or equal to 0"),
        ("HUMWATCH_ALERT_EVIDENCE", "-1", "greater than or equal to 0"),
        ("HUMWATCH_ALERT_EVIDENCE", "high", "valid number"),
        ("HUMWATCH_CRITICAL_RATIO", "0.5", "greater than 1"),
        ("HUMWATCH_MAX_CLIP_BYTES", "lots", "valid integer"),
        ("HUMWATCH_BUCKET", "Not_A_Bucket", "S3 bucket name"),
        ("HUMWATCH_ALERT_TOPIC_ARN", "humwatch-alerts", "SNS topic ARN"),
        ("HUMWATCH_CLIP_INTERVAL_S", "0", "greater than or equal to 1"),
    ],
)
def test_each_bad_value_is_named_with_what_was_given(variable, value, fragment):
    with pytest.raises(ConfigError) as err:
        load_settings(ProcessSettings, dict(PROCESS_ENV, **{variable: value}))
    line = next(ln for ln in err.value.message.splitlines() if variable in ln)
    assert fragment in line and repr(value) in line


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as err:
        load_settings(ProcessSettings, {"HUMWATCH_BUCKET": "ok-bucket", "HUMWATCH_ALERT_N": "x"})
    text = err.value.message
    assert "HUMWATCH_TABLE" in text and "HUMWATCH_ALERT_TOPIC_ARN" in text and "HUMWATCH_ALERT_N" in text


def test_k_greater_than_n_is_refused():
    with pytest.raises(
        ConfigError, match="HUMWATCH_ALERT_K \\(6\\) must not exceed HUMWATCH_ALERT_N \\(5\\)"
    ):
        load_settings(ProcessSettings, dict(PROCESS_ENV, HUMWATCH_ALERT_K="6", HUMWATCH_ALERT_N="5"))


def test_presigned_urls_cannot_live_longer_than_15_minutes():
    env = {"HUMWATCH_BUCKET": "b-1", "HUMWATCH_IOT_DATA_ENDPOINT": "e", "HUMWATCH_URL_EXPIRY_S": "3600"}
    with pytest.raises(ConfigError, match=r"HUMWATCH_URL_EXPIRY_S: .*900"):
        load_settings(PresignSettings, env)


def test_presign_needs_the_iot_data_endpoint():
    with pytest.raises(ConfigError, match="HUMWATCH_IOT_DATA_ENDPOINT: required"):
        load_settings(PresignSettings, {"HUMWATCH_BUCKET": "b-1"})


def test_drift_settings_read_window_and_silence():
    s = load_settings(
        DriftSettings, dict(PROCESS_ENV, HUMWATCH_DRIFT_WINDOW_H="12", HUMWATCH_CLIP_INTERVAL_S="60")
    )
    assert s.drift_window_h == 12 and s.silent_after == timedelta(minutes=3)
    assert s.notice_topic_arn == TOPIC


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("0", "greater than or equal to 1"), ("-3", "greater than or equal to 1"), ("lots", "valid integer"),
     ("2.5", "valid integer")],
)  # fmt: skip
def test_a_bad_upload_quota_is_named_with_what_was_given(value, fragment):
    with pytest.raises(ConfigError) as err:
        load_settings(PresignSettings, dict(PRESIGN_ENV, HUMWATCH_MAX_UPLOADS_PER_HOUR=value))
    (line,) = [ln for ln in err.value.message.splitlines() if "HUMWATCH_MAX_UPLOADS_PER_HOUR" in ln]
    assert fragment in line and repr(value) in line


def test_presign_needs_the_table_for_the_upload_quota():
    env = {k: v for k, v in PRESIGN_ENV.items() if k != "HUMWATCH_TABLE"}
    with pytest.raises(ConfigError, match="HUMWATCH_TABLE: required but not set"):
        load_settings(PresignSettings, env)


TRAIN_ENV = {"HUMWATCH_BUCKET": "clips-bucket", "HUMWATCH_TABLE": "history"}


def test_train_settings_name_a_missing_bucket():
    # Given train_model's environment without its bucket
    env = {k: v for k, v in TRAIN_ENV.items() if k != "HUMWATCH_BUCKET"}
    # When it loads its settings / Then the error names the variable
    with pytest.raises(ConfigError, match="HUMWATCH_BUCKET: required but not set"):
        load_settings(TrainSettings, env)


def test_train_settings_defaults_need_no_topic_and_never_auto_promote():
    # Given only the bucket and the table (train_model sends no alerts)
    s = load_settings(TrainSettings, TRAIN_ENV)
    # Then a retrain candidate waits for an operator, the gate replays 14 days, and the run's lease
    # outlives the function's timeout (a retry only takes over a dead run)
    assert s.auto_promote is False and s.replay_days == 14 and s.min_train_clips == 20
    assert s.run_lease_s > c.PIPELINE.train_model_timeout_s
    assert s.run_lease_s < c.PIPELINE.train_queue_visibility_timeout_s
    assert (s.baseline_clips, s.baseline_hours) == (288, 24.0)
    assert s.alert_policy == AlertPolicy()


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False), ("True", True)])
def test_auto_promote_parses_true_and_false(value, expected):
    s = load_settings(TrainSettings, dict(TRAIN_ENV, HUMWATCH_AUTO_PROMOTE=value))
    assert s.auto_promote is expected


def test_a_bad_auto_promote_value_is_named_with_what_was_given():
    with pytest.raises(ConfigError) as err:
        load_settings(TrainSettings, dict(TRAIN_ENV, HUMWATCH_AUTO_PROMOTE="sometimes"))
    (line,) = [ln for ln in err.value.message.splitlines() if "HUMWATCH_AUTO_PROMOTE" in ln]
    assert "valid boolean" in line and "'sometimes'" in line


def test_the_baseline_targets_are_read_by_process_clip():
    # Given a short baseline for a local stack (`humwatch local up --set ...`)
    env = dict(PROCESS_ENV, HUMWATCH_BASELINE_CLIPS="60", HUMWATCH_BASELINE_HOURS="1")
    s = load_settings(ProcessSettings, env)
    assert (s.baseline_clips, s.baseline_hours) == (60, 1.0)
    # And a baseline of fewer than 5 clips is refused
    with pytest.raises(ConfigError, match="HUMWATCH_BASELINE_CLIPS"):
        load_settings(ProcessSettings, dict(PROCESS_ENV, HUMWATCH_BASELINE_CLIPS="4"))
