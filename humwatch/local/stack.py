"""The local stack: the whole humwatch pipeline on one machine, wired the way AWS wires it.

    moto server (S3, SQS, DynamoDB, SNS, IoT, CloudWatch)   resources from ResourceNames/PIPELINE
    mosquitto (mTLS, certificates from a local CA)          plays IoT Core's MQTT broker
    IotRulesEngine                                          plays the IoT rules (presign, telemetry)
    IotDataEndpoint                                         plays the iot-data Publish API
    ConsoleServer                                           plays CloudFront + API Gateway + Cognito
                                                            for the operator console
    SqsEventSource                                          plays Lambda's SQS event source mapping
    Schedule                                                plays the EventBridge drift schedule
    AlertInbox                                              plays the e-mail/SMS subscribers

The Lambda handlers are the real `functions/<fn>/handler.py`, called with AWS-shaped events
and the same environment variables as in AWS (plus `AWS_ENDPOINT_URL`). `LocalStack` is a context
manager; `stop()` (also on Ctrl-C) stops everything it started, in reverse order, and leaves no
process or thread behind.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from humwatch import contracts, pki
from humwatch.config import default_uploads_per_hour
from humwatch.contracts import (
    ENV_ALERT_TOPIC_ARN,
    ENV_BUCKET,
    ENV_IOT_DATA_ENDPOINT,
    ENV_TABLE,
    FUNCTION_RUNTIME_ENV,
)
from humwatch.dal.local_resources import LocalResources
from humwatch.dal.provisioning import StackResources, provision_stack
from humwatch.dal.sqs_queue import SqsQueue
from humwatch.envvars import temporary_environ
from humwatch.local.alert_inbox import AlertInbox, ReceivedAlert
from humwatch.local.console_server import ConsoleServer
from humwatch.local.iot_data_shim import IotDataEndpoint
from humwatch.local.iot_rules import ROUTER_IDENTITY, IotRulesEngine, TopicRule
from humwatch.local.lambda_runtime import LOCAL_ACCOUNT, LocalLambda
from humwatch.local.moto_endpoint import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, MotoEndpoint
from humwatch.local.mqtt_broker import MosquittoBroker
from humwatch.local.s3_outage import S3Outage
from humwatch.local.schedule import Schedule
from humwatch.local.settings import LocalStackOptions
from humwatch.local.sqs_event_source import BatchResult, SqsEventSource
from humwatch.local_stack_file import LocalStackInfo

log = logging.getLogger(__name__)

DRIFT_RULE_NAME = "humwatch-drift-check"
INBOX_QUEUE = "humwatch-local-inbox"
FUNCTIONS = ("presign_upload", "process_clip", "drift_check", "train_model")
CONSOLE_FUNCTION = "console_api"
# Local users' tokens live an hour, as Cognito's: the stack writes fresh ones this often.
CONSOLE_TOKEN_RENEW_S = 1800.0


def device_acl() -> str:
    """Each device may only use its own topics (what the IoT policy grants: Basic Ingest to the two
    rules, its answers); the rules engine's identity may use all of them. `#` does not match topics
    that start with `$`, so the rules engine's Basic Ingest topics are granted by name."""
    root, thing = contracts.TOPIC_ROOT, "%u"
    return (
        f"user {ROUTER_IDENTITY}\n"
        f"topic readwrite {root}/#\n"
        f"topic read {contracts.basic_ingest_topic(contracts.UPLOAD_REQUEST_RULE, '#')}\n"
        f"topic read {contracts.basic_ingest_topic(contracts.TELEMETRY_RULE, '#')}\n\n"
        f"pattern write {contracts.upload_request_ingest_topic(thing)}\n"
        f"pattern write {contracts.telemetry_ingest_topic(thing)}\n"
        f"pattern read {contracts.upload_response_topic(thing)}\n"
    )


@dataclass(frozen=True)
class LocalDevice:
    """What a simulated device needs to connect: its identity and TLS files, the broker address."""

    thing: str
    cert_file: Path
    key_file: Path
    ca_file: Path
    mqtt_host: str
    mqtt_port: int
    directory: Path


EventPrinter = Callable[[str], None]


class LocalStack:
    def __init__(
        self,
        options: LocalStackOptions | None = None,
        *,
        on_event: EventPrinter | None = None,
        on_alert: Callable[[ReceivedAlert], None] | None = None,
    ) -> None:
        self.options = options or LocalStackOptions()
        self.workdir = self.options.workdir.resolve()
        self.on_event = on_event or (lambda line: None)
        self.on_alert = on_alert
        self._exit = ExitStack()
        self._started = False
        self.functions: dict[str, LocalLambda] = {}
        self._telemetry_table: Any = None
        # Only with options.s3_fault_injection (the fleet load test): S3 answers 500 while it is on.
        self.s3_outage: S3Outage | None = None
        # Only with options.console: the operator console's site and API.
        self.console: ConsoleServer | None = None
        self._console_renewal = threading.Event()
        # Set by start():
        self.moto: MotoEndpoint
        self.resources: StackResources
        self.ca: pki.CA
        self.broker: MosquittoBroker
        self.rules: IotRulesEngine
        self.iot_data: IotDataEndpoint
        self.clip_queue: SqsQueue
        self.dlq: SqsQueue
        self.event_source: SqsEventSource
        self.train_queue: SqsQueue
        self.train_event_source: SqsEventSource
        self.inbox: AlertInbox
        self.drift_schedule: Schedule
        self.info: LocalStackInfo

    # --- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalStack:
        if self._started:
            return self
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        """Stop everything in reverse order of start; safe to call twice."""
        self._started = False
        self._exit.close()

    def _start(self) -> None:
        opts = self.options
        self.workdir.mkdir(parents=True, exist_ok=True)
        pki_dir = self.workdir / "pki"

        # AWS: moto, credentials and region for every boto3 client of this process (functions too).
        if opts.s3_fault_injection:
            self.s3_outage = S3Outage()
        self.moto = MotoEndpoint(middleware=self.s3_outage.wrap if self.s3_outage else None).start()
        self._exit.callback(self.moto.stop)
        self._exit.enter_context(
            temporary_environ(
                {
                    "AWS_ENDPOINT_URL": self.moto.url,
                    "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
                    "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
                    "AWS_REGION": opts.region,
                    "AWS_DEFAULT_REGION": opts.region,
                    # Never a real account's session or profile, even by accident.
                    "AWS_SESSION_TOKEN": None,
                    "AWS_PROFILE": None,
                }
            )
        )
        self.resources = provision_stack(
            opts.names, endpoint_url=self.moto.url, region=opts.region, pipeline=opts.pipeline
        )
        local = LocalResources(endpoint_url=self.moto.url, region=opts.region)
        local.set_visibility_timeout(self.resources.queue_url, opts.visibility_timeout_s)
        local.set_visibility_timeout(self.resources.train_queue_url, opts.train_visibility_timeout_s)
        local.create_device_policy(opts.names.iot_policy)
        inbox_url = local.create_inbox(
            INBOX_QUEUE, [self.resources.alert_topic_arn, self.resources.ops_topic_arn]
        )
        res = self.resources
        self.on_event(f"moto server      {self.moto.url}  (bucket {res.bucket}, table {res.table})")

        # MQTT: a CA (kept across restarts so provisioned devices stay valid), broker, rules client.
        self.ca = pki.load_ca(pki_dir) if (pki_dir / "ca.key").is_file() else pki.make_ca(pki_dir)
        server_cert, server_key = pki.issue_server_cert(self.ca, pki_dir)
        router_cert, router_key = pki.issue_cert(self.ca, ROUTER_IDENTITY, pki_dir)
        self.broker = MosquittoBroker(
            self.workdir / "broker",
            ca=self.ca,
            server_cert=server_cert,
            server_key=server_key,
            acl=device_acl() if opts.device_acl else None,
        )
        self.broker.start()
        self._exit.callback(self.broker.stop)
        self.on_event(
            f"{'mosquitto (mTLS)':16} {self.broker.host}:{self.broker.port}  (CA {self.ca.cert_path})"
        )

        # The functions' environment, exactly the variables the CDK stack sets, then cold starts.
        self.rules = IotRulesEngine(
            host=self.broker.host,
            port=self.broker.port,
            ca_file=self.ca.cert_path,
            cert_file=router_cert,
            key_file=router_key,
            rules=[
                TopicRule(
                    contracts.UPLOAD_REQUEST_RULE,
                    contracts.UPLOAD_REQUEST_FILTER,
                    self._presign_action,
                    select=contracts.upload_request_rule_event,
                ),
                TopicRule(contracts.TELEMETRY_RULE, contracts.TELEMETRY_FILTER, self._telemetry_action),
            ],
        )
        self.iot_data = IotDataEndpoint(self.rules.publish).start()
        self._exit.callback(self.iot_data.stop)
        if opts.console:
            # Its ports first: the functions' environment names the console's address.
            self.console = ConsoleServer(media_origin=self.moto.url, site_dir=opts.console_dir)
            self._exit.callback(self.console.stop)
        self._exit.enter_context(temporary_environ(self.function_environ()))
        # The functions' dependencies are cached per execution environment: a new stack is a new
        # cold start (new endpoints), and nothing of it may outlive the stack.
        _reset_function_caches()
        self._exit.callback(_reset_function_caches)
        for name in (*FUNCTIONS, *([CONSOLE_FUNCTION] if self.console else [])):
            timeout = {
                "presign_upload": opts.pipeline.presign_timeout_s,
                "process_clip": opts.pipeline.process_clip_timeout_s,
                "drift_check": opts.pipeline.drift_check_timeout_s,
                "train_model": opts.pipeline.train_model_timeout_s,
                CONSOLE_FUNCTION: opts.pipeline.console_api_timeout_s,
            }[name]
            fn = LocalLambda(name, timeout_s=timeout, region=opts.region, functions_dir=opts.functions_dir)
            fn.load()
            self.functions[name] = fn

        # Event routing.
        self.rules.start()
        self._exit.callback(self.rules.stop)

        self.clip_queue = SqsQueue(self.resources.queue_url, endpoint_url=self.moto.url, region=opts.region)
        self.dlq = SqsQueue(self.resources.dlq_url, endpoint_url=self.moto.url, region=opts.region)
        self.train_queue = SqsQueue(
            self.resources.train_queue_url, endpoint_url=self.moto.url, region=opts.region
        )
        # One request per invocation, as the deployed event source mapping (batch size 1).
        self.train_event_source = SqsEventSource(
            self.train_queue,
            self.functions["train_model"].invoke,
            batch_size=1,
            batch_window_s=0,
            region=opts.region,
            on_batch=self._on_training,
            name="train-model-poller",
        ).start()
        self._exit.callback(self.train_event_source.stop)
        self.event_source = SqsEventSource(
            self.clip_queue,
            self.functions["process_clip"].invoke,
            batch_size=opts.pipeline.clip_batch_size,
            batch_window_s=opts.effective_batch_window_s,
            region=opts.region,
            on_batch=self._on_batch,
            name="process-clip-poller",
        ).start()
        self._exit.callback(self.event_source.stop)

        self.inbox = AlertInbox(
            SqsQueue(inbox_url, endpoint_url=self.moto.url, region=opts.region),
            self.workdir / "inbox",
            on_alert=self.on_alert,
        ).start()
        self._exit.callback(self.inbox.stop)

        self.drift_schedule = Schedule(
            self.functions["drift_check"].invoke,
            interval_s=opts.drift_interval_s,
            rule_name=DRIFT_RULE_NAME,
            region=opts.region,
            account=LOCAL_ACCOUNT,
            on_result=self._on_drift_result,
        )
        if opts.drift_interval_s > 0:
            self.drift_schedule.start()
            self._exit.callback(self.drift_schedule.stop)

        if self.console is not None:
            self.console.start(self.functions[CONSOLE_FUNCTION].invoke)
            # Stop serving first on the way down, while the function's environment still stands.
            self._exit.callback(self.console.stop)
            self.on_event(f"{'console':16} {self.console.console_url}  (API {self.console.api_url})")

        self.info = LocalStackInfo(
            pid=os.getpid(),
            started_at=contracts.format_timestamp(datetime.now(UTC)),
            region=opts.region,
            endpoint_url=self.moto.url,
            table=self.resources.table,
            bucket=self.resources.bucket,
            iot_policy=opts.names.iot_policy,
            mqtt_host=self.broker.host,
            mqtt_port=self.broker.port,
            ca_file=str(self.ca.cert_path),
            ca_key_file=str(self.ca.key_path),
            alert_topic_arn=self.resources.alert_topic_arn,
            ops_topic_arn=self.resources.ops_topic_arn,
            clip_queue_url=self.resources.queue_url,
            clip_dlq_url=self.resources.dlq_url,
            train_queue_url=self.resources.train_queue_url,
            train_dlq_url=self.resources.train_dlq_url,
            iot_data_http_endpoint=self.iot_data.url,
            inbox_dir=str(self.inbox.directory),
            devices_dir=str(self.workdir / "devices"),
            **self._console_info(),
        )
        state_file = self.info.write(self.workdir)
        self._exit.callback(state_file.unlink, missing_ok=True)
        if self.console is not None:
            self._console_renewal.clear()
            renewal = threading.Thread(target=self._renew_console_tokens, name="console-tokens", daemon=True)
            renewal.start()
            self._exit.callback(renewal.join, timeout=5)
            self._exit.callback(self._console_renewal.set)

    def _console_info(self) -> dict[str, Any]:
        if self.console is None:
            return {}
        return {
            "console_url": self.console.console_url,
            "console_api_url": self.console.api_url,
            "console_tokens": self.console.user_tokens(),
            "console_users": dict(self.console.passwords),
        }

    def _renew_console_tokens(self) -> None:
        """Keep local-stack.json's bearer tokens valid while the stack runs (they live an hour)."""
        while not self._console_renewal.wait(CONSOLE_TOKEN_RENEW_S):
            self.info = self.info.model_copy(update=self._console_info())
            self.info.write(self.workdir)

    # --- environment ------------------------------------------------------------------------------
    def function_environ(self) -> dict[str, str]:
        """The functions' environment: the variables the CDK stack sets, pointed at this stack."""
        opts = self.options
        env = {
            ENV_BUCKET: self.resources.bucket,
            ENV_TABLE: self.resources.table,
            ENV_ALERT_TOPIC_ARN: self.resources.alert_topic_arn,
            ENV_IOT_DATA_ENDPOINT: self.iot_data.url,
            # botocore's per-service endpoint variable: any iot-data client reaches the shim.
            "AWS_ENDPOINT_URL_IOT_DATA": self.iot_data.url,
            "HUMWATCH_OPS_TOPIC_ARN": self.resources.ops_topic_arn,
            contracts.ENV_TRAIN_QUEUE_URL: self.resources.train_queue_url,
            "HUMWATCH_MAX_CLIP_BYTES": str(opts.pipeline.max_clip_bytes),
            "HUMWATCH_URL_EXPIRY_S": str(opts.pipeline.url_expiry_s),
            # Devices run at accelerated intervals here (the demo: 2 s): a quota for one clip a
            # second (3x: 10,800 an hour), not AWS's 300 s. `function_env` can set another.
            "HUMWATCH_MAX_UPLOADS_PER_HOUR": str(default_uploads_per_hour(1)),
            "HUMWATCH_TRAIN_LEASE_S": str(opts.train_visibility_timeout_s - 10),
            **self._console_environ(),
            **FUNCTION_RUNTIME_ENV,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "false" if opts.emit_metrics else "true",
            "POWERTOOLS_LOG_LEVEL": opts.log_level,
        }
        env.update(opts.function_env)
        return env

    def _console_environ(self) -> dict[str, str]:
        """console_api answers CORS for the console's origin; alerts link to the console."""
        if self.console is None:
            return {}
        return {
            contracts.ENV_CONSOLE_ORIGIN: self.console.console_url,
            contracts.ENV_CONSOLE_URL: self.console.console_url,
        }

    # --- rule actions -------------------------------------------------------------------------------
    def _presign_action(self, event: dict[str, Any]) -> Any:
        return self.functions["presign_upload"].invoke(event)

    def _telemetry_action(self, event: dict[str, Any]) -> None:
        """What the IoT rule's DynamoDBv2 action writes: the heartbeat as sent, per device."""
        from humwatch.dal.history import HistoryTable

        if self._telemetry_table is None:
            self._telemetry_table = HistoryTable(self.resources.table)
        thing = str(event.pop("thing"))
        self._telemetry_table.telemetry.put(thing, event)

    def _on_batch(self, result: BatchResult) -> None:
        failed = f", {len(result.failed_ids)} failed" if result.failed_ids else ""
        error = f" ({result.error})" if result.error else ""
        self.on_event(
            f"process_clip     batch of {result.size}{failed} in {result.duration_ms:.0f} ms{error}"
        )

    def _on_training(self, result: BatchResult) -> None:
        failed = f", failed ({result.error or 'retried later'})" if result.failed_ids else ""
        self.on_event(f"train_model      request done in {result.duration_ms / 1000:.1f} s{failed}")

    def _on_drift_result(self, result: Any) -> None:
        if isinstance(result, dict):
            drifted = ", ".join(result.get("drifted") or []) or "none"
            silent = ", ".join(result.get("silent") or []) or "none"
            devices = result.get("devices", "?")
            self.on_event(f"drift_check      {devices} device(s); drifted: {drifted}; silent: {silent}")

    # --- helpers for the demo and tests ---------------------------------------------------------------
    def provision_device(self, thing: str) -> LocalDevice:
        """A certificate for `thing` from the local CA (CN = thing name, as IoT Core's client id)."""
        if not contracts.is_valid_thing_name(thing):
            raise ValueError(f"invalid thing name {thing!r}")
        directory = self.workdir / "devices" / thing
        cert, key = pki.issue_cert(self.ca, thing, directory)
        return LocalDevice(
            thing=thing,
            cert_file=cert,
            key_file=key,
            ca_file=self.ca.cert_path,
            mqtt_host=self.broker.host,
            mqtt_port=self.broker.port,
            directory=directory,
        )

    def run_drift_check(self) -> Any:
        """Run the scheduled drift check now (what the EventBridge rule does daily)."""
        return self.drift_schedule.trigger()

    def wait_until_drained(self, timeout_s: float = 60.0) -> bool:
        """Every clip event processed (queue empty, no batch in flight)."""
        return self.event_source.wait_drained(timeout_s)

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(interval_s)
        return predicate()

    def threads(self) -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t is not threading.current_thread()]


def _reset_function_caches() -> None:
    from humwatch.services import wiring

    wiring.reset()
