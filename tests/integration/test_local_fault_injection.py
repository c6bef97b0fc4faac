"""The fleet load test's fault hooks against real parts: the S3 outage in front of a moto server
(boto3 and a presigned URL both get S3's 500, other services do not), and a process_clip batch
killed by a real SIGKILL in a child process, then redelivered."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import soundfile as sf
from botocore.exceptions import ClientError
from lambda_harness import invoke, load_handler, receive_lambda_event
from trained_bundles import TrainedBundles

from humwatch import contracts as c
from humwatch.dal import aws
from humwatch.dal.history import HistoryTable
from humwatch.dal.model_store import ModelStore
from humwatch.dal.provisioning import StackResources
from humwatch.detectors import DEFAULT_DETECTOR
from humwatch.local.killed_invocation import InvocationKilled, KillNextBatch
from humwatch.local.moto_endpoint import MotoEndpoint
from humwatch.local.s3_outage import S3Outage
from humwatch.research.synth import MachineSpec, synth_clip

THING = "fan-kill"


@pytest.fixture
def outage_endpoint(moto_endpoint: str) -> Iterator[tuple[MotoEndpoint, S3Outage]]:
    """A second moto server with the outage in front. moto's state is per process, so it must not
    reset it (the session's server shares it)."""
    outage = S3Outage()
    endpoint = MotoEndpoint(reset=False, middleware=outage.wrap).start()
    try:
        yield endpoint, outage
    finally:
        endpoint.stop()


def test_during_an_s3_outage_boto3_and_presigned_puts_get_500_and_other_services_do_not(
    outage_endpoint: tuple[MotoEndpoint, S3Outage],
) -> None:
    # Given a bucket and a queue behind the outage hook
    endpoint, outage = outage_endpoint
    s3 = aws.client("s3", endpoint_url=endpoint.url)
    sqs = aws.client("sqs", endpoint_url=endpoint.url)
    bucket = f"outage-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(QueueName=f"outage-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "clips/a.flac"}, ExpiresIn=60
    )
    # When S3 is out
    outage.begin(60)
    # Then boto3's PUT (after its own retries) and a device's presigned PUT both get S3's 500 ...
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=bucket, Key="clips/b.flac", Body=b"x")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert raised.value.response["Error"]["Code"] == "InternalError"
    with pytest.raises(urllib.error.HTTPError) as http_error:
        urllib.request.urlopen(urllib.request.Request(url, data=b"y" * 5000, method="PUT"), timeout=10)
    assert http_error.value.code == 500
    # ... while SQS answers as usual
    sqs.send_message(QueueUrl=queue_url, MessageBody="still here")
    # When it is over, S3 works again, and nothing refused was stored
    outage.end()
    s3.put_object(Bucket=bucket, Key="clips/c.flac", Body=b"z")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["clips/c.flac"]
    assert outage.refused["PUT"] >= 2


def clip_bytes(seed: int) -> bytes:
    buf = io.BytesIO()
    samples = synth_clip(MachineSpec.from_seed("fan", 0), seed=5000 + seed, duration_s=3.0)
    sf.write(buf, np.asarray(samples), 16000, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


@pytest.mark.timeout(120)
def test_a_batch_killed_midway_keeps_what_it_wrote_and_its_redelivery_completes_each_clip_once(
    aws_stack: StackResources,
    functions_env: dict[str, str],
    history: HistoryTable,
    trained_bundles: TrainedBundles,
) -> None:
    # Given a published model and three uploaded clips whose notifications make one batch
    store = ModelStore(aws_stack.bucket, client=aws.client("s3", endpoint_url=aws_stack.endpoint_url))
    store.publish_dir(trained_bundles.dir_for(DEFAULT_DETECTOR), "fan-test", history, make_default=True)
    s3 = aws.client("s3", endpoint_url=aws_stack.endpoint_url)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    clip_ids = []
    for i in range(3):
        clip_id = str(uuid.uuid4())
        key = c.clip_key(THING, start + timedelta(minutes=i), clip_id, "flac")
        s3.put_object(Bucket=aws_stack.bucket, Key=key, Body=clip_bytes(i), ContentType="audio/flac")
        clip_ids.append(clip_id)
    event = receive_lambda_event(aws_stack, expected=3)
    handler = load_handler("process_clip")
    killer = KillNextBatch(lambda e: invoke(handler, e), after_items=1)
    killer.arm()

    # When the armed batch runs: its child process is SIGKILLed right after its first clip item
    with pytest.raises(InvocationKilled):
        killer(event)

    # Then that item stays written, the others are not, and the wrapper has disarmed
    assert len(list(history.clips.query(THING))) == 1
    assert len(killer.killed) == 1 and not killer.armed

    # When the same records come back after the visibility timeout and run normally
    assert killer(event) == {"batchItemFailures": []}

    # Then every clip has exactly one item, and the alert state counted each clip once
    assert sorted(r.clip_id for r in history.clips.query(THING)) == sorted(clip_ids)
    state = history.alert_states.get(THING)
    assert state is not None
    assert sorted(flag.clip_id for flag in state.alert.recent) == sorted(clip_ids)
