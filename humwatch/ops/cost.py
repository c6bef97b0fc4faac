"""What a fleet costs to run on AWS each month, service by service (`humwatch cost`).

Pure arithmetic, no AWS calls: monthly usage = the fleet's shape x this project's own measurements
(`cost_inputs.json`, written by `benchmarks/lambda_functions.py --write-cost-inputs`), priced with the
dated list prices in `cost_prices.json`. What is assumed rather than measured is `Assumptions`,
each field with its reason. Free tiers are left out: they are per account and shared with
whatever else the account runs.

The month is AWS's billing month of 730 hours. Storage is at steady state: after `retention_days`
the bucket holds `retention_days` of clips, and lifecycle rules expire the rest at no charge.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from humwatch.errors import ConfigError

HERE = Path(__file__).resolve().parent
PRICES_FILE = HERE / "cost_prices.json"
INPUTS_FILE = HERE / "cost_inputs.json"
GB = 2**30  # AWS bills storage and log volume in binary gigabytes
DEFAULT_REGION = "us-east-1"
SECONDS_PER_DAY = 86_400


class CostModelError(ConfigError):
    """A fleet that cannot exist, a region without prices, or an unreadable data file."""

    code = "cost_model"


# --- inputs ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fleet:
    """The fleet and the deployment settings that drive the bill (defaults: cdk.json, edge uploader)."""

    devices: int
    interval_s: float = 300.0  # edge capture.interval_s / cdk.json clipIntervalSeconds
    retention_days: int = 90  # cdk.json clipRetentionDays
    heartbeat_interval_s: float = 300.0  # edge telemetry.interval_s
    history_days: int = 90  # cdk.json historyTtlDays (0 keeps items: not modelled, see below)
    log_retention_days: int = 30  # cdk.json logRetentionDays
    report_retention_days: int = 365  # cdk.json reportRetentionDays
    access_log_retention_days: int = 90  # cdk.json accessLogRetentionDays
    archive_after_days: int = 0  # move clips to S3 Glacier Instant Retrieval after this age (0: never)
    tracing: bool = False  # cdk.json tracing: X-Ray active tracing of the functions
    device_defender_audit: bool = True  # cdk.json iotAccountSettings: the stack schedules the audit

    def __post_init__(self) -> None:
        problems = []
        if self.devices < 1:
            problems.append(f"devices must be at least 1 (got {self.devices})")
        for name in ("interval_s", "heartbeat_interval_s"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be more than 0 seconds (got {getattr(self, name)})")
        for name in ("retention_days", "history_days", "log_retention_days", "report_retention_days"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1 day (got {getattr(self, name)})")
        if self.access_log_retention_days < 1:
            problems.append(
                f"access_log_retention_days must be at least 1 (got {self.access_log_retention_days})"
            )
        if self.archive_after_days < 0 or (0 < self.retention_days <= self.archive_after_days):
            problems.append(
                f"archive_after_days ({self.archive_after_days}) must be 0 (off) or less than "
                f"retention_days ({self.retention_days})"
            )
        if problems:
            raise CostModelError("; ".join(problems))


@dataclass(frozen=True)
class Assumptions:
    """What the bill depends on that this project cannot measure on a laptop."""

    # AWS: "cold starts typically occur in under 1% of invocations" (Lambda INIT billing, 2025).
    cold_start_fraction: float = 0.01
    # Models are calibrated to flag 2% of normal clips; flagged clips are also written to the GSI.
    anomaly_fraction: float = 0.02
    # `humwatch simulate-alerts`: 0.28 false alerts per machine-month at the default policy.
    alerts_per_device_month: float = 0.28
    alert_email_subscribers: int = 1
    # The SQS event source long-polls with 5 pollers (20 s waits) even when the queue is empty.
    sqs_pollers: int = 5
    sqs_poll_wait_s: float = 20.0
    # One S3 server access log record per request on the clips bucket.
    s3_access_log_record_bytes: int = 500
    # DynamoDB adds 100 bytes of indexing overhead to every stored item.
    dynamodb_item_overhead_bytes: int = 100
    # Per device besides its clips: registry entry, alert state (0.9 kB), last heartbeat, drift
    # notice times, upload counter (bytes; ~1.45 kB from the item sizes the benchmark reports).
    dynamodb_device_items_bytes: int = 1600
    # Lambda's active tracing samples 1 request per second and 5% of the rest, per function.
    xray_reservoir_per_s: float = 1.0
    xray_fixed_rate: float = 0.05
    # Counted in the CDK stack; tests/infra/test_infra_cost.py fails when the stack changes them.
    alarms: int = 13
    dashboards: int = 1
    kms_keys: int = 1
    # Powertools metric names (humwatch.observability.Metric), Lambda's ColdStart, the stack's
    # metric filters (tests/infra/test_infra_cost.py counts them in the template).
    custom_metrics: int = 18
    # train_model: one run per device and month (a retrain, or the first day's commissioning
    # spread over the device's life), each the duration benchmarks/train_model.py measures for
    # a day of clips, at the deployed memory (cdk.json trainModelMemoryMb).
    train_runs_per_device_month: float = 1.0
    # benchmarks/results/train_model.json: a day of clips (288 x 10 s) on one core, as Lambda at
    # 1769 MB runs it (`one_core_wall_s`).
    train_run_s: float = 8.4
    train_model_memory_mb: int = 1769


@dataclass(frozen=True)
class Prices:
    region: str
    as_of: str
    month_hours: float
    table: Mapping[str, Any]

    @classmethod
    def load(cls, region: str = DEFAULT_REGION, path: Path | None = None) -> Prices:
        data = _read_json(path or PRICES_FILE, "prices")
        regions = data.get("regions", {})
        if region not in regions:
            raise CostModelError(f"no prices for region {region!r} (known: {', '.join(sorted(regions))})")
        table = regions[region]
        if "same_as" in table:
            table = regions[table["same_as"]]
        return cls(
            region=region, as_of=str(data.get("as_of")), month_hours=float(data["month_hours"]), table=table
        )

    def cost(self, name: str, quantity: float) -> float:
        """Price `quantity` (in the unit `name` gives) with the listed volume tiers, if any."""
        return tiered_cost(quantity, self.tiers(name))

    def tiers(self, name: str) -> list[tuple[float | None, float]]:
        try:
            value = self.table[name]
        except KeyError:
            raise CostModelError(f"price {name!r} missing for region {self.region}") from None
        if isinstance(value, int | float):
            return [(None, float(value))]
        return [(None if upto is None else float(upto), float(rate)) for upto, rate in value]

    def rate(self, name: str) -> float:
        """A flat price (the first tier's for tiered ones)."""
        return self.tiers(name)[0][1]


def tiered_cost(quantity: float, tiers: Sequence[tuple[float | None, float]]) -> float:
    """Each tier's rate applies to the part of `quantity` between the previous bound and its own."""
    cost, lower = 0.0, 0.0
    for upto, rate in tiers:
        top = quantity if upto is None else min(quantity, upto)
        cost += max(0.0, top - lower) * rate
        if upto is None or quantity <= upto:
            break
        lower = upto
    return cost


@dataclass(frozen=True)
class MeasuredInputs:
    """`cost_inputs.json`: the values, and where they came from."""

    values: Mapping[str, float]
    measured_at: str
    command: str

    @classmethod
    def load(cls, path: Path | None = None) -> MeasuredInputs:
        data = _read_json(path or INPUTS_FILE, "measured inputs")
        try:
            values = {name: float(entry["value"]) for name, entry in data["values"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise CostModelError(
                f"measured inputs: every value needs a number under 'value' ({exc})"
            ) from None
        return cls(values=values, measured_at=str(data.get("measured_at")), command=str(data.get("command")))

    def __getitem__(self, name: str) -> float:
        try:
            return self.values[name]
        except KeyError:
            raise CostModelError(f"measured input {name!r} missing (rerun the functions benchmark)") from None


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(Path(path).read_text())
    except OSError as exc:
        raise CostModelError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise CostModelError(f"the {what} file {path} is not valid JSON: {exc}") from None
    return data


# --- the estimate ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    """One line of the bill. `fixed` lines cost the same for any number of devices."""

    service: str
    item: str
    quantity: float
    unit: str
    usd: float
    fixed: bool = False


@dataclass(frozen=True)
class Estimate:
    fleet: Fleet
    region: str
    prices_as_of: str
    inputs_measured_at: str
    lines: tuple[Line, ...]
    warnings: tuple[str, ...] = ()

    @property
    def total_usd(self) -> float:
        return sum(line.usd for line in self.lines)

    @property
    def per_device_month_usd(self) -> float:
        return self.total_usd / self.fleet.devices

    def by_service(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for line in self.lines:
            out[line.service] = out.get(line.service, 0.0) + line.usd
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def largest(self, n: int = 3) -> list[Line]:
        return sorted(self.lines, key=lambda line: -line.usd)[:n]

    def as_dict(self) -> dict[str, Any]:
        return {
            "fleet": asdict(self.fleet),
            "region": self.region,
            "prices_as_of": self.prices_as_of,
            "inputs_measured_at": self.inputs_measured_at,
            "total_usd": round(self.total_usd, 4),
            "per_device_month_usd": round(self.per_device_month_usd, 6),
            "by_service": {k: round(v, 4) for k, v in self.by_service().items()},
            "lines": [{**asdict(line), "usd": round(line.usd, 6)} for line in self.lines],
            "warnings": list(self.warnings),
        }


@dataclass
class _Month:
    """The fleet's monthly volumes that several services share."""

    fleet: Fleet
    m: MeasuredInputs
    hours: float
    assume: Assumptions = field(default_factory=Assumptions)

    @cached_property
    def seconds(self) -> float:
        return self.hours * 3600

    @cached_property
    def days(self) -> float:
        return self.hours / 24

    @cached_property
    def clips(self) -> float:
        return self.fleet.devices * self.seconds / self.fleet.interval_s

    @cached_property
    def clips_per_day(self) -> float:
        return self.fleet.devices * SECONDS_PER_DAY / self.fleet.interval_s

    @cached_property
    def heartbeats(self) -> float:
        return self.fleet.devices * self.seconds / self.fleet.heartbeat_interval_s

    @cached_property
    def batch_size(self) -> float:
        """Clips per process_clip invocation: the batching window fills the batch on a busy fleet,
        a quiet one sends each clip on its own."""
        arriving = self.fleet.devices / self.fleet.interval_s * self.m["process_clip_batch_window_s"]
        return min(self.m["process_clip_batch_size"], max(1.0, arriving))

    @cached_property
    def batches(self) -> float:
        return self.clips / self.batch_size

    @cached_property
    def drift_runs(self) -> float:
        return self.days

    @cached_property
    def drift_device_checks(self) -> float:
        return self.drift_runs * self.fleet.devices

    @cached_property
    def s3_puts(self) -> float:
        return self.clips + self.drift_device_checks * self.m["drift_check_s3_puts_per_device"]

    @cached_property
    def s3_gets(self) -> float:
        per_clip = self.clips * self.m["s3_gets_per_clip"]
        return per_clip + self.drift_device_checks * self.m["drift_check_s3_gets_per_device"]


def estimate(
    fleet: Fleet,
    *,
    region: str = DEFAULT_REGION,
    prices: Prices | None = None,
    inputs: MeasuredInputs | None = None,
    assumptions: Assumptions | None = None,
) -> Estimate:
    """The monthly bill of `fleet` in `region`, line by line."""
    prices = prices or Prices.load(region)
    inputs = inputs or MeasuredInputs.load()
    month = _Month(fleet, inputs, prices.month_hours, assumptions or Assumptions())
    lines = [
        *iot_core(month, prices),
        *lambda_functions(month, prices),
        *s3(month, prices),
        *sqs(month, prices),
        *dynamodb(month, prices),
        *sns_and_kms(month, prices),
        *cloudwatch(month, prices),
        *xray(month, prices),
    ]
    return Estimate(
        fleet=fleet,
        region=prices.region,
        prices_as_of=prices.as_of,
        inputs_measured_at=inputs.measured_at,
        lines=tuple(lines),
        warnings=tuple(warnings(month)),
    )


def _split(total: float, parts: Sequence[float]) -> list[float]:
    """Share a tiered total among its parts in proportion to their quantities."""
    whole = sum(parts)
    return [total * p / whole if whole else 0.0 for p in parts]


def iot_core(month: _Month, p: Prices) -> list[Line]:
    """Connection minutes, MQTT messages (5 KB increments) and rule executions.

    Devices send upload requests and heartbeats with Basic Ingest (`$aws/rules/<rule>/...`,
    humwatch.contracts), which IoT Core does not meter as messaging: "You can use Basic Ingest to
    securely send device data to the AWS services supported by AWS IoT rule actions, without
    incurring messaging costs" (AWS IoT Core Developer Guide, "Reducing messaging costs with Basic
    Ingest"); the rule it triggers and its action are billed as usual. So per clip: presign's
    answer published through the iot-data API, and its delivery to the device; a device that
    subscribes to its answers at QoS 1 also sends a PUBACK for each, which IoT Core meters as one
    5 KB message (the edge uploader subscribes at QoS 0: `upload_response_qos`). Per heartbeat: no
    message. Each request and heartbeat triggers its rule and applies one action. With
    `device_defender_audit` the scheduled Device Defender audit is billed per active device.
    """
    m, inc = month.m, p.rate("iot_message_increment_bytes")

    def metered(size: float) -> int:
        return max(1, math.ceil(size / inc))

    puback = 1 if m["upload_response_qos"] >= 1 else 0
    per_clip = 2 * metered(m["upload_response_bytes"]) + puback
    upload_msgs = month.clips * per_clip
    upload_usd = p.cost("iot_messages_per_million", upload_msgs / 1e6)
    minutes = month.fleet.devices * month.hours * 60
    rules = month.clips + month.heartbeats
    rules_usd = (
        rules / 1e6 * (p.rate("iot_rules_triggered_per_million") + p.rate("iot_actions_applied_per_million"))
    )
    return [
        Line(
            "IoT Core",
            "connectivity",
            minutes,
            "minutes",
            p.cost("iot_connectivity_per_million_minutes", minutes / 1e6),
        ),
        Line("IoT Core", f"messages: uploads ({per_clip} per clip)", upload_msgs, "messages", upload_usd),
        Line("IoT Core", "messages: heartbeats (Basic Ingest: free)", month.heartbeats, "messages", 0.0),
        Line("IoT Core", "rules triggered + actions applied", rules, "rules", rules_usd),
        *(
            [
                Line(
                    "IoT Core",
                    "Device Defender audit",
                    month.fleet.devices,
                    "devices",
                    month.fleet.devices * p.rate("iot_device_defender_audit_per_device_month"),
                )
            ]
            if month.fleet.device_defender_audit
            else []
        ),
    ]


def lambda_functions(month: _Month, p: Prices) -> list[Line]:
    """Requests and GB-seconds; a cold start's extra time (billed since August 2025) at the
    assumed cold-start fraction, every daily drift_check run counted as cold."""
    m, cold = month.m, month.assume.cold_start_fraction

    def gb(memory_mb: float) -> float:
        return memory_mb / 1024

    presign = (
        month.clips * (m["presign_warm_s"] + cold * m["presign_cold_extra_s"]) * gb(m["presign_memory_mb"])
    )
    process_s = (
        month.batches * (m["process_clip_batch_fixed_s"] + cold * m["process_clip_cold_extra_s"])
        + month.clips * m["process_clip_per_clip_s"]
    )
    process = process_s * gb(m["process_clip_memory_mb"])
    drift_s = (
        month.drift_runs * m["drift_check_run_fixed_s"]
        + month.drift_device_checks * m["drift_check_per_device_s"]
    )
    drift = drift_s * gb(m["drift_check_memory_mb"])
    a = month.assume
    train_runs = month.fleet.devices * a.train_runs_per_device_month
    train = train_runs * a.train_run_s * gb(a.train_model_memory_mb)
    requests = month.clips + month.batches + month.drift_runs + train_runs
    compute_usd = _split(
        p.cost("lambda_x86_gb_second", presign + process + drift + train), [presign, process, drift, train]
    )
    return [
        Line(
            "Lambda",
            "requests (all functions)",
            requests,
            "requests",
            p.cost("lambda_requests_per_million", requests / 1e6),
        ),
        Line("Lambda", f"presign_upload @ {m['presign_memory_mb']:.0f} MB", presign, "GB-s", compute_usd[0]),
        Line(
            "Lambda",
            f"process_clip @ {m['process_clip_memory_mb']:.0f} MB, {month.batch_size:.1f} clips/batch",
            process,
            "GB-s",
            compute_usd[1],
        ),
        Line(
            "Lambda",
            f"drift_check @ {m['drift_check_memory_mb']:.0f} MB, daily",
            drift,
            "GB-s",
            compute_usd[2],
        ),
        Line(
            "Lambda",
            f"train_model @ {a.train_model_memory_mb} MB, {a.train_runs_per_device_month:g} run/device-month",
            train,
            "GB-s",
            compute_usd[3],
        ),
    ]


def s3(month: _Month, p: Prices) -> list[Line]:
    """Requests, and storage at steady state: clips for their retention (optionally moved to
    Glacier Instant Retrieval, with its per-object transition charge, 90-day minimum and 128 KB
    minimum object size), a drift report per device and day, the server access logs."""
    fleet, m, days = month.fleet, month.m, month.days
    clip_bytes = m["clip_bytes"]
    standard_days = fleet.archive_after_days or fleet.retention_days
    clips_gb = month.clips_per_day * standard_days * clip_bytes / GB
    reports_gb = fleet.devices * fleet.report_retention_days * m["drift_report_bytes"] / GB
    log_records_per_day = (month.s3_puts + month.s3_gets) / days
    logs_gb = (
        log_records_per_day * fleet.access_log_retention_days * month.assume.s3_access_log_record_bytes / GB
    )
    standard_usd = _split(
        p.cost("s3_standard_gb_month", clips_gb + reports_gb + logs_gb), [clips_gb, reports_gb, logs_gb]
    )
    lines = [
        Line(
            "S3",
            "PUT requests (clips, drift reports)",
            month.s3_puts,
            "requests",
            month.s3_puts / 1000 * p.rate("s3_put_per_1000"),
        ),
        Line(
            "S3",
            "GET requests (scoring)",
            month.s3_gets,
            "requests",
            month.s3_gets / 1000 * p.rate("s3_get_per_1000"),
        ),
        Line("S3", f"clip storage, Standard ({standard_days} days)", clips_gb, "GB-month", standard_usd[0]),
    ]
    if fleet.archive_after_days:
        # Each object is billed for at least the minimum duration even when it expires earlier.
        billed_days = max(fleet.retention_days - fleet.archive_after_days, p.rate("s3_glacier_ir_min_days"))
        billed_bytes = max(clip_bytes, p.rate("s3_glacier_ir_min_object_bytes"))
        archive_gb = month.clips * billed_days / days * billed_bytes / GB
        lines += [
            Line(
                "S3",
                f"clip storage, Glacier IR (billed {billed_days:.0f} days)",
                archive_gb,
                "GB-month",
                p.cost("s3_glacier_ir_gb_month", archive_gb),
            ),
            Line(
                "S3",
                "lifecycle transitions to Glacier IR",
                month.clips,
                "requests",
                month.clips / 1000 * p.rate("s3_glacier_ir_transition_per_1000"),
            ),
        ]
    lines += [
        Line(
            "S3",
            f"drift report storage ({fleet.report_retention_days} days)",
            reports_gb,
            "GB-month",
            standard_usd[1],
        ),
        Line(
            "S3",
            f"access log storage ({fleet.access_log_retention_days} days)",
            logs_gb,
            "GB-month",
            standard_usd[2],
        ),
    ]
    return lines


def sqs(month: _Month, p: Prices) -> list[Line]:
    """S3's notification per clip, a receive and a delete per batch, and the event source's
    long polls, which run whether or not clips arrive."""
    rate = p.rate("sqs_requests_per_million")
    requests = month.clips + 2 * month.batches
    idle = month.assume.sqs_pollers * month.seconds / month.assume.sqs_poll_wait_s
    return [
        Line("SQS", "notifications, receives, deletes", requests, "requests", requests / 1e6 * rate),
        Line("SQS", "event source long polls", idle, "requests", idle / 1e6 * rate, fixed=True),
    ]


def _write_units(size: float) -> int:
    return max(1, math.ceil(size / 1024))


def dynamodb(month: _Month, p: Prices) -> list[Line]:
    """On-demand writes and reads as measured per clip, heartbeat items from the telemetry rule,
    presign's per-device upload counter, the drift check's reads, and storage (+ point-in-time
    recovery) of the history kept for `history_days`; anomalous clips are stored twice (the sparse
    GSI projects every attribute)."""
    fleet, m, a = month.fleet, month.m, month.assume
    clip_wru = month.clips * (
        m["write_units_per_clip"] + a.anomaly_fraction * _write_units(m["clip_item_bytes"])
    )
    heartbeat_wru = month.heartbeats * _write_units(m["telemetry_item_bytes"])
    quota_wru = month.clips * m["presign_write_units_per_request"]
    rru = (
        month.clips * m["read_units_per_clip"]
        + month.drift_device_checks * m["drift_check_read_units_per_device"]
    )
    item = m["clip_item_bytes"] + a.dynamodb_item_overhead_bytes
    history_gb = month.clips_per_day * fleet.history_days * item * (1 + a.anomaly_fraction) / GB
    stored_gb = history_gb + fleet.devices * a.dynamodb_device_items_bytes / GB
    wru_rate, rru_rate = p.rate("dynamodb_write_units_per_million"), p.rate("dynamodb_read_units_per_million")
    return [
        Line("DynamoDB", "writes: clip results + alert state", clip_wru, "WRU", clip_wru / 1e6 * wru_rate),
        Line("DynamoDB", "writes: heartbeats", heartbeat_wru, "WRU", heartbeat_wru / 1e6 * wru_rate),
        Line(
            "DynamoDB",
            "writes: upload quota counters (presign)",
            quota_wru,
            "WRU",
            quota_wru / 1e6 * wru_rate,
        ),
        Line("DynamoDB", "reads (scoring, drift check)", rru, "RRU", rru / 1e6 * rru_rate),
        Line(
            "DynamoDB",
            f"storage ({fleet.history_days} days of history)",
            stored_gb,
            "GB-month",
            p.cost("dynamodb_storage_gb_month", stored_gb),
        ),
        Line(
            "DynamoDB",
            "point-in-time recovery",
            stored_gb,
            "GB-month",
            p.cost("dynamodb_pitr_gb_month", stored_gb),
        ),
    ]


def sns_and_kms(month: _Month, p: Prices) -> list[Line]:
    """Alerts (publish + email per subscriber) and the customer managed key of the topics; each
    publish to the encrypted topic is a KMS request, each delivery another."""
    a = month.assume
    alerts = month.fleet.devices * a.alerts_per_device_month
    emails = alerts * a.alert_email_subscribers
    sns_usd = alerts / 1e6 * p.rate("sns_publishes_per_million") + emails / 100_000 * p.rate(
        "sns_email_per_100000"
    )
    kms_requests = alerts * (1 + a.alert_email_subscribers)
    return [
        Line("SNS", "alert publishes + emails", alerts, "alerts", sns_usd),
        Line("KMS", "topic key", a.kms_keys, "keys", a.kms_keys * p.rate("kms_key_month"), fixed=True),
        Line(
            "KMS",
            "key requests (alerts)",
            kms_requests,
            "requests",
            kms_requests / 10_000 * p.rate("kms_requests_per_10000"),
        ),
    ]


def cloudwatch(month: _Month, p: Prices) -> list[Line]:
    """Log ingestion from the bytes each function writes per invocation, clip and device (its
    INFO logs, EMF metrics and Lambda's own lines), storage for the retention (at the ingested
    size: an upper bound, CloudWatch stores it compressed), alarms, the dashboard, custom metrics."""
    fleet, m, a = month.fleet, month.m, month.assume
    log_bytes = (
        month.clips * m["presign_log_bytes"]
        + month.batches * m["process_clip_log_bytes_per_batch"]
        + month.clips * m["process_clip_log_bytes_per_clip"]
        + month.drift_runs * m["drift_check_log_bytes_per_run"]
        + month.drift_device_checks * m["drift_check_log_bytes_per_device"]
    )
    ingest_gb = log_bytes / GB
    stored_gb = ingest_gb * fleet.log_retention_days / month.days
    return [
        Line("CloudWatch", "log ingestion", ingest_gb, "GB", p.cost("logs_ingest_gb", ingest_gb)),
        Line(
            "CloudWatch",
            f"log storage ({fleet.log_retention_days} days)",
            stored_gb,
            "GB-month",
            p.cost("logs_storage_gb_month", stored_gb),
        ),
        Line(
            "CloudWatch",
            "alarms",
            a.alarms,
            "alarms",
            a.alarms * p.rate("cloudwatch_alarm_month"),
            fixed=True,
        ),
        Line(
            "CloudWatch",
            "dashboard",
            a.dashboards,
            "dashboards",
            a.dashboards * p.rate("cloudwatch_dashboard_month"),
            fixed=True,
        ),
        Line(
            "CloudWatch",
            "custom metrics",
            a.custom_metrics,
            "metrics",
            a.custom_metrics * p.rate("cloudwatch_metric_month"),
            fixed=True,
        ),
    ]


def sampled_per_s(rate_per_s: float, assume: Assumptions) -> float:
    """Traces recorded per second by Lambda's fixed sampling (reservoir + a share of the rest)."""
    reservoir = min(rate_per_s, assume.xray_reservoir_per_s)
    return reservoir + assume.xray_fixed_rate * max(0.0, rate_per_s - assume.xray_reservoir_per_s)


def xray(month: _Month, p: Prices) -> list[Line]:
    """Active tracing on every function (when the stack turns it on): presign per clip,
    process_clip per batch, drift daily."""
    if not month.fleet.tracing:
        return []
    a = month.assume
    presign = sampled_per_s(month.clips / month.seconds, a) * month.seconds
    process = sampled_per_s(month.batches / month.seconds, a) * month.seconds
    traces = presign + process + month.drift_runs
    return [
        Line("X-Ray", "traces recorded", traces, "traces", p.cost("xray_traces_per_million", traces / 1e6))
    ]


def warnings(month: _Month) -> list[str]:
    out = []
    per_run = month.m["drift_check_devices_per_run"]
    if month.fleet.devices > per_run:
        out.append(
            f"drift_check checks devices one after another: one run gets through about {per_run:,.0f} "
            f"devices before its timeout (modelled), so at {month.fleet.devices:,} devices it would time out"
        )
    return out
