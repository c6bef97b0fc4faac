"""An SQS queue seen from a consumer: receive, delete, change visibility, depth.

The local stack's event-source dispatcher (what Lambda's SQS poller does in AWS) and its alert
inbox use this; in AWS the Lambda service does the polling and no humwatch code calls it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from humwatch.dal import aws

SQS_MAX_BATCH = 10  # ReceiveMessage / DeleteMessageBatch take at most 10 entries
SQS_MAX_WAIT_S = 20  # longest long-poll SQS allows


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    attributes: dict[str, str] = field(default_factory=dict)
    message_attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def receive_count(self) -> int:
        return int(self.attributes.get("ApproximateReceiveCount", "1"))


class SqsQueue:
    def __init__(
        self,
        queue_url: str,
        *,
        client: Any | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        self.queue_url = queue_url
        self._sqs = client or aws.client("sqs", endpoint_url=endpoint_url, region=region)
        self._arn: str | None = None

    @property
    def arn(self) -> str:
        if self._arn is None:
            self._arn = str(self._attributes(["QueueArn"])["QueueArn"])
        return self._arn

    def _attributes(self, names: list[str]) -> dict[str, str]:
        with aws.translate_errors():
            response = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)
        return dict(response.get("Attributes", {}))

    def receive(
        self, *, max_messages: int = SQS_MAX_BATCH, wait_s: float = 0, visibility_timeout_s: int | None = None
    ) -> list[QueueMessage]:
        """One ReceiveMessage call (long poll up to `wait_s`, whole seconds, at most 20)."""
        kwargs: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": max(1, min(SQS_MAX_BATCH, max_messages)),
            "WaitTimeSeconds": max(0, min(SQS_MAX_WAIT_S, int(wait_s))),
            "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if visibility_timeout_s is not None:
            kwargs["VisibilityTimeout"] = visibility_timeout_s
        with aws.translate_errors():
            response = self._sqs.receive_message(**kwargs)
        return [
            QueueMessage(
                message_id=m["MessageId"],
                receipt_handle=m["ReceiptHandle"],
                body=m["Body"],
                md5_of_body=m.get("MD5OfBody", ""),
                attributes=dict(m.get("Attributes", {})),
                message_attributes=dict(m.get("MessageAttributes", {})),
            )
            for m in response.get("Messages", [])
        ]

    def delete(self, receipt_handles: list[str]) -> list[str]:
        """Delete messages (in batches of 10); returns the receipt handles that failed."""
        failed: list[str] = []
        for start in range(0, len(receipt_handles), SQS_MAX_BATCH):
            chunk = receipt_handles[start : start + SQS_MAX_BATCH]
            entries = [{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(chunk)]
            with aws.translate_errors():
                response = self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            failed += [chunk[int(f["Id"])] for f in response.get("Failed", [])]
        return failed

    def send(self, body: str) -> str:
        with aws.translate_errors():
            return str(self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)["MessageId"])

    def depth(self) -> int:
        """Messages in the queue, visible or in flight (approximate, as SQS reports it)."""
        attrs = self._attributes(["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        return int(attrs.get("ApproximateNumberOfMessages", 0)) + int(
            attrs.get("ApproximateNumberOfMessagesNotVisible", 0)
        )

    def visibility_timeout_s(self) -> int:
        return int(self._attributes(["VisibilityTimeout"]).get("VisibilityTimeout", 30))

    def max_receive_count(self) -> int | None:
        """maxReceiveCount of the queue's RedrivePolicy (None when it has no DLQ)."""
        policy = self._attributes(["RedrivePolicy"]).get("RedrivePolicy")
        return int(json.loads(policy)["maxReceiveCount"]) if policy else None
