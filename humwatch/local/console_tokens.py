"""The local stack's stand-in for Cognito: issues the console's sign-in tokens and checks them.

Tokens are HS256 JWTs shaped like Cognito id tokens (`sub`, `cognito:username`, `cognito:groups`,
`iss`, `aud`, `token_use: id`, `iat`, `exp`), valid for an hour. `validate` checks what API
Gateway's JWT authorizer checks before a function runs: the signature, the expiry, the issuer and
the audience (`aud`, or `client_id` for access tokens). The secret is made per stack start, so a
token from an earlier run is refused. Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Sequence
from typing import Any

from humwatch.errors import Unauthenticated

TOKEN_LIFETIME_S = 3600  # Cognito's default id token validity
# Clocks of one machine agree; this only forgives an `iat` from the same second.
_LEEWAY_S = 5
_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LocalTokenIssuer:
    """`issuer` is the `iss` claim (locally `http://127.0.0.1:PORT/local-cognito`), `client_id` the
    audience (Cognito: the app client id)."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        secret: bytes | None = None,
        lifetime_s: int = TOKEN_LIFETIME_S,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.lifetime_s = lifetime_s
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    def issue(self, username: str, groups: Sequence[str], *, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims = {
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.issuer}/{username}")),
            "cognito:username": username,
            "cognito:groups": list(groups),
            "iss": self.issuer,
            "aud": self.client_id,
            "token_use": "id",
            "auth_time": issued,
            "iat": issued,
            "exp": issued + self.lifetime_s,
        }
        signing_input = ".".join(
            _b64encode(json.dumps(part, separators=(",", ":")).encode()) for part in (_HEADER, claims)
        )
        return f"{signing_input}.{_b64encode(self._sign(signing_input))}"

    def validate(self, token: str, *, now: float | None = None) -> dict[str, Any]:
        """The token's claims; Unauthenticated for anything API Gateway would refuse."""
        parts = token.split(".")
        if len(parts) != 3:
            raise Unauthenticated("not a JWT")
        try:
            header = json.loads(_b64decode(parts[0]))
            signature = _b64decode(parts[2])
        except (ValueError, UnicodeDecodeError):
            raise Unauthenticated("not a JWT") from None
        # The algorithm is fixed here, never taken from the token (no `alg: none`, no confusion).
        if not isinstance(header, dict) or header.get("alg") != _HEADER["alg"]:
            raise Unauthenticated("unexpected token algorithm")
        if not hmac.compare_digest(signature, self._sign(f"{parts[0]}.{parts[1]}")):
            raise Unauthenticated("bad token signature")
        try:
            claims = json.loads(_b64decode(parts[1]))
        except (ValueError, UnicodeDecodeError):
            raise Unauthenticated("unreadable token claims") from None
        if not isinstance(claims, dict):
            raise Unauthenticated("unreadable token claims")
        current = time.time() if now is None else now
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or current >= exp:
            raise Unauthenticated("token expired")
        if isinstance(iat, int | float) and iat > current + _LEEWAY_S:
            raise Unauthenticated("token issued in the future")
        if claims.get("iss") != self.issuer:
            raise Unauthenticated("token from another issuer")
        if self.client_id not in (claims.get("aud"), claims.get("client_id")):
            raise Unauthenticated("token for another audience")
        return claims

    def _sign(self, signing_input: str) -> bytes:
        return hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest()
