"""Who calls the console API, and what they may do.

API Gateway's JWT authorizer has already checked the token (signature, expiry, issuer, audience)
before the function runs: the function reads the verified claims from the event and decides only
by group. `cognito:groups` reaches an HTTP API (payload 2.0) as one string: `"[operators viewers]"`
for a list, `"operators"` for one group; a JSON list is accepted too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from humwatch.contracts import CONSOLE_OPERATORS, CONSOLE_VIEWERS
from humwatch.errors import AccessDenied

GROUPS_CLAIM = "cognito:groups"
# Where a user's name can be, best first: Cognito id tokens carry `cognito:username`, access
# tokens `username`; `sub` is always there.
USERNAME_CLAIMS = ("cognito:username", "username", "sub")


@dataclass(frozen=True)
class Caller:
    username: str
    groups: tuple[str, ...]

    @property
    def can_read(self) -> bool:
        return CONSOLE_VIEWERS in self.groups or CONSOLE_OPERATORS in self.groups

    @property
    def can_write(self) -> bool:
        return CONSOLE_OPERATORS in self.groups


def parse_groups(value: Any) -> tuple[str, ...]:
    """The groups of a `cognito:groups` claim in any form it arrives in: a list, a JSON list,
    API Gateway's `[a b]` rendering of a list, or one name (commas also separate)."""
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(g) for g in value if str(g))
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return tuple(str(g) for g in parsed if str(g))
        text = text[1:-1]
    return tuple(part for part in text.replace(",", " ").split() if part)


def claims_of(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The verified JWT claims of an HTTP API (payload 2.0) event; {} when there are none."""
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") or {}
    jwt = authorizer.get("jwt") or {}
    claims = jwt.get("claims") or {}
    return claims if isinstance(claims, Mapping) else {}


def caller_from_claims(claims: Mapping[str, Any]) -> Caller:
    username = next((str(claims[name]) for name in USERNAME_CLAIMS if claims.get(name)), "")
    return Caller(username=username, groups=parse_groups(claims.get(GROUPS_CLAIM)))


def require_reader(caller: Caller) -> Caller:
    """Viewers and operators may read; a signed-in user in neither group may do nothing."""
    if not caller.can_read:
        raise AccessDenied(
            f"no console access: ask an administrator to add you to the {CONSOLE_VIEWERS} "
            f"or {CONSOLE_OPERATORS} group"
        )
    return caller


def require_operator(caller: Caller) -> Caller:
    require_reader(caller)
    if not caller.can_write:
        raise AccessDenied("operators only")
    return caller
