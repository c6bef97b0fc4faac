"""The console as `humwatch local up` serves it: its API over HTTP on 127.0.0.1 with the local
stand-ins for Cognito and API Gateway in front of the real console_api handler, and its site.

The issue's independent checks: no token -> 401; the viewer's token acking -> 403; the
operator's -> acknowledged, and `humwatch devices --local` shows it; CORS for the console's origin
only; every route x no token / viewer / operator."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from console_seed import ALERTING, ConsoleFleet, seed_console_fleet
from ops_seed import reset_moto_data, run

from humwatch import contracts as c
from humwatch.dal import aws
from humwatch.dal.history import HistoryTable
from humwatch.local.settings import LocalStackOptions
from humwatch.local.stack import LocalStack
from humwatch.local_stack_file import LocalStackInfo

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Running:
    stack: LocalStack
    info: LocalStackInfo  # as local-stack.json has it
    env: dict[str, str]  # points the CLI at that file
    fleet: ConsoleFleet


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str) -> Iterator[Running]:
    workdir = tmp_path_factory.mktemp("console") / ".humwatch"
    stack = LocalStack(LocalStackOptions.build(workdir=workdir, drift_interval_s=0, batch_window_s=0.2))
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            patch.setenv(name, "testing")
        stack.start()
        try:
            info = LocalStackInfo.read(workdir)
            fleet = seed_console_fleet(
                HistoryTable(info.table), aws.client("s3"), info.bucket, workdir.parent, now=NOW
            )
            yield Running(stack, info, {"HUMWATCH_LOCAL_SETTINGS": str(workdir / "local-stack.json")}, fleet)
        finally:
            stack.stop()
            reset_moto_data(moto_endpoint)


def http(
    url: str,
    *,
    method: str = "GET",
    token: str | None = None,
    body: Any | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        url, method=method, data=json.dumps(body).encode() if body is not None else None
    )
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def api(running: Running, route_key: str, *, user: str | None, body: Any | None = None) -> tuple[int, Any]:
    method, template = route_key.split(" ", 1)
    path = template.replace("{thing}", ALERTING).replace("{clip_id}", running.fleet.alert_clip.clip_id)
    token = running.info.console_tokens[user] if user else None
    status, _, raw = http(running.info.console_api_url + path, method=method, token=token, body=body)  # type: ignore[operator]
    return status, json.loads(raw)


def test_local_stack_json_names_the_console_and_its_sign_in(running: Running) -> None:
    info = running.info
    assert info.console_url and info.console_api_url and info.console_url != info.console_api_url
    assert set(info.console_tokens) == set(info.console_users) == {"viewer", "operator"}
    # Signing in with the file's password gives a token the API takes
    status, _, raw = http(
        f"{info.console_api_url}/local-auth/token",
        method="POST",
        body={"username": "operator", "password": info.console_users["operator"]},
    )
    answer = json.loads(raw)
    assert status == 200 and answer["expires_in"] == 3600
    assert api_with(running, "GET /me", answer["id_token"]) == (
        200,
        {"username": "operator", "groups": ["operators"], "can_write": True},
    )
    # A wrong password gets no token
    status, _, _ = http(
        f"{info.console_api_url}/local-auth/token",
        method="POST",
        body={"username": "operator", "password": "x"},
    )
    assert status == 401


def api_with(running: Running, route_key: str, token: str) -> tuple[int, Any]:
    status, _, raw = http(running.info.console_api_url + route_key.split(" ", 1)[1], token=token)  # type: ignore[operator]
    return status, json.loads(raw)


def test_without_a_valid_token_the_api_says_401(running: Running) -> None:
    assert api(running, "GET /devices", user=None) == (401, {"message": "Unauthorized"})
    console = running.stack.console
    assert console is not None
    expired = console.tokens.issue("operator", ["operators"], now=time.time() - 7200)
    for token in ("not-a-jwt", expired):
        assert api_with(running, "GET /devices", token) == (401, {"message": "Unauthorized"})


def test_the_viewer_cannot_ack_the_operator_can_and_the_cli_sees_it(running: Running) -> None:
    assert api(running, "POST /devices/{thing}/ack", user="viewer") == (403, {"message": "operators only"})
    status, body = api(running, "POST /devices/{thing}/ack", user="operator")
    assert status == 200 and body["acknowledged"] is True
    # `humwatch devices --local` (the CLI reading local-stack.json) shows the acknowledgement
    result = run(["devices", "--local", "--format", "json"], env=running.env, isolate=False)
    assert result.exit_code == 0, result.output
    rows = {row["device"]: row for row in json.loads(result.stdout)}
    assert rows[ALERTING]["alert"] == "acked warning" and rows[ALERTING]["acked_at"]


def test_cors_allows_the_console_origin_only(running: Running) -> None:
    info = running.info
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    status, headers, _ = http(
        f"{info.console_api_url}/devices/{ALERTING}/ack",
        method="OPTIONS",
        headers={**preflight, "Origin": info.console_url},  # type: ignore[dict-item]
    )
    assert status == 204 and headers["Access-Control-Allow-Origin"] == info.console_url
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "authorization" in headers["Access-Control-Allow-Headers"].lower()
    status, headers, _ = http(
        f"{info.console_api_url}/devices/{ALERTING}/ack",
        method="OPTIONS",
        headers={**preflight, "Origin": "https://evil.example"},
    )
    assert "Access-Control-Allow-Origin" not in headers
    # Actual answers too: the console's origin may read them, another origin may not
    token = info.console_tokens["viewer"]
    _, mine, _ = http(f"{info.console_api_url}/devices", token=token, headers={"Origin": info.console_url})  # type: ignore[dict-item]
    _, theirs, _ = http(
        f"{info.console_api_url}/devices", token=token, headers={"Origin": "https://evil.example"}
    )
    assert (
        mine["Access-Control-Allow-Origin"] == info.console_url
        and "Access-Control-Allow-Origin" not in theirs
    )


WRITE_BODIES: dict[str, Any] = {
    "POST /devices/{thing}/clips/{clip_id}/label": {"label": "anomaly", "note": "bearing"},
    "POST /devices/{thing}/promote": {"version": "v3"},
}


@pytest.mark.parametrize("route_key", c.CONSOLE_API_ROUTES)
def test_every_route_for_no_token_viewer_and_operator(running: Running, route_key: str) -> None:
    body = WRITE_BODIES.get(route_key)
    writes = route_key.startswith("POST")
    assert api(running, route_key, user=None, body=body) == (401, {"message": "Unauthorized"})
    status, answer = api(running, route_key, user="viewer", body=body)
    assert (status, answer) == ((403, {"message": "operators only"}) if writes else (200, answer))
    status, answer = api(running, route_key, user="operator", body=body)
    assert status == 200, answer


def test_the_site_is_served_with_its_config_and_strict_headers(running: Running) -> None:
    info = running.info
    status, headers, _ = http(f"{info.console_url}/")
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert f"connect-src 'self' {info.console_api_url}" in csp and f"media-src {info.endpoint_url}" in csp
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    status, _, raw = http(f"{info.console_url}/config.json")
    config = json.loads(raw)
    assert config == {
        "apiUrl": info.console_api_url,
        "auth": {"type": "local", "tokenUrl": f"{info.console_api_url}/local-auth/token"},
    }
    # Nothing outside the site folder
    for path in ("/../pyproject.toml", "/%2e%2e/pyproject.toml", "/.git/config"):
        assert http(f"{info.console_url}{path}")[0] == 404


def test_audio_comes_from_the_origin_the_csp_allows(running: Running) -> None:
    status, clip = api(running, "GET /devices/{thing}/clips/{clip_id}", user="viewer")
    assert status == 200 and clip["audio_url"].startswith(running.info.endpoint_url + "/")
    status, _, audio = http(clip["audio_url"])
    assert status == 200 and audio == running.fleet.audio


def test_alerts_link_to_the_console(running: Running) -> None:
    # process_clip's environment names the console, so an alert ends with the clip's page
    env = running.stack.function_environ()
    assert env[c.ENV_CONSOLE_URL] == running.info.console_url
    assert env[c.ENV_CONSOLE_ORIGIN] == running.info.console_url


def test_a_stack_without_the_console_serves_none(tmp_path: Path, moto_endpoint: str) -> None:
    options = LocalStackOptions.build(workdir=tmp_path / "s", drift_interval_s=0, console=False)
    with LocalStack(options) as stack:
        assert stack.console is None and stack.info.console_url is None and stack.info.console_tokens == {}
        assert c.ENV_CONSOLE_URL not in stack.function_environ()
    reset_moto_data(moto_endpoint)


def test_stopping_the_stack_closes_the_console(tmp_path: Path, moto_endpoint: str) -> None:
    before = set(threading.enumerate())
    with LocalStack(LocalStackOptions.build(workdir=tmp_path / "s", drift_interval_s=0)) as stack:
        info = stack.info
        assert http(f"{info.console_api_url}/devices", token=info.console_tokens["viewer"])[0] == 200
    # Then no console thread is left and both ports are closed
    leftover = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not [name for name in leftover if name.startswith("console")], leftover
    for url in (info.console_url, info.console_api_url):
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"{url}/", timeout=2)
    reset_moto_data(moto_endpoint)
