"""Clips in S3: metadata, download with a size cap, presigned PUT URLs bound to MD5 and type,
short-lived presigned GET URLs for the operator console."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from humwatch.dal import aws
from humwatch.errors import AudioRejected, AudioRejectReason, NotFound


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    content_type: str | None


class ClipStore:
    def __init__(self, bucket: str, *, client: Any | None = None) -> None:
        self.bucket = bucket
        self._client = client if client is not None else aws.client("s3")

    def head(self, key: str) -> ObjectInfo:
        try:
            with aws.translate_errors():
                resp = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if aws.is_not_found(exc):
                raise NotFound(f"no object s3://{self.bucket}/{key}") from exc
            raise
        return ObjectInfo(
            key=key,
            size=int(resp["ContentLength"]),
            etag=str(resp.get("ETag", "")).strip('"'),
            content_type=resp.get("ContentType"),
        )

    def get_bytes(self, key: str, *, max_bytes: int, etag: str | None = None) -> bytes:
        """Download a clip; never reads more than `max_bytes` (+1 to detect oversize objects).

        With `etag`, the object must still be the version the event announced (IfMatch).
        Input faults are rejected on the first try: a missing (or, with `etag`, replaced) object
        is `NotFound`, a zero-byte one `AudioRejected(empty)` (S3 answers a ranged GET of an empty
        object with InvalidRange), one over `max_bytes` `AudioRejected(too_large)`. What else
        fails is retried (`humwatch.dal.aws`)."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Range": f"bytes=0-{max_bytes}"}
        if etag:
            kwargs["IfMatch"] = f'"{etag}"'
        try:
            with aws.translate_errors():
                resp = self._client.get_object(**kwargs)
                data: bytes = resp["Body"].read(max_bytes + 1)
        except ClientError as exc:
            if aws.is_not_found(exc):
                raise NotFound(f"no object s3://{self.bucket}/{key}") from exc
            if aws.is_condition_failed(exc):
                raise NotFound(f"s3://{self.bucket}/{key} was replaced after the event") from exc
            if aws.is_range_not_satisfiable(exc):
                # The range starts at byte 0, so only an empty object cannot satisfy it.
                raise AudioRejected("clip object is 0 bytes", code=AudioRejectReason.EMPTY.value) from exc
            raise
        if len(data) > max_bytes:
            raise AudioRejected(
                f"clip is larger than {max_bytes} bytes", code=AudioRejectReason.TOO_LARGE.value
            )
        return data

    def put(self, key: str, data: bytes, *, content_type: str, content_md5: str | None = None) -> str:
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": data,
            "ContentType": content_type,
        }
        if content_md5:
            kwargs["ContentMD5"] = content_md5
        with aws.translate_errors():
            resp = self._client.put_object(**kwargs)
        return str(resp.get("ETag", "")).strip('"')

    def presign_get(self, key: str, *, expires_in: int) -> str:
        """A GET URL for one object that stops working after `expires_in` seconds: how the
        operator console's browser plays a clip without ever seeing the bucket's credentials."""
        return str(
            self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=expires_in,
                HttpMethod="GET",
            )
        )

    def presign_put(self, key: str, *, content_type: str, content_md5: str, expires_in: int) -> str:
        """A PUT URL whose signature covers Content-MD5 and Content-Type: the device must send
        exactly the bytes it announced (the MD5 also pins the size), to exactly this key."""
        return str(
            self._client.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ContentType": content_type,
                    "ContentMD5": content_md5,
                },
                ExpiresIn=expires_in,
                HttpMethod="PUT",
            )
        )
