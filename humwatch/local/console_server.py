"""The operator console on 127.0.0.1: what CloudFront and API Gateway do for it in AWS.

Two HTTP servers, each on a free port:

- the site (CloudFront + the private site bucket): serves `console/` and a `config.json` that
  points the app at the local API and sign-in, with the same security headers as the deployed
  distribution (a strict Content-Security-Policy among them);
- the API (API Gateway's HTTP API): answers CORS preflights for the console's origin only, checks
  the bearer token the way the JWT authorizer does (401 `{"message": "Unauthorized"}` before any
  function runs), turns the request into a payload-2.0 event with the verified claims, and calls
  the real `functions/console_api/handler.py`. It also serves the local sign-in
  (`POST /local-auth/token`), the stand-in for Cognito's InitiateAuth.

Both run on daemon threads; `stop()` closes them and joins the threads.
"""

from __future__ import annotations

import base64
import json
import logging
import mimetypes
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from humwatch.contracts import CONSOLE_API_ROUTES, CONSOLE_OPERATORS, CONSOLE_VIEWERS
from humwatch.errors import Unauthenticated
from humwatch.local.console_tokens import LocalTokenIssuer
from humwatch.local.lambda_runtime import LOCAL_ACCOUNT

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
ISSUER_PATH = "/local-cognito"
SIGN_IN_PATH = "/local-auth/token"
LOCAL_CLIENT_ID = "humwatch-local-console"
# The local users and their groups (Cognito: users an administrator created and put in a group).
LOCAL_USERS: dict[str, tuple[str, ...]] = {"viewer": (CONSOLE_VIEWERS,), "operator": (CONSOLE_OPERATORS,)}
CORS_METHODS = ("GET", "POST", "OPTIONS")
CORS_HEADERS = ("authorization", "content-type")
CORS_MAX_AGE_S = 600
MAX_BODY_BYTES = 1_000_000
_UNAUTHORIZED = {"message": "Unauthorized"}
_NOT_FOUND = {"message": "Not Found"}

PLACEHOLDER_INDEX = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>humwatch console</title></head>
<body><h1>humwatch console</h1>
<p>This checkout has no <code>console/</code> folder, so there is no page to show. The API is
running: see <code>console_api_url</code> in local-stack.json.</p></body></html>
"""

Invoke = Callable[[dict[str, Any]], Any]


def default_site_dir() -> Path:
    """`console/` at the repository root (a source checkout or an editable install)."""
    return Path(__file__).resolve().parents[2] / "console"


def security_headers(*, api_origin: str, media_origin: str) -> dict[str, str]:
    """The site's response headers, as the deployed distribution's response headers policy."""
    csp = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"media-src {media_origin}",
            f"connect-src 'self' {api_origin}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ]
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        # A development server: the page always reflects the files as they are now.
        "Cache-Control": "no-store",
    }


@dataclass(frozen=True)
class RouteMatch:
    route_key: str
    path_parameters: dict[str, str]


def _compile(route_key: str) -> tuple[str, str, re.Pattern[str]]:
    method, path = route_key.split(" ", 1)
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return method, route_key, re.compile(f"^{pattern}$")


_ROUTES = [_compile(key) for key in CONSOLE_API_ROUTES]


def match_route(method: str, raw_path: str) -> RouteMatch | None:
    """The API route a request is for (`GET /devices/{thing}` ...), as API Gateway matches it."""
    for route_method, key, pattern in _ROUTES:
        found = pattern.match(raw_path)
        if found and route_method == method:
            return RouteMatch(key, {k: unquote(v) for k, v in found.groupdict().items()})
    return None


def claims_as_api_gateway(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as an HTTP API hands them to a function: every value a string, a list as `[a b]`."""
    out = {}
    for name, value in claims.items():
        if isinstance(value, list | tuple):
            out[name] = "[" + " ".join(str(v) for v in value) + "]"
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = str(value)
    return out


def build_event(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    route: RouteMatch,
    claims: Mapping[str, Any],
    source_ip: str,
) -> dict[str, Any]:
    """An API Gateway HTTP API event, payload format 2.0, for the console_api function."""
    now = datetime.now(UTC)
    query = {k: ",".join(v) for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
    try:
        text, encoded = body.decode(), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": dict(headers),
        "requestContext": {
            "accountId": LOCAL_ACCOUNT,
            "apiId": "local",
            "authorizer": {"jwt": {"claims": claims_as_api_gateway(claims), "scopes": None}},
            "domainName": HOST,
            "domainPrefix": HOST.split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if query:
        event["queryStringParameters"] = query
    if route.path_parameters:
        event["pathParameters"] = route.path_parameters
    if body:
        event["body"] = text
    return event


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    console: ConsoleServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that closed its connection early is not news; anything else goes to the log.
        log.debug("console server: request from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "humwatch-local"

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, headers: Mapping[str, str], *, head: bool = False) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)


class _SiteHandler(_Handler):
    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, *, head: bool) -> None:
        console = self.server.console
        path = unquote(urlsplit(self.path).path)
        headers = dict(console.site_headers)
        if path == "/config.json":
            body = json.dumps(console.site_config(), indent=2).encode()
            self._send(200, body, {**headers, "Content-Type": "application/json"}, head=head)
            return
        found = console.site_file(path)
        status = 200
        if found is not None:
            body, kind = found.read_bytes(), content_type(found)
        elif path in ("/", "/index.html"):
            body, kind = PLACEHOLDER_INDEX, "text/html; charset=utf-8"
        else:
            status, body, kind = 404, b"not found\n", "text/plain; charset=utf-8"
        self._send(status, body, {**headers, "Content-Type": kind}, head=head)


class _ApiHandler(_Handler):
    def do_OPTIONS(self) -> None:
        console = self.server.console
        origin = self.headers.get("Origin")
        method = (self.headers.get("Access-Control-Request-Method") or "").upper()
        headers = {"Vary": "Origin"}
        if origin == console.console_origin and method in CORS_METHODS:
            headers.update(console.cors_headers(origin))
            headers["Access-Control-Allow-Methods"] = ",".join(CORS_METHODS)
            headers["Access-Control-Allow-Headers"] = ",".join(CORS_HEADERS)
            headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_S)
        self._send(204, b"", headers)

    def do_GET(self) -> None:
        self._api("GET")

    def do_POST(self) -> None:
        self._api("POST")

    def do_PUT(self) -> None:
        self._api("PUT")

    def do_DELETE(self) -> None:
        self._api("DELETE")

    def do_PATCH(self) -> None:
        self._api("PATCH")

    def _json(self, status: int, payload: Mapping[str, Any]) -> None:
        headers = {
            "Content-Type": "application/json",
            **self.server.console.cors_headers(self.headers.get("Origin")),
        }
        self._send(status, json.dumps(payload).encode(), headers)

    def _api(self, method: str) -> None:
        console = self.server.console
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"message": "Request Entity Too Large"})
            return
        body = self.rfile.read(length) if length > 0 else b""
        if method == "POST" and split.path == SIGN_IN_PATH:
            self._sign_in(body)
            return
        route = match_route(method, split.path)
        if route is None:
            self._json(HTTPStatus.NOT_FOUND, _NOT_FOUND)
            return
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("no bearer token")
            claims = console.tokens.validate(token.strip())
        except Unauthenticated:
            self._json(HTTPStatus.UNAUTHORIZED, _UNAUTHORIZED)
            return
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        event = build_event(
            method=method,
            raw_path=split.path,
            raw_query=split.query,
            headers=headers,
            body=body,
            route=route,
            claims=claims,
            source_ip=self.client_address[0],
        )
        self._invoke(event)

    def _invoke(self, event: dict[str, Any]) -> None:
        console = self.server.console
        try:
            result = console.invoke(event)
            status = int(result["statusCode"])
            raw = result.get("body") or ""
            body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
            returned = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        except Exception:
            log.exception("console_api invocation failed")
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"message": "Internal Server Error"})
            return
        # API Gateway's CORS configuration replaces the function's CORS headers with its own.
        headers = {k: v for k, v in returned.items() if not k.lower().startswith("access-control-")}
        headers.pop("Content-Length", None)
        headers.update(console.cors_headers(self.headers.get("Origin")))
        self._send(status, body, headers)

    def _sign_in(self, body: bytes) -> None:
        console = self.server.console
        try:
            request = json.loads(body or b"{}")
            username, password = str(request["username"]), str(request["password"])
        except (ValueError, KeyError, TypeError):
            self._json(HTTPStatus.BAD_REQUEST, {"message": 'send {"username": ..., "password": ...}'})
            return
        if not console.check_password(username, password):
            self._json(HTTPStatus.UNAUTHORIZED, {"message": "Incorrect username or password."})
            return
        token = console.tokens.issue(username, LOCAL_USERS.get(username, ()))
        self._json(HTTPStatus.OK, {"id_token": token, "expires_in": console.tokens.lifetime_s})


def content_type(path: Path) -> str:
    if path.suffix in (".js", ".mjs"):
        return "text/javascript; charset=utf-8"
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed and (guessed.startswith("text/") or guessed in ("application/json", "image/svg+xml")):
        return f"{guessed}; charset=utf-8"
    return guessed or "application/octet-stream"


class ConsoleServer:
    """Both servers. Ports are bound at construction (the function's environment needs the
    console's origin before the functions start); requests are served after `start(invoke)`."""

    def __init__(
        self,
        *,
        media_origin: str,
        site_dir: Path | None = None,
        passwords: Mapping[str, str] | None = None,
    ) -> None:
        self.site_dir = (site_dir or default_site_dir()).resolve()
        self.media_origin = media_origin
        self.passwords = dict(passwords or {user: secrets.token_urlsafe(12) for user in LOCAL_USERS})
        self._site = _Server((HOST, 0), _SiteHandler, bind_and_activate=True)
        self._api = _Server((HOST, 0), _ApiHandler, bind_and_activate=True)
        self._site.console = self._api.console = self
        self.console_url = f"http://{HOST}:{self._site.server_address[1]}"
        self.api_url = f"http://{HOST}:{self._api.server_address[1]}"
        self.tokens = LocalTokenIssuer(issuer=self.api_url + ISSUER_PATH, client_id=LOCAL_CLIENT_ID)
        self.site_headers = security_headers(api_origin=self.api_url, media_origin=media_origin)
        self._invoke: Invoke | None = None
        self._threads: list[threading.Thread] = []

    @property
    def console_origin(self) -> str:
        return self.console_url

    def start(self, invoke: Invoke) -> ConsoleServer:
        self._invoke = invoke
        for server, name in ((self._site, "console-site"), (self._api, "console-api")):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=name)
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and close both sockets; safe to call twice, and before `start`."""
        if self._threads:
            for server in (self._site, self._api):
                server.shutdown()
        for server in (self._site, self._api):
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def invoke(self, event: dict[str, Any]) -> Any:
        if self._invoke is None:
            raise RuntimeError("console server not started")
        return self._invoke(event)

    def user_tokens(self) -> dict[str, str]:
        """A fresh token for each local user (for scripts and tests: local-stack.json)."""
        return {user: self.tokens.issue(user, groups) for user, groups in LOCAL_USERS.items()}

    def check_password(self, username: str, password: str) -> bool:
        expected = self.passwords.get(username)
        # Compare even for an unknown user, so the answer takes as long either way.
        ok = secrets.compare_digest(password.encode(), (expected or secrets.token_urlsafe(12)).encode())
        return ok and expected is not None

    def cors_headers(self, origin: str | None) -> dict[str, str]:
        if origin and origin == self.console_origin:
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {"Vary": "Origin"}

    def site_config(self) -> dict[str, Any]:
        """The app's `config.json` (in AWS the deployment writes one naming Cognito)."""
        return {"apiUrl": self.api_url, "auth": {"type": "local", "tokenUrl": self.api_url + SIGN_IN_PATH}}

    def site_file(self, path: str) -> Path | None:
        """The file under the site folder for a URL path; None outside it or when absent."""
        relative = path.lstrip("/") or "index.html"
        if any(part.startswith(".") for part in relative.split("/")):
            return None
        candidate = (self.site_dir / relative).resolve()
        if not candidate.is_relative_to(self.site_dir) or not candidate.is_file():
            return None
        return candidate
