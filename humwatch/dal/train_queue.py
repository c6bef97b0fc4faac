"""Training requests onto the train_model queue (process_clip when a baseline completes, the CLI
for `humwatch model retrain`)."""

from __future__ import annotations

from typing import Any

from humwatch.contracts import TrainRequest
from humwatch.dal import aws


class TrainQueue:
    def __init__(self, queue_url: str, *, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._sqs = client if client is not None else aws.client("sqs")

    def send(self, request: TrainRequest) -> str:
        with aws.translate_errors():
            response = self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=request.model_dump_json())
        return str(response["MessageId"])
