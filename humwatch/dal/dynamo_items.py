"""Python values <-> DynamoDB attribute values, for the history table's items.

Floats become Decimals (NaN and infinity are refused: DynamoDB cannot store them), datetimes the
contract's RFC3339 text, enums their value, bytes a Binary attribute; `None` attributes are left
out. Reading back, whole numbers come back as int, the rest as float, and Binary as bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from humwatch import contracts as c

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def now_seconds() -> datetime:
    """Whole seconds: what the table stores (RFC3339 with Z), so a returned record equals a read."""
    return datetime.now(UTC).replace(microsecond=0)


def timestamp_or_none(value: Any) -> datetime | None:
    return c.parse_timestamp(value) if isinstance(value, str) and value else None


def key(pk: str, sk: str) -> dict[str, Any]:
    return {c.PK: {"S": pk}, c.SK: {"S": sk}}


def _to_dynamo_value(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str | int | Decimal | bytes):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("DynamoDB cannot store NaN or infinity")
        return Decimal(repr(value))
    if isinstance(value, datetime):
        return c.format_timestamp(value)
    if isinstance(value, Mapping):
        return {str(k): _to_dynamo_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo_value(v) for v in value]
    if hasattr(value, "value"):  # enums
        return _to_dynamo_value(value.value)
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def _from_dynamo_value(value: Any) -> Any:
    if isinstance(value, Binary):
        return bytes(value.value)  # type: ignore[attr-defined]  # the stubs leave out .value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo_value(v) for v in value]
    return value


def serialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    plain = _to_dynamo_value(item)
    return {k: _SERIALIZER.serialize(v) for k, v in plain.items()}


def deserialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo_value(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


# --- item size: DynamoDB's rules (developer guide, CapacityUnitCalculations.html) -------------------
def _number_bytes(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0")
    return math.ceil(max(len(digits), 1) / 2) + 1


def attribute_size(value: Mapping[str, Any]) -> int:
    """Size of one typed AttributeValue ({"S": ...}, {"N": ...}, {"L": [...]}, ...)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return _number_bytes(inner)
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(_number_bytes(n) for n in inner)
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(v) + 1 for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes DynamoDB bills for a wire-format item: names + values (1 write unit per 1 KB)."""
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())
