"""The local stand-in for Cognito: the tokens it issues, and what its check refuses (what API
Gateway's JWT authorizer refuses)."""

from __future__ import annotations

import base64
import json

import pytest

from humwatch.errors import Unauthenticated
from humwatch.local.console_server import claims_as_api_gateway, match_route
from humwatch.local.console_tokens import LocalTokenIssuer

ISSUER = "http://127.0.0.1:4000/local-cognito"
NOW = 1_800_000_000.0


@pytest.fixture
def issuer() -> LocalTokenIssuer:
    return LocalTokenIssuer(issuer=ISSUER, client_id="console-client", secret=b"k" * 32)


def _part(token: str, index: int) -> dict:
    text = token.split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))))


def _with_claims(token: str, **changes: object) -> str:
    header, _, signature = token.split(".")
    claims = {**_part(token, 1), **changes}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{body}.{signature}"


def test_a_token_carries_cognito_claims_and_lives_an_hour(issuer: LocalTokenIssuer) -> None:
    token = issuer.issue("operator", ["operators"], now=NOW)
    claims = issuer.validate(token, now=NOW + 10)
    assert claims["cognito:username"] == "operator" and claims["cognito:groups"] == ["operators"]
    assert (claims["iss"], claims["aud"], claims["token_use"]) == (ISSUER, "console-client", "id")
    assert claims["exp"] - claims["iat"] == 3600 and claims["sub"]
    assert _part(token, 0) == {"alg": "HS256", "typ": "JWT"}


def test_an_expired_token_is_refused(issuer: LocalTokenIssuer) -> None:
    token = issuer.issue("viewer", ["viewers"], now=NOW)
    issuer.validate(token, now=NOW + 3599)
    with pytest.raises(Unauthenticated, match="expired"):
        issuer.validate(token, now=NOW + 3600)


def test_a_tampered_token_is_refused(issuer: LocalTokenIssuer) -> None:
    # Given a viewer's token whose groups were edited to operators (the signature is the viewer's)
    token = _with_claims(issuer.issue("viewer", ["viewers"], now=NOW), **{"cognito:groups": ["operators"]})
    with pytest.raises(Unauthenticated, match="signature"):
        issuer.validate(token, now=NOW)
    # And a token signed by another stack (another secret) is refused the same way
    other = LocalTokenIssuer(issuer=ISSUER, client_id="console-client", secret=b"o" * 32)
    with pytest.raises(Unauthenticated, match="signature"):
        issuer.validate(other.issue("operator", ["operators"], now=NOW), now=NOW)


def test_alg_none_and_garbage_are_refused(issuer: LocalTokenIssuer) -> None:
    token = issuer.issue("operator", ["operators"], now=NOW)
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    unsigned = f"{none_header}.{token.split('.')[1]}."
    for bad in (unsigned, "abc", "a.b.c", ""):
        with pytest.raises(Unauthenticated):
            issuer.validate(bad, now=NOW)


def test_a_token_for_another_audience_or_issuer_is_refused(issuer: LocalTokenIssuer) -> None:
    other_client = LocalTokenIssuer(issuer=ISSUER, client_id="another-app", secret=b"k" * 32)
    with pytest.raises(Unauthenticated, match="audience"):
        issuer.validate(other_client.issue("operator", ["operators"], now=NOW), now=NOW)
    other_issuer = LocalTokenIssuer(
        issuer="http://127.0.0.1:1/x", client_id="console-client", secret=b"k" * 32
    )
    with pytest.raises(Unauthenticated, match="issuer"):
        issuer.validate(other_issuer.issue("operator", ["operators"], now=NOW), now=NOW)


def test_claims_reach_the_function_as_api_gateway_renders_them() -> None:
    rendered = claims_as_api_gateway({"cognito:groups": ["operators", "viewers"], "exp": 5, "sub": "x"})
    assert rendered == {"cognito:groups": "[operators viewers]", "exp": "5", "sub": "x"}


def test_requests_match_the_api_routes_as_api_gateway_matches_them() -> None:
    found = match_route("POST", "/devices/fan-02/clips/0b9d8a52/label")
    assert found is not None and found.route_key == "POST /devices/{thing}/clips/{clip_id}/label"
    assert found.path_parameters == {"thing": "fan-02", "clip_id": "0b9d8a52"}
    assert match_route("GET", "/devices").route_key == "GET /devices"  # type: ignore[union-attr]
    # Wrong method, unknown or deeper paths: no route (API Gateway answers 404 before any authorizer)
    assert match_route("POST", "/devices") is None
    assert match_route("GET", "/devices/fan-02/clips/x/label") is None
    assert match_route("GET", "/devices/a/b") is None
