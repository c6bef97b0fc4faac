"""Who calls the console API: claims from API Gateway's JWT authorizer, groups in every form they
arrive in, and what each group may do."""

from __future__ import annotations

from typing import Any

import pytest

from humwatch.config import ConsoleSettings, ProcessSettings, load_settings
from humwatch.console.auth import (
    caller_from_claims,
    claims_of,
    parse_groups,
    require_operator,
    require_reader,
)
from humwatch.errors import AccessDenied, ConfigError


@pytest.mark.parametrize(
    ("claim", "groups"),
    [
        ("[operators viewers]", ("operators", "viewers")),  # an HTTP API's rendering of a list
        ("operators", ("operators",)),  # one group
        ('["viewers", "operators"]', ("viewers", "operators")),  # a JSON list
        (["operators"], ("operators",)),  # a list (a REST API or a decoded token)
        ("[viewers]", ("viewers",)),
        ("viewers,operators", ("viewers", "operators")),
        ("[]", ()),
        ("", ()),
        (None, ()),
    ],
)
def test_groups_are_read_in_every_form_the_claim_takes(claim: Any, groups: tuple[str, ...]) -> None:
    assert parse_groups(claim) == groups


def event(claims: dict[str, Any] | None) -> dict[str, Any]:
    authorizer = {"jwt": {"claims": claims, "scopes": None}} if claims is not None else {}
    return {"version": "2.0", "requestContext": {"authorizer": authorizer}}


def test_the_caller_comes_from_the_verified_claims_of_a_payload_2_event() -> None:
    # Given an id token's claims as an HTTP API passes them on
    claims = claims_of(event({"sub": "4f1c", "cognito:username": "alice", "cognito:groups": "[operators]"}))
    caller = caller_from_claims(claims)
    # Then the caller is alice, an operator who may read and write
    assert (caller.username, caller.groups) == ("alice", ("operators",))
    assert caller.can_read and caller.can_write
    # And an access token (no cognito:username) falls back to its username, then to sub
    assert caller_from_claims({"username": "bob", "sub": "x"}).username == "bob"
    assert caller_from_claims({"sub": "x"}).username == "x"


def test_an_event_without_claims_is_a_caller_with_no_group() -> None:
    caller = caller_from_claims(claims_of(event(None)))
    assert caller.groups == () and not caller.can_read
    assert caller_from_claims(claims_of({})).groups == ()


def test_viewers_read_operators_write_and_anyone_else_does_nothing() -> None:
    viewer = caller_from_claims({"sub": "v", "cognito:groups": "viewers"})
    operator = caller_from_claims({"sub": "o", "cognito:groups": "operators"})
    stranger = caller_from_claims({"sub": "s", "cognito:groups": "[admins]"})
    assert require_reader(viewer) is viewer and require_reader(operator) is operator
    assert require_operator(operator) is operator
    with pytest.raises(AccessDenied, match=r"^operators only$"):
        require_operator(viewer)
    for action in (require_reader, require_operator):
        with pytest.raises(AccessDenied, match="no console access"):
            action(stranger)


CONSOLE_ENV = {
    "HUMWATCH_BUCKET": "clips-bucket",
    "HUMWATCH_TABLE": "history",
    "HUMWATCH_CONSOLE_ORIGIN": "https://d1234.cloudfront.net",
}


def test_console_settings_need_the_origin_and_keep_audio_links_short() -> None:
    settings = load_settings(ConsoleSettings, CONSOLE_ENV)
    assert settings.audio_url_expiry_s == 300 and settings.console_origin == "https://d1234.cloudfront.net"
    with pytest.raises(ConfigError, match="HUMWATCH_CONSOLE_ORIGIN: required"):
        load_settings(ConsoleSettings, {k: v for k, v in CONSOLE_ENV.items() if "ORIGIN" not in k})
    with pytest.raises(ConfigError, match="HUMWATCH_AUDIO_URL_EXPIRY_S"):
        load_settings(ConsoleSettings, {**CONSOLE_ENV, "HUMWATCH_AUDIO_URL_EXPIRY_S": "301"})
    # An origin has no path: a URL with one would never equal a browser's Origin header
    with pytest.raises(ConfigError, match="must be an origin"):
        load_settings(ConsoleSettings, {**CONSOLE_ENV, "HUMWATCH_CONSOLE_ORIGIN": "https://x.net/app"})


def test_process_clip_reads_the_console_url_for_alert_links() -> None:
    env = {**CONSOLE_ENV, "HUMWATCH_ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:alerts"}
    assert load_settings(ProcessSettings, env).console_url is None
    linked = load_settings(ProcessSettings, {**env, "HUMWATCH_CONSOLE_URL": "https://d1234.cloudfront.net/"})
    assert linked.console_url == "https://d1234.cloudfront.net"
    with pytest.raises(ConfigError, match="HUMWATCH_CONSOLE_URL"):
        load_settings(ProcessSettings, {**env, "HUMWATCH_CONSOLE_URL": "javascript:alert(1)"})
