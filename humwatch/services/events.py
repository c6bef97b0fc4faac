"""Typed models of the events the functions receive (only the fields humwatch uses).

- presign_upload: the IoT rule's output (`contracts.UPLOAD_REQUEST_RULE_SQL`): the request's
  contract fields plus `thing` from the topic.
- process_clip: SQS records whose body is an S3 event notification (or S3's one-off
  `s3:TestEvent` when the notification is configured).
- drift_check: the EventBridge scheduled event (only `time` is used).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field


class IotUploadRequestEvent(BaseModel):
    """The rule adds `thing` (from the topic); the rest is the request, validated separately so a
    bad request still gets an answer on the device's response topic."""

    model_config = ConfigDict(extra="allow")

    thing: str

    def payload(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class S3Bucket(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str


class S3Object(BaseModel):
    model_config = ConfigDict(extra="ignore")
    key: str
    size: int | None = None
    eTag: str | None = None
    sequencer: str | None = None


class S3Entity(BaseModel):
    model_config = ConfigDict(extra="ignore")
    bucket: S3Bucket
    object: S3Object


class S3EventRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")
    eventName: str
    eventTime: datetime | None = None
    s3: S3Entity

    @property
    def key(self) -> str:
        """Object keys arrive URL-encoded with '+' for spaces (quote_plus)."""
        return unquote_plus(self.s3.object.key)

    @property
    def is_object_created(self) -> bool:
        return self.eventName.startswith("ObjectCreated:")


class S3Notification(BaseModel):
    """An S3 event notification as delivered in an SQS message body."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    records: list[S3EventRecord] = Field(default_factory=list, alias="Records")
    event: str | None = Field(None, alias="Event")  # "s3:TestEvent" for the configuration test

    @property
    def is_test_event(self) -> bool:
        return self.event == "s3:TestEvent"


class ScheduledEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    time: datetime | None = None
