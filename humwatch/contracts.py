"""The contracts between the parts: MQTT topics and payloads, S3 keys, table keys, resource names.

One definition, imported by the Lambda logic, the local stack, the operator CLI and the CDK app,
so the cloud and the laptop cannot drift apart. The edge uploader is a separate package with few
dependencies; it mirrors the topic and payload shapes and its integration tests check them
against this module.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

# --- MQTT topics -------------------------------------------------------------------------------
TOPIC_ROOT = "humwatch"
THING_NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"  # subset of IoT thing names that is safe in keys/topics
_THING_RE = re.compile(rf"^{THING_NAME_PATTERN}$")


def upload_request_topic(thing: str) -> str:
    return f"{TOPIC_ROOT}/{thing}/upload/request"


def upload_response_topic(thing: str) -> str:
    return f"{TOPIC_ROOT}/{thing}/upload/response"


def telemetry_topic(thing: str) -> str:
    return f"{TOPIC_ROOT}/{thing}/telemetry"


UPLOAD_REQUEST_FILTER = f"{TOPIC_ROOT}/+/upload/request"
TELEMETRY_FILTER = f"{TOPIC_ROOT}/+/telemetry"

# Devices send upload requests and heartbeats with AWS IoT Basic Ingest: a publish to
# `$aws/rules/<rule>/<topic>` goes to that one rule, skipping the message broker, and IoT Core bills
# no messaging for it (only the rule and its action). The rule still sees `<topic>`: its FROM and
# `topic(2)` (the thing) are those of the plain topic. Devices address the rules by name, so the
# names are fixed; IoT rule names, like the device policy's, are unique per account and region,
# hence one humwatch stack per account and region (docs/deploy.md).
BASIC_INGEST_PREFIX = "$aws/rules/"
UPLOAD_REQUEST_RULE = "humwatch_upload_request"
TELEMETRY_RULE = "humwatch_telemetry"


def basic_ingest_topic(rule: str, topic: str) -> str:
    return f"{BASIC_INGEST_PREFIX}{rule}/{topic}"


def upload_request_ingest_topic(thing: str) -> str:
    """Where a device publishes its upload request: Basic Ingest to the upload-request rule."""
    return basic_ingest_topic(UPLOAD_REQUEST_RULE, upload_request_topic(thing))


def telemetry_ingest_topic(thing: str) -> str:
    """Where a device publishes its heartbeat: Basic Ingest to the telemetry rule."""
    return basic_ingest_topic(TELEMETRY_RULE, telemetry_topic(thing))


def is_valid_thing_name(thing: str) -> bool:
    return bool(_THING_RE.match(thing))


def thing_from_topic(topic: str) -> str:
    """`humwatch/{thing}/...` -> thing. The thing name is only ever taken from the topic."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != TOPIC_ROOT or not is_valid_thing_name(parts[1]):
        raise ValueError(f"not a humwatch device topic: {topic!r}")
    return parts[1]


# --- Payloads ----------------------------------------------------------------------------------
CONTENT_TYPES: dict[str, str] = {"audio/flac": "flac", "audio/wav": "wav", "audio/x-wav": "wav"}
AUDIO_SUFFIXES: tuple[str, ...] = (".flac", ".wav")


class UploadRequest(BaseModel):
    """Device -> cloud on `humwatch/{thing}/upload/request` (through Basic Ingest)."""

    model_config = ConfigDict(extra="ignore")

    clip_id: uuid.UUID
    captured_at: datetime
    content_type: str
    size: int = Field(gt=0)
    md5: str  # base64 of the 16-byte MD5 digest, as the Content-MD5 header carries it
    sample_rate: int = Field(default=16000, gt=0)
    duration_s: float = Field(default=10.0, gt=0)


# The IoT rule that hands upload requests to presign_upload selects the contract's fields by name
# and adds the thing from the topic: a `thing` field a device puts in its payload never reaches the
# function. The local stack applies the same projection (`upload_request_rule_event`).
UPLOAD_REQUEST_FIELDS: tuple[str, ...] = tuple(UploadRequest.model_fields)
UPLOAD_REQUEST_RULE_SQL = (
    f"SELECT {', '.join(UPLOAD_REQUEST_FIELDS)}, topic(2) AS thing FROM '{UPLOAD_REQUEST_FILTER}'"
)


def upload_request_rule_event(topic: str, payload: dict[str, object]) -> dict[str, object]:
    """What the upload-request rule hands its action: the contract's fields plus the topic's thing."""
    event = {name: payload[name] for name in UPLOAD_REQUEST_FIELDS if name in payload}
    event["thing"] = thing_from_topic(topic)
    return event


class UploadResponse(BaseModel):
    """Cloud -> device on `humwatch/{thing}/upload/response` (success)."""

    clip_id: str
    url: str
    headers: dict[str, str]
    key: str
    expires_at: str


class ErrorBody(BaseModel):
    code: str
    message: str
    # Only with `quota_exceeded`: seconds until the device's next hour of uploads starts.
    retry_after_s: int | None = None


class UploadError(BaseModel):
    """Cloud -> device on `humwatch/{thing}/upload/response` (refusal)."""

    clip_id: str | None
    error: ErrorBody


class Telemetry(BaseModel):
    """Device -> cloud heartbeat on `humwatch/{thing}/telemetry` (through Basic Ingest; every 5
    minutes by default)."""

    model_config = ConfigDict(extra="allow")

    sent_at: str
    version: str
    spool_clips: int
    spool_bytes: int
    dropped_clips: int
    disk_free_bytes: int
    last_upload_at: str | None = None
    last_error: str | None = None


class TrainReason(StrEnum):
    BASELINE = "baseline"  # the device's baseline completed (process_clip)
    RETRAIN = "retrain"  # an operator asked (`humwatch model retrain`)


class TrainRequest(BaseModel):
    """process_clip / the CLI -> train_model, one SQS message per request.

    `request_id` makes a request idempotent: a retried or duplicated message trains once. `until`
    fixes the window, so a retry after a killed run trains on the same clips."""

    model_config = ConfigDict(extra="forbid")

    thing: str = Field(pattern=rf"^{THING_NAME_PATTERN}$")
    request_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    reason: TrainReason
    since: datetime
    until: datetime
    requested_at: datetime


# --- S3 keys -----------------------------------------------------------------------------------
CLIPS_PREFIX = "clips/"
MODELS_PREFIX = "models/"
DRIFT_REPORTS_PREFIX = "reports/drift/"


def format_timestamp(ts: datetime) -> str:
    """RFC3339 UTC with a Z and whole seconds: sortable, and safe in keys and sort keys."""
    if ts.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        raise ValueError(f"timestamp without a timezone: {text!r}")
    return ts.astimezone(UTC)


def clip_key(thing: str, captured_at: datetime, clip_id: uuid.UUID | str, ext: str) -> str:
    """`clips/{thing}/{yyyy}/{mm}/{dd}/{captured_at}_{clip_id}.{ext}`."""
    if not is_valid_thing_name(thing):
        raise ValueError(f"invalid thing name {thing!r}")
    ts = captured_at.astimezone(UTC)
    return (
        f"{CLIPS_PREFIX}{thing}/{ts:%Y}/{ts:%m}/{ts:%d}/"
        f"{format_timestamp(ts)}_{uuid.UUID(str(clip_id))}.{ext}"
    )


class ClipKey(BaseModel):
    thing: str
    captured_at: datetime
    clip_id: str
    ext: str


_CLIP_KEY_RE = re.compile(
    rf"^{CLIPS_PREFIX}(?P<thing>{THING_NAME_PATTERN})/\d{{4}}/\d{{2}}/\d{{2}}/"
    r"(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)_(?P<clip_id>[0-9a-f-]{36})\.(?P<ext>flac|wav)$"
)


def parse_clip_key(key: str) -> ClipKey:
    m = _CLIP_KEY_RE.match(key)
    if not m:
        raise ValueError(f"not a humwatch clip key: {key!r}")
    return ClipKey(thing=m["thing"], captured_at=parse_timestamp(m["ts"]), clip_id=m["clip_id"], ext=m["ext"])


def model_prefix(model_id: str, version: str) -> str:
    return f"{MODELS_PREFIX}{model_id}/{version}/"


def device_model_id(thing: str) -> str:
    """The model a device learns for itself is published under the device's own name."""
    return thing


GATE_REPORT_FILE = "gate-report.json"


def gate_report_key(model_id: str, version: str) -> str:
    return model_prefix(model_id, version) + GATE_REPORT_FILE


def drift_report_key(day: str, thing: str) -> str:
    return f"{DRIFT_REPORTS_PREFIX}{day}/{thing}.json"


# --- History table (single-table design, see docs/architecture.md) ------------------------------
PK = "pk"
SK = "sk"
ANOMALY_INDEX = "anomalies-by-day"
ANOMALY_INDEX_PK = "gsi1pk"
ANOMALY_INDEX_SK = "gsi1sk"
TTL_ATTRIBUTE = "ttl"

REGISTRY_PK = "registry"
STATE_SK = "state"
TELEMETRY_SK = "telemetry"
DRIFT_NOTICES_SK = "drift-notices"
DEFAULT_MODEL_SK = "default-model"


def device_pk(thing: str) -> str:
    return f"device#{thing}"


def clip_sk(captured_at: datetime, clip_id: str) -> str:
    return f"clip#{format_timestamp(captured_at)}#{clip_id}"


def anomaly_index_pk(captured_at: datetime) -> str:
    return f"anomaly#{captured_at.astimezone(UTC):%Y-%m-%d}"


def anomaly_index_sk(captured_at: datetime, thing: str, clip_id: str) -> str:
    return f"{format_timestamp(captured_at)}#{thing}#{clip_id}"


UPLOAD_QUOTA_SK_PREFIX = "quota#"


def upload_quota_sk(at: datetime) -> str:
    """The per-device upload counter of the clock hour (UTC) that holds `at`."""
    return f"{UPLOAD_QUOTA_SK_PREFIX}{at.astimezone(UTC):%Y-%m-%dT%H}"


def registry_device_sk(thing: str) -> str:
    return f"device#{thing}"


def registry_model_sk(model_id: str) -> str:
    return f"model#{model_id}"


CANDIDATE_SK_PREFIX = "candidate#"


def candidate_sk(thing: str, version: str) -> str:
    return f"{CANDIDATE_SK_PREFIX}{thing}#{version}"


def training_run_sk(request_id: str) -> str:
    """Under pk `device#{thing}`: the claim that makes one training request run once."""
    return f"train#{request_id}"


# --- Resource names shared by the CDK stack and the local stack ---------------------------------
class ResourceNames(BaseModel):
    """Physical names used by the local stack; CDK lets CloudFormation name things and passes the
    generated names to the functions through the same environment variables."""

    bucket: str = "humwatch-clips"
    table: str = "humwatch-history"
    clip_queue: str = "humwatch-clip-events"
    clip_dlq: str = "humwatch-clip-events-dlq"
    alert_topic: str = "humwatch-alerts"
    ops_topic: str = "humwatch-ops"
    train_queue: str = "humwatch-train-requests"
    train_dlq: str = "humwatch-train-requests-dlq"
    iot_policy: str = "humwatch-device-policy"


class StackOutput(StrEnum):
    """CloudFormation output keys of the deployed stack: the CDK app declares exactly these and the
    operator commands (`humwatch.ops.settings`) read exactly these, so neither side guesses."""

    BUCKET = "ClipsBucketName"
    TABLE = "HistoryTableName"
    ALERT_TOPIC_ARN = "AlertTopicArn"
    OPS_TOPIC_ARN = "OpsTopicArn"
    DEVICE_POLICY = "DevicePolicyName"
    # Hints for people, not values: the ATS endpoint is only known to the deployed account.
    IOT_ENDPOINT_COMMAND = "IotEndpointCommand"
    PROVISION_DEVICE_COMMAND = "ProvisionDeviceCommand"
    DASHBOARD = "DashboardName"
    TRAIN_QUEUE_URL = "TrainQueueUrl"
    # The operator console (only when cdk.json's `console` is on, the default).
    CONSOLE_URL = "ConsoleUrl"
    CONSOLE_API_URL = "ConsoleApiUrl"
    CONSOLE_USER_POOL_ID = "ConsoleUserPoolId"
    CONSOLE_USER_POOL_CLIENT_ID = "ConsoleUserPoolClientId"


# Environment variables read by humwatch.config (Lambda and local stack alike).
ENV_BUCKET = "HUMWATCH_BUCKET"
ENV_TABLE = "HUMWATCH_TABLE"
ENV_ALERT_TOPIC_ARN = "HUMWATCH_ALERT_TOPIC_ARN"
ENV_IOT_DATA_ENDPOINT = "HUMWATCH_IOT_DATA_ENDPOINT"
ENV_TRAIN_QUEUE_URL = "HUMWATCH_TRAIN_QUEUE_URL"
ENV_CONSOLE_ORIGIN = "HUMWATCH_CONSOLE_ORIGIN"  # console_api: the only origin CORS allows
ENV_CONSOLE_URL = "HUMWATCH_CONSOLE_URL"  # process_clip: alerts link to the clip's console page


# --- The operator console (docs/console.md) -------------------------------------------------------
# Cognito groups (locally: the token stand-in's): viewers read and listen, operators also write.
CONSOLE_VIEWERS = "viewers"
CONSOLE_OPERATORS = "operators"
# The console API's routes as API Gateway names them (`METHOD /path/{param}`): the CDK app
# declares exactly these with the JWT authorizer, the local API server matches exactly these, and
# the function's resolver serves exactly these (tests/unit/test_console_routes.py checks).
CONSOLE_API_ROUTES: tuple[str, ...] = (
    "GET /me",
    "GET /devices",
    "GET /devices/{thing}",
    "GET /devices/{thing}/clips",
    "GET /devices/{thing}/clips/{clip_id}",
    "POST /devices/{thing}/clips/{clip_id}/label",
    "POST /devices/{thing}/ack",
    "GET /models",
    "GET /devices/{thing}/candidates",
    "POST /devices/{thing}/promote",
    "POST /devices/{thing}/rollback",
)


class PipelineSettings(BaseModel):
    """Queue and function settings shared by the CDK stack and the local stack's dispatcher, so
    retries, batching and dead-lettering behave the same on a laptop and in AWS."""

    clip_batch_size: int = 10
    clip_batch_window_s: int = 5
    process_clip_timeout_s: int = 60
    # AWS recommends a visibility timeout of at least 6x the function timeout for SQS sources.
    clip_queue_visibility_timeout_s: int = 360
    clip_max_receive_count: int = 5
    process_clip_max_concurrency: int = 10
    presign_timeout_s: int = 10
    # Lambda's maximum: one run checks every device in turn (~15,000 at one vCPU, modelled).
    drift_check_timeout_s: int = 900
    url_expiry_s: int = 600
    max_clip_bytes: int = 5_000_000
    # train_model: one request per invocation (a training run is minutes of one device's clips);
    # 15 minutes covers training on 288 clips plus a 14-day replay (benchmarks/train_model.py).
    train_model_timeout_s: int = 900
    train_queue_visibility_timeout_s: int = 5400  # 6x the timeout, as for the clip queue
    train_max_receive_count: int = 3
    # console_api answers a person waiting in a browser: API Gateway gives up on it after 29 s.
    console_api_timeout_s: int = 29


PIPELINE = PipelineSettings()


# Environment every function runs with, deployed (cdk) and local (the local stack), on top of its
# own settings. Pydantic looks for plugins through every installed package's entry points on the
# first model it builds (10 ms of each cold start); humwatch uses none.
FUNCTION_RUNTIME_ENV: dict[str, str] = {
    "POWERTOOLS_SERVICE_NAME": "humwatch",
    "POWERTOOLS_METRICS_NAMESPACE": "Humwatch",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
}
