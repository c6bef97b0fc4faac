"""Helpers for reading a synthesized CloudFormation template in the infra tests."""

from __future__ import annotations

from typing import Any


def render(value: Any) -> Any:
    """Turn intrinsic functions into readable strings: Ref X -> <X>, GetAtt X.Arn -> <X.Arn>,
    Fn::Join -> the joined text, so ARNs and policies can be compared as plain strings."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return f"<{arg}>"
        if key == "Fn::GetAtt":
            return f"<{'.'.join(arg) if isinstance(arg, list) else arg}>"
        if key == "Fn::Join":
            separator, parts = arg
            return separator.join(str(render(part)) for part in parts)
        if key == "Fn::Sub":
            return arg if isinstance(arg, str) else arg[0]
    if isinstance(value, dict):
        return {k: render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v) for v in value]
    return value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resources_of(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def only(template: dict[str, Any], resource_type: str, where: Any = None) -> tuple[str, dict[str, Any]]:
    """The single resource of a type (optionally filtered by a predicate on its properties)."""
    found = [
        (logical_id, res)
        for logical_id, res in resources_of(template, resource_type).items()
        if where is None or where(res.get("Properties", {}))
    ]
    assert len(found) == 1, f"expected one {resource_type}, found {[f[0] for f in found]}"
    return found[0]


def statements(policy_document: dict[str, Any]) -> list[dict[str, Any]]:
    return [render(s) for s in as_list(policy_document["Statement"])]
