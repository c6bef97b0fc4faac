"""Shared integration fixtures: a real moto server (HTTP) and the full humwatch resource set.

`moto_endpoint` starts one ThreadedMotoServer on a free port per session; `aws_stack` provisions
bucket, table (+GSI, TTL), queue (+DLQ, S3 notifications) and topics through the same helper the
local stack uses, and resets the server afterwards so every test starts empty.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lambda_harness import TopicInbox, subscribe_inbox
from moto.server import ThreadedMotoServer
from trained_bundles import TrainedBundles

from humwatch.contracts import ResourceNames
from humwatch.dal import aws
from humwatch.dal.history import HistoryTable
from humwatch.dal.provisioning import StackResources, provision_stack
from humwatch.detectors import DEFAULT_DETECTOR

_FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Base URL of a moto server running in this process (stopped at the end of the session)."""
    saved = {k: os.environ.get(k) for k in _FAKE_AWS_ENV}
    os.environ.update(_FAKE_AWS_ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture
def aws_stack(moto_endpoint: str) -> Iterator[StackResources]:
    """A freshly provisioned resource set on the moto server; the server is reset afterwards."""
    stack = provision_stack(ResourceNames(), endpoint_url=moto_endpoint, region="us-east-1")
    try:
        yield stack
    finally:
        reset_moto(moto_endpoint)


@pytest.fixture
def history(aws_stack: StackResources) -> HistoryTable:
    return HistoryTable(aws_stack.table, client=aws.client("dynamodb", endpoint_url=aws_stack.endpoint_url))


# --- Lambda functions against the moto stack -------------------------------------------------------
@pytest.fixture(scope="session")
def trained_bundles(tmp_path_factory: pytest.TempPathFactory) -> TrainedBundles:
    """Bundles trained on 12 synthetic normal fan clips of 3 s. Clips scored in the tests come from
    the same machine (normal) or carry a fault on top of it."""
    from humwatch.datasets import load_labelled_clips
    from humwatch.research.synth import write_dataset

    root = tmp_path_factory.mktemp("model")
    manifest = write_dataset(root / "clips", n_clips=12, duration_s=3.0, seed=7, machine_type="fan")
    return TrainedBundles(load_labelled_clips([manifest]), root)


@pytest.fixture(scope="session")
def trained_bundle_dir(trained_bundles: TrainedBundles) -> Path:
    """The default detector's bundle: the model a user gets from `humwatch train`."""
    return trained_bundles.dir_for(DEFAULT_DETECTOR)


@pytest.fixture
def functions_env(
    aws_stack: StackResources, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """The functions' environment for this stack (as CDK sets it); a fresh cold start per test."""
    from humwatch.services import wiring

    env = dict(aws_stack.environment())
    env.update(
        {
            "HUMWATCH_IOT_DATA_ENDPOINT": moto_endpoint,
            "HUMWATCH_MODEL_REFRESH_S": "0",
            # The tests below count clips against a 3-of-5 window without the evidence rule; state
            # it rather than rely on the defaults (5 of 8 or evidence 5). The evidence rule has
            # its own test in test_process_clip.py.
            "HUMWATCH_ALERT_K": "3",
            "HUMWATCH_ALERT_N": "5",
            "HUMWATCH_ALERT_EVIDENCE": "0",
            "POWERTOOLS_METRICS_NAMESPACE": "Humwatch",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    yield env
    wiring.reset()


@pytest.fixture
def alert_inbox(aws_stack: StackResources) -> TopicInbox:
    """What an SQS subscriber of the alert topic receives."""
    return subscribe_inbox(aws_stack, aws_stack.alert_topic_arn, "alert-inbox")


DEVICE_POLICY = "humwatch-device-policy"


@pytest.fixture
def iot(aws_stack: StackResources) -> Any:
    """An IoT control-plane client on the moto server, with the stack's device policy created
    (provisioning attaches it to every certificate)."""
    client = aws.client("iot", endpoint_url=aws_stack.endpoint_url, region=aws_stack.region)
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}],
    }
    client.create_policy(policyName=DEVICE_POLICY, policyDocument=json.dumps(document))
    return client
