"""cdk.json context -> DeploySettings: defaults, list parsing, and a clear error per bad knob."""

from __future__ import annotations

import pytest
from humwatch_cdk.application import default_context
from humwatch_cdk.settings import DeploySettings, SettingsError


def test_every_knob_has_a_default_in_cdk_json() -> None:
    context = default_context()
    aliases = {field.alias for field in DeploySettings.model_fields.values()}
    assert aliases <= set(context), f"missing from cdk.json: {aliases - set(context)}"
    # And cdk.json's defaults are valid settings.
    settings = DeploySettings.parse({k: v for k, v in context.items() if k in aliases})
    assert settings.alert_k <= settings.alert_n


def test_comma_separated_cli_values_become_lists() -> None:
    settings = DeploySettings.parse({"alertEmails": "a@example.org, b@example.org", "alertPhoneNumbers": ""})
    assert settings.alert_emails == ("a@example.org", "b@example.org")
    assert settings.alert_phone_numbers == ()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"alertPhoneNumbers": ["5551234"]}, "alertPhoneNumbers: .*E.164"),
        ({"alertEmails": ["not-an-email"]}, "alertEmails: .*not an email"),
        ({"alertK": 6, "alertN": 5}, "alertK \\(6\\) must not exceed alertN \\(5\\)"),
        ({"driftSchedule": "every day"}, "driftSchedule: .*schedule expression"),
        ({"clipRetentionDays": 0}, "clipRetentionDays: .*greater than or equal to 1"),
        ({"processClipMaxConcurrency": 1}, "processClipMaxConcurrency"),
        ({"alertK": "three"}, "alertK: .*integer"),
        ({"iotLogLevel": "WARNING"}, "iotLogLevel: .*'DEBUG', 'INFO', 'WARN', 'ERROR' or 'DISABLED'"),
        ({"iotAuditFrequency": "HOURLY"}, "iotAuditFrequency: .*'DAILY', 'WEEKLY', 'BIWEEKLY' or 'MONTHLY'"),
        ({"iotAccountSettings": "maybe"}, "iotAccountSettings: .*valid boolean"),
    ],
)
def test_bad_knob_raises_an_error_naming_it(values: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        DeploySettings.parse(values)


def test_environment_carries_the_knobs_the_functions_read() -> None:
    settings = DeploySettings.parse({"alertCooldownMinutes": 15, "historyTtlDays": 7, "maxClipBytes": 1234})
    process = settings.process_environment()
    assert process["HUMWATCH_ALERT_COOLDOWN_MIN"] == "15"
    assert process["HUMWATCH_HISTORY_TTL_DAYS"] == "7"
    assert settings.presign_environment()["HUMWATCH_MAX_CLIP_BYTES"] == "1234"


RESOURCES = {
    "HUMWATCH_BUCKET": "humwatch-clips",
    "HUMWATCH_TABLE": "humwatch-history",
    "HUMWATCH_ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:alerts",
    "HUMWATCH_IOT_DATA_ENDPOINT": "https://data-ats.iot.eu-west-1.amazonaws.com",
    "HUMWATCH_CONSOLE_ORIGIN": "https://d111111abcdef8.cloudfront.net",
}


def test_functions_accept_the_environment_and_cdk_json_defaults_match_the_library() -> None:
    # Given the environment each function gets from cdk.json's defaults
    from humwatch.config import (
        ConsoleSettings,
        DriftSettings,
        PresignSettings,
        ProcessSettings,
        TrainSettings,
        load_settings,
    )
    from humwatch.contracts import FUNCTION_RUNTIME_ENV

    aliases = {field.alias for field in DeploySettings.model_fields.values()}
    settings = DeploySettings.parse({k: v for k, v in default_context().items() if k in aliases})
    for cls, environment in (
        (PresignSettings, settings.presign_environment()),
        (ProcessSettings, settings.process_environment()),
        (DriftSettings, settings.drift_environment()),
        (TrainSettings, settings.train_environment()),
        (ConsoleSettings, settings.console_environment()),
    ):
        # When humwatch.config validates it, as a cold start does
        deployed = load_settings(cls, {**RESOURCES, **environment})
        library = load_settings(cls, RESOURCES)

        # Then it is valid, every variable is one the function reads, and each value is the
        # library's own default (so `make demo` and the deployed stack behave alike)
        # (FUNCTION_RUNTIME_ENV also holds variables its libraries read, such as pydantic's)
        known = {field.alias for field in cls.model_fields.values()} | set(FUNCTION_RUNTIME_ENV)
        assert set(environment) <= known, set(environment) - known
        differing = {
            name
            for name in cls.model_fields
            if getattr(deployed, name) != getattr(library, name) and name != "default_model_id"
        }
        assert differing == set(), (cls.__name__, differing)
