"""The console API's resolver without AWS: the routes it serves, the one table from errors to
statuses, and that no error answer carries a trace."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from humwatch.console import routes, views
from humwatch.contracts import CONSOLE_API_ROUTES
from humwatch.errors import (
    AccessDenied,
    ConflictError,
    GateFailed,
    NotFound,
    RequestRejected,
    TransientError,
    Unauthenticated,
)
from humwatch.local.console_server import RouteMatch, build_event
from humwatch.ops.timeparse import TimeParseError


def call(
    route_key: str, *, groups: str | None = "[viewers]", body: str = "", origin: str | None = None
) -> Any:
    method, template = route_key.split(" ", 1)
    path = template.replace("{thing}", "fan-02").replace("{clip_id}", "c1")
    claims = {"sub": "u1", "cognito:username": "someone"}
    if groups is not None:
        claims["cognito:groups"] = groups
    headers = {"content-type": "application/json", **({"origin": origin} if origin else {})}
    event = build_event(
        method=method,
        raw_path=path,
        raw_query="",
        headers=headers,
        body=body.encode(),
        route=RouteMatch(route_key, {}),
        claims=claims,
        source_ip="127.0.0.1",
    )
    response = routes.app.resolve(event, NO_CONTEXT)
    return response["statusCode"], json.loads(response["body"]), response.get("headers", {})


CONSOLE = "https://d1234.cloudfront.net"
NO_CONTEXT: Any = None  # the resolver only hands it on


def fake_deps() -> Any:
    return SimpleNamespace(settings=SimpleNamespace(console_origin=CONSOLE))


@pytest.fixture(autouse=True)
def no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # No AWS here: a view that asks for its dependencies gets a ConfigError (a 500)
    for name in ("HUMWATCH_BUCKET", "HUMWATCH_TABLE", "HUMWATCH_CONSOLE_ORIGIN"):
        monkeypatch.delenv(name, raising=False)
    routes.console_deps.cache_clear()


@pytest.mark.parametrize("route_key", CONSOLE_API_ROUTES)
def test_the_resolver_serves_every_route_of_the_contract(route_key: str) -> None:
    # A caller in no group reaches each route and is turned away by it (not by "no such route")
    status, body, _ = call(route_key, groups="[admins]")
    assert status == 403 and "no console access" in body["message"]


def test_a_route_outside_the_contract_is_not_found_as_api_gateway_says_it() -> None:
    assert call("GET /devices/{thing}/secrets")[:2] == (404, {"message": "Not Found"})
    assert call("DELETE /devices/{thing}")[:2] == (404, {"message": "Not Found"})


@pytest.mark.parametrize(
    "route_key", [k for k in CONSOLE_API_ROUTES if k.startswith("POST")], ids=lambda k: k.split(" ", 1)[1]
)
def test_a_viewer_writing_is_refused_before_anything_is_read(route_key: str) -> None:
    # Whatever the body (even none, or not JSON), a viewer gets 403 "operators only"
    for body in ("", "not json", json.dumps({"label": "normal"})):
        assert call(route_key, groups="viewers", body=body)[:2] == (403, {"message": "operators only"})


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("no clip c1 for device fan-02"), 404),
        (AccessDenied("operators only"), 403),
        (Unauthenticated("expired"), 401),
        (GateFailed("candidate v2 failed its gate"), 409),
        (ConflictError("state changed"), 409),
        (RequestRejected("invalid paging token"), 400),
        (TimeParseError("cannot read 'yesterday-ish'"), 400),
    ],
)
def test_domain_errors_become_their_status_with_their_message(
    monkeypatch: pytest.MonkeyPatch, error: Exception, status: int
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(routes, "console_deps", fake_deps)
    monkeypatch.setattr(views, "devices", fail)
    assert call("GET /devices")[:2] == (status, {"message": str(error)})


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (TransientError("ProvisionedThroughputExceeded on table humwatch-history"), 503, "try again"),
        (KeyError("s3://humwatch-clips/clips/fan-02/x.flac"), 500, "internal error (logged)"),
        (RuntimeError("Traceback (most recent call last)"), 500, "internal error (logged)"),
    ],
)
def test_other_failures_say_nothing_of_the_inside(
    monkeypatch: pytest.MonkeyPatch, error: Exception, status: int, message: str
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(routes, "console_deps", fake_deps)
    monkeypatch.setattr(views, "devices", fail)
    got, body, _ = call("GET /devices")
    assert got == status and message in body["message"] and set(body) == {"message"}
    assert "humwatch-" not in body["message"] and "Traceback" not in body["message"]


def test_bad_input_is_a_400_that_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes, "console_deps", fake_deps)
    status, body, _ = call(
        "POST /devices/{thing}/clips/{clip_id}/label", groups="operators", body='{"label": "meh"}'
    )
    assert status == 400 and body["message"].startswith("invalid request: label:")
    status, body, _ = call(
        "POST /devices/{thing}/promote", groups="operators", body='{"version": "v2", "x": 1}'
    )
    assert status == 400 and "x: Extra inputs are not permitted" in body["message"]
    status, body, _ = call("POST /devices/{thing}/promote", groups="operators", body="[1]")
    assert (status, body) == (400, {"message": "the request body must be a JSON object"})


def test_me_says_who_is_signed_in_and_whether_they_may_write() -> None:
    status, body, _ = call("GET /me", groups="[operators viewers]")
    assert (status, body) == (
        200,
        {"username": "someone", "groups": ["operators", "viewers"], "can_write": True},
    )
    assert call("GET /me", groups="viewers")[1]["can_write"] is False


def test_answers_carry_cors_headers_for_the_console_origin_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes, "console_deps", fake_deps)
    # A success, an error and a 404 from the console's origin: readable by the page
    for route_key, groups in (
        ("GET /me", "viewers"),
        ("POST /devices/{thing}/ack", "viewers"),
        ("GET /x", "viewers"),
    ):
        _, _, headers = call(route_key, groups=groups, origin=CONSOLE)
        assert headers.get("Access-Control-Allow-Origin") == CONSOLE and headers.get("Vary") == "Origin"
    # From any other origin: no CORS permission
    _, _, headers = call("GET /me", origin="https://evil.example")
    assert "Access-Control-Allow-Origin" not in headers
