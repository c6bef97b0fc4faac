"""The few resources only the local stack needs beyond `provisioning.provision_stack`.

- an inbox queue subscribed to the alert and ops topics (in AWS: e-mail/SMS subscriptions);
- a shorter visibility timeout on the clip queue (a failed record retried in seconds, not minutes);
- the device IoT policy in moto's IoT registry (the CDK stack creates it in AWS), so
  `humwatch provision-device` can attach it to a local device's certificate as in AWS.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from humwatch import contracts
from humwatch.dal import aws

# The CDK stack's device policy, with the same policy variables: a thing connects as itself,
# publishes only its own requests and heartbeats, and receives only its own responses.
_THING = "${iot:Connection.Thing.ThingName}"


def device_policy_document(region: str, account: str) -> dict[str, Any]:
    arn = f"arn:aws:iot:{region}:{account}"
    root = contracts.TOPIC_ROOT
    # Devices publish with Basic Ingest only (cdk/humwatch_cdk/ingest_iot.py has the same grants).
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{arn}:client/{_THING}"},
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": [
                    f"{arn}:topic/{contracts.upload_request_ingest_topic(_THING)}",
                    f"{arn}:topic/{contracts.telemetry_ingest_topic(_THING)}",
                ],
            },
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": f"{arn}:topicfilter/{root}/{_THING}/upload/response",
            },
            {
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": f"{arn}:topic/{root}/{_THING}/upload/response",
            },
        ],
    }


class LocalResources:
    def __init__(self, *, endpoint_url: str, region: str) -> None:
        self.endpoint_url = endpoint_url
        self.region = region

    def _client(self, service: str) -> Any:
        return aws.client(service, endpoint_url=self.endpoint_url, region=self.region)

    def set_visibility_timeout(self, queue_url: str, seconds: int) -> None:
        with aws.translate_errors():
            self._client("sqs").set_queue_attributes(
                QueueUrl=queue_url, Attributes={"VisibilityTimeout": str(seconds)}
            )

    def create_inbox(self, name: str, topic_arns: list[str]) -> str:
        """A queue receiving every message of `topic_arns` as SNS envelopes; returns its URL."""
        sqs, sns = self._client("sqs"), self._client("sns")
        with aws.translate_errors():
            url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": arn,
                        "Condition": {"ArnEquals": {"aws:SourceArn": topic_arns}},
                    }
                ],
            }
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
            for topic_arn in topic_arns:
                sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
        return url

    def create_device_policy(self, name: str) -> None:
        iot = self._client("iot")
        with aws.translate_errors():
            account = str(self._client("sts").get_caller_identity()["Account"])
            document = json.dumps(device_policy_document(self.region, account))
            with contextlib.suppress(iot.exceptions.ResourceAlreadyExistsException):
                iot.create_policy(policyName=name, policyDocument=document)
