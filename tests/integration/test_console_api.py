"""The console_api function (the real handler) against moto, with HTTP API payload-2.0 events as
API Gateway sends them after its JWT authorizer: every route for a viewer, an operator and a user
in no group; writes landing in the history table; paging; presigned audio."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from console_seed import ALERTING, DEPARTING_BAND, PAGED, ConsoleFleet, seed_console_fleet
from lambda_harness import invoke, load_handler

from humwatch import contracts as c
from humwatch.dal import aws
from humwatch.dal.history import HistoryTable
from humwatch.dal.provisioning import StackResources
from humwatch.explain import format_band

ORIGIN = "https://d1234.cloudfront.net"
NOW = datetime.now(UTC).replace(microsecond=0)
CLAIMS: dict[str, dict[str, str]] = {
    # What an HTTP API passes on of a Cognito id token: every value a string, a list as "[a b]"
    "viewer": {"sub": "11", "cognito:username": "vera", "cognito:groups": "[viewers]"},
    "operator": {"sub": "22", "cognito:username": "otto", "cognito:groups": "[operators viewers]"},
    "nobody": {"sub": "33", "cognito:username": "nils"},
}

Call = Callable[..., tuple[int, dict[str, Any], dict[str, str]]]


def v2_event(
    route_key: str, path: str, claims: dict[str, str], *, query: dict[str, str] | None, body: Any | None
) -> dict[str, Any]:
    method = route_key.split(" ", 1)[0]
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {
            "authorization": "Bearer eyJ...",
            "content-type": "application/json",
            "origin": ORIGIN,
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "authorizer": {"jwt": {"claims": claims, "scopes": None}},
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "pytest",
            },
            "requestId": "req-1",
            "routeKey": route_key,
            "stage": "$default",
            "time": "26/Nov/2026:14:05:00 +0000",
            "timeEpoch": 1795702700000,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if body is not None:
        event["body"] = json.dumps(body)
    return event


@pytest.fixture
def fleet(aws_stack: StackResources, history: HistoryTable, tmp_path: Path) -> ConsoleFleet:
    s3 = aws.client("s3", endpoint_url=aws_stack.endpoint_url)
    return seed_console_fleet(history, s3, aws_stack.bucket, tmp_path, now=NOW)


@pytest.fixture
def call(
    functions_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, fleet: ConsoleFleet
) -> Iterator[Call]:
    monkeypatch.setenv("HUMWATCH_CONSOLE_ORIGIN", ORIGIN)
    handler = load_handler("console_api")

    def _call(
        route_key: str,
        user: str = "viewer",
        *,
        thing: str = ALERTING,
        clip_id: str | None = None,
        query: dict[str, str] | None = None,
        body: Any | None = None,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        path = route_key.split(" ", 1)[1].replace("{thing}", thing)
        path = path.replace("{clip_id}", clip_id or fleet.alert_clip.clip_id)
        response = invoke(handler, v2_event(route_key, path, CLAIMS[user], query=query, body=body))
        return response["statusCode"], json.loads(response["body"]), response.get("headers", {})

    yield _call


READS = [k for k in c.CONSOLE_API_ROUTES if k.startswith("GET")]
WRITES = [k for k in c.CONSOLE_API_ROUTES if k.startswith("POST")]
WRITE_BODIES: dict[str, Any] = {
    "POST /devices/{thing}/clips/{clip_id}/label": {"label": "normal", "note": "forklift"},
    "POST /devices/{thing}/promote": {"version": "v3"},
}


@pytest.mark.parametrize("route_key", READS)
def test_viewers_and_operators_read_every_route_and_no_group_reads_none(
    call: Call, route_key: str, aws_stack: StackResources
) -> None:
    for user in ("viewer", "operator"):
        status, body, headers = call(route_key, user)
        assert status == 200, (user, body)
        assert headers["Access-Control-Allow-Origin"] == ORIGIN
        # Nothing names the bucket, except inside a presigned audio URL
        text = json.dumps({k: v for k, v in body.items() if k != "audio_url"})
        assert aws_stack.bucket not in text and "clips/" not in text
    status, body, _ = call(route_key, "nobody")
    assert status == 403 and "no console access" in body["message"]


@pytest.mark.parametrize("route_key", WRITES)
def test_only_operators_write(call: Call, route_key: str, history: HistoryTable) -> None:
    body = WRITE_BODIES.get(route_key)
    # Given a viewer and a user in no group: refused, and nothing changed
    before = history.alert_states.get(ALERTING)
    assert call(route_key, "viewer", body=body)[:2] == (403, {"message": "operators only"})
    assert call(route_key, "nobody", body=body)[0] == 403
    assert history.alert_states.get(ALERTING) == before
    assert history.clips.find(ALERTING, history_clip_id(history)).label is None  # type: ignore[union-attr]
    # When an operator does it, it works
    status, answer, _ = call(route_key, "operator", body=body)
    assert status == 200, answer


def history_clip_id(history: HistoryTable) -> str:
    return next(history.clips.query(ALERTING, limit=1)).clip_id


def test_an_operator_label_lands_on_the_clip(call: Call, fleet: ConsoleFleet, history: HistoryTable) -> None:
    route = "POST /devices/{thing}/clips/{clip_id}/label"
    status, body, _ = call(route, "operator", body={"label": "normal", "note": "forklift passing"})
    assert (
        status == 200
        and body["clip"]["label"] == "normal"
        and body["clip"]["label_note"] == "forklift passing"
    )
    stored = history.clips.find(ALERTING, fleet.alert_clip.clip_id)
    assert stored is not None and (stored.label, stored.label_note) == ("normal", "forklift passing")
    # And the clip list shows it
    items = call("GET /devices/{thing}/clips")[1]["items"]
    assert items[0]["clip_id"] == fleet.alert_clip.clip_id and items[0]["label"] == "normal"


def test_an_operator_ack_is_the_cli_s_ack(call: Call, history: HistoryTable) -> None:
    status, body, _ = call("POST /devices/{thing}/ack", "operator")
    assert status == 200 and body["acknowledged"] is True and body["device"]["alert"] == "acked warning"
    state = history.alert_states.get(ALERTING)
    assert state is not None and state.alert.is_acknowledged
    # A second ack changes nothing and says so
    again = call("POST /devices/{thing}/ack", "operator")[1]
    assert again["acknowledged"] is False and "already acknowledged" in again["message"]


def test_promote_and_rollback_switch_the_devices_own_model(call: Call, history: HistoryTable) -> None:
    own = c.device_model_id(ALERTING)
    status, body, _ = call("POST /devices/{thing}/promote", "operator", body={"version": "v3"})
    assert (
        status == 200 and body["candidate"]["version"] == "v3" and body["candidate"]["status"] == "promoted"
    )
    assert history.models.pointer(own).version == "v3"  # type: ignore[union-attr]
    status, body, _ = call("POST /devices/{thing}/rollback", "operator")
    assert status == 200 and body["candidate"]["version"] == "v2"
    assert history.models.pointer(own).version == "v2"  # type: ignore[union-attr]
    # Candidates come with their gate reports, and never with where those are stored
    listed = call("GET /devices/{thing}/candidates")[1]["candidates"]
    assert {row["version"]: row["report"]["version"] for row in listed} == {
        "v1": "v1",
        "v2": "v2",
        "v3": "v3",
    }
    assert all("report_key" not in row for row in listed)


def test_unknown_devices_clips_and_candidates_are_404(call: Call) -> None:
    for route in ("GET /devices/{thing}", "GET /devices/{thing}/clips", "GET /devices/{thing}/candidates"):
        status, body, _ = call(route, thing="fan-99")
        assert status == 404 and "unknown device 'fan-99'" in body["message"]
    assert call("GET /devices/{thing}/clips/{clip_id}", clip_id="nope")[:2] == (
        404,
        {"message": f"no clip nope for device {ALERTING}"},
    )
    route = "POST /devices/{thing}/clips/{clip_id}/label"
    assert call(route, "operator", clip_id="nope", body={"label": "anomaly"})[0] == 404
    assert call("POST /devices/{thing}/promote", "operator", body={"version": "v9"})[0] == 404


def test_a_failed_gate_needs_force(call: Call, history: HistoryTable) -> None:
    failed = history.candidates.get(ALERTING, "v3").model_copy(update={"passed": False})  # type: ignore[union-attr]
    history.candidates.put(failed)
    status, body, _ = call("POST /devices/{thing}/promote", "operator", body={"version": "v3"})
    assert status == 409 and "failed its gate" in body["message"]
    assert call("POST /devices/{thing}/promote", "operator", body={"version": "v3", "force": True})[0] == 200


def test_clips_page_newest_first_with_an_opaque_next_token(call: Call, fleet: ConsoleFleet) -> None:
    # Given fan-05's seven clips, read three at a time
    pages, token = [], None
    while True:
        query = {"limit": "3", **({"next": token} if token else {})}
        status, body, _ = call("GET /devices/{thing}/clips", thing=PAGED, query=query)
        assert status == 200
        pages.append([item["clip_id"] for item in body["items"]])
        token = body["next"]
        if token is None:
            break
        assert "device#" not in token  # opaque, not the key in clear
    # Then the pages are 3, 3 and 1 clips, together every clip once, newest first
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i in p] == [r.clip_id for r in reversed(fleet.paged)]
    # And anomalies only (a filter) pages the same way
    first = call("GET /devices/{thing}/clips", thing=PAGED, query={"limit": "2", "anomalies": "true"})[1]
    rest = call("GET /devices/{thing}/clips", thing=PAGED, query={"limit": "2", "next": first["next"]})[1]
    assert [i["ratio"] for i in first["items"]] == [1.1, 1.5] and all(i["is_anomaly"] for i in first["items"])
    assert first["next"] and rest["items"][0]["captured_at"] < first["items"][-1]["captured_at"]


def test_paging_input_is_checked(call: Call) -> None:
    token = call("GET /devices/{thing}/clips", thing=PAGED, query={"limit": "1"})[1]["next"]
    # A token of another device, garbage, or a limit out of range: 400, never a server error
    for query in (
        {"next": token},
        {"next": "bm90IGpzb24"},
        {"limit": "501"},
        {"limit": "0"},
        {"since": "soon"},
    ):
        status, body, _ = call("GET /devices/{thing}/clips", query=query)
        assert status == 400, (query, body)
    window = {"since": (NOW - timedelta(minutes=11)).isoformat(), "until": "0m"}
    assert len(call("GET /devices/{thing}/clips", query=window)[1]["items"]) == 2


def test_a_clip_page_has_audio_a_spectrogram_and_says_where_it_departs(
    call: Call, fleet: ConsoleFleet, aws_stack: StackResources
) -> None:
    status, body, _ = call("GET /devices/{thing}/clips/{clip_id}")
    assert status == 200
    # The audio: a presigned GET that lives at most 5 minutes and downloads the clip as stored
    url = body["audio_url"]
    expires = int(parse_qs(urlsplit(url).query)["X-Amz-Expires"][0])
    assert 0 < expires <= 300
    left = datetime.fromisoformat(body["audio_expires_at"].replace("Z", "+00:00")) - datetime.now(UTC)
    assert timedelta(0) < left <= timedelta(seconds=300)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == fleet.audio
    # The spectrogram: 64 bands x 313 frames of the 10 s clip, with the band edges
    picture = body["spectrogram"]
    assert picture["n_mels"] == 64 and len(picture["db"]) == 64 and {len(r) for r in picture["db"]} == {313}
    assert len(picture["band_edges_hz"]) == 65 and picture["min_db"] < picture["max_db"]
    # The bands against the model's normal, and the sentence naming the departing band
    bands = body["bands"]
    assert len(bands["clip"]) == len(bands["normal_mean"]) == len(bands["normal_std"]) == 64
    edges = picture["band_edges_hz"]
    where = format_band((edges[DEPARTING_BAND], edges[DEPARTING_BAND + 1]))
    assert body["explanation"] == (
        f"The {where} band is 6.0 σ above normal (largest of 64 bands); score 2.9x threshold."
    )
    assert body["clip"]["is_anomaly"] is True and body["clip"]["captured_at"].endswith("Z")


def test_a_clip_whose_audio_is_gone_still_reads(call: Call, fleet: ConsoleFleet) -> None:
    # fan-02's first clip has a record but no object (expired by the lifecycle rule, say)
    first = call("GET /devices/{thing}/clips", query={"limit": "5"})[1]["items"][-1]
    status, body, _ = call("GET /devices/{thing}/clips/{clip_id}", clip_id=first["clip_id"])
    assert status == 200 and body["audio_url"] is None and body["spectrogram"] is None
    assert "no audio of this clip" in body["explanation"]


def test_the_device_page_has_its_row_and_model(call: Call) -> None:
    body = call("GET /devices/{thing}")[1]
    assert body["device"]["device"] == ALERTING and body["device"]["alert"] == "ALERT warning"
    assert {"state", "last_clip_at", "last_ratio", "recent", "evidence", "silent", "acked_at"} <= set(
        body["device"]
    )
    model = body["model"]
    assert (model["model_id"], model["version"], model["threshold"]) == ("fan-demo", "v1", 12.5)
    assert len(model["band_edges_hz"]) == 65
    devices = call("GET /devices")[1]["devices"]
    assert [d["device"] for d in devices] == [ALERTING, PAGED]
    models = call("GET /models")[1]
    assert {m["model_id"] for m in models["models"]} == {"fan-demo", c.device_model_id(ALERTING)}
    assert {row["version"] for row in models["candidates"]} == {"v1", "v2", "v3"}


def test_the_handler_answers_within_the_api_gateway_timeout(call: Call) -> None:
    # The heaviest route (download, decode, spectrogram) on a warm function
    call("GET /devices/{thing}/clips/{clip_id}")
    started = time.perf_counter()
    call("GET /devices/{thing}/clips/{clip_id}")
    assert time.perf_counter() - started < 5.0  # API Gateway gives up at 29 s


def test_a_filtered_page_stops_at_its_read_budget_and_says_where_to_go_on(
    history: HistoryTable, fleet: ConsoleFleet
) -> None:
    # Given fan-05's clips newest first, anomalies only (3 of 7), and a budget of 2 items read per page
    request: dict[str, Any] = {
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :clip)",
        "FilterExpression": "is_anomaly = :true",
        "ExpressionAttributeValues": {
            ":pk": {"S": c.device_pk(PAGED)},
            ":clip": {"S": "clip#"},
            ":true": {"BOOL": True},
        },
        "ScanIndexForward": False,
    }
    found, key, pages = [], None, 0
    while True:
        items, key = history.table.query_page(limit=10, start_key=key, max_evaluated=2, **request)
        found += [item["sk"] for item in items]
        pages += 1
        if key is None:
            break
    # Then every page read at most 2 items (7 items: 4 pages), and together they found the 3 anomalies
    assert pages == 4
    assert [sk.rsplit("#", 1)[1] for sk in found] == [
        r.clip_id for r in reversed(fleet.paged) if r.is_anomaly
    ]
