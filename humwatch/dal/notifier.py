"""SNS publishing of alerts and notices, with string message attributes for subscription filters."""

from __future__ import annotations

from typing import Any

from humwatch.dal import aws

SMS_MAX = 1600


class Notifier:
    def __init__(self, *, client: Any | None = None) -> None:
        self._client = client if client is not None else aws.client("sns")

    def publish(self, topic_arn: str, subject: str, body: str, attributes: dict[str, str]) -> str:
        """Publish one message; returns its MessageId. Attributes are String-typed so SMS
        subscriptions can filter on them (e.g. {"severity": ["critical"]})."""
        with aws.translate_errors():
            resp = self._client.publish(
                TopicArn=topic_arn,
                Subject=subject,
                Message=body,
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
                },
            )
        return str(resp["MessageId"])
