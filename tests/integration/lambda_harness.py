"""Call the Lambda handlers the way the Lambda service does, against the moto stack.

- `load_handler`: import `functions/<fn>/handler.py` from its file (as the runtime does).
- `receive_lambda_event`: real S3 notifications from the clip queue, shaped as the SQS event
  source mapping delivers them.
- `TopicInbox`: an SQS queue subscribed to an SNS topic, to read what subscribers get.
"""

from __future__ import annotations

import importlib.util
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from humwatch.dal import aws
from humwatch.dal.provisioning import StackResources

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"


@dataclass
class FakeLambdaContext:
    """The context attributes Powertools reads (Lambda passes the real object)."""

    function_name: str = "humwatch-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:humwatch-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def load_handler(function: str) -> Callable[[dict[str, Any], Any], Any]:
    path = FUNCTIONS_DIR / function / "handler.py"
    spec = importlib.util.spec_from_file_location(f"lambda_{function}_{uuid.uuid4().hex[:8]}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler  # type: ignore[no-any-return]


def invoke(handler: Callable[[dict[str, Any], Any], Any], event: dict[str, Any]) -> Any:
    return handler(event, FakeLambdaContext())


def receive_lambda_event(
    stack: StackResources, *, expected: int, timeout_s: float = 10.0, max_batch: int = 10
) -> dict[str, Any]:
    """Receive at least `expected` clip notifications from the clip queue (plus any s3:TestEvent)
    and shape them as the SQS -> Lambda event source would."""
    sqs = aws.client("sqs", endpoint_url=stack.endpoint_url)
    records: list[dict[str, Any]] = []
    clip_count = 0
    deadline = time.monotonic() + timeout_s
    while clip_count < expected and time.monotonic() < deadline and len(records) < max_batch:
        # Short polls: moto's long poll waits for a full batch; notifications are already queued.
        resp = sqs.receive_message(
            QueueUrl=stack.queue_url,
            MaxNumberOfMessages=min(10, max_batch - len(records)),
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        for m in resp.get("Messages", []):
            if "s3:TestEvent" not in m["Body"]:
                clip_count += 1
            records.append(
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": stack.queue_arn,
                    "awsRegion": stack.region,
                }
            )
    assert clip_count >= expected, f"only {clip_count} of {expected} S3 notifications arrived"
    return {"Records": records}


@dataclass
class TopicInbox:
    sqs: Any
    queue_url: str

    def messages(self, wait_s: float = 0.3) -> list[dict[str, Any]]:
        """Every SNS envelope received so far (Subject, Message, MessageAttributes, ...)."""
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + wait_s
        while True:
            resp = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            batch = resp.get("Messages", [])
            for m in batch:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
            if not batch and time.monotonic() >= deadline:
                return out
            if not batch:
                time.sleep(0.1)


def subscribe_inbox(stack: StackResources, topic_arn: str, name: str) -> TopicInbox:
    sqs = aws.client("sqs", endpoint_url=stack.endpoint_url)
    sns = aws.client("sns", endpoint_url=stack.endpoint_url)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return TopicInbox(sqs=sqs, queue_url=url)
