"""cdk-nag acknowledgements: each names one finding on one construct and says why it is acceptable.

cdk-nag 3 reports a wildcard finding per resource string (`AwsSolutions-IAM5[Resource::...]`), so
each object-prefix grant is acknowledged by its exact ARN pattern: a new wildcard elsewhere still
fails synth.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

from humwatch.contracts import CLIPS_PREFIX, DRIFT_REPORTS_PREFIX, MODELS_PREFIX
from humwatch_cdk.function import HumwatchFunction
from humwatch_cdk.iot_account import AUDIT_ITEM_ACTIONS, DeviceDefenderAudit

PACK = "AwsSolutions"
# CDK's singleton that applies S3 bucket notifications (a CloudFormation custom resource).
BUCKET_NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"

XRAY_REASON = (
    "Active X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level "
    "permissions, so AWS requires Resource '*' for them; they are the only actions on '*' (tests check)."
)
RUNTIME_REASON = (
    "python3.12 is pinned on purpose: the dependency layer is built by pip for cp312 wheels "
    "(onnxruntime, numpy, soundfile), so the runtime and the layer must change together."
)


@dataclass(frozen=True)
class Acknowledgement:
    construct_path: str
    rule: str
    reason: str


ACKNOWLEDGEMENTS: list[Acknowledgement] = []


def _ack(construct: IConstruct, rule: str, reason: str) -> None:
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=f"{PACK}::{rule}", reason=reason))
    ACKNOWLEDGEMENTS.append(Acknowledgement(construct.node.path, rule, reason))


def _objects(stack: cdk.Stack, bucket: s3.Bucket, prefix: str) -> str:
    logical_id = stack.get_logical_id(bucket.node.default_child)  # type: ignore[arg-type]
    return f"Resource::<{logical_id}.Arn>/{prefix}*"


def acknowledge_findings(
    stack: cdk.Stack,
    *,
    bucket: s3.Bucket,
    presign: HumwatchFunction,
    process_clip: HumwatchFunction,
    drift_check: HumwatchFunction,
    train_model: HumwatchFunction,
    audit: DeviceDefenderAudit | None = None,
) -> None:
    """Acknowledge the findings the stack's design accepts. It takes the constructs it names, not
    the stack class, so this module and `stack.py` do not import each other."""
    ACKNOWLEDGEMENTS.clear()
    for fn in (presign, process_clip, drift_check, train_model):
        if fn.tracing:  # only traced functions get the X-Ray actions
            _ack(fn.role, "AwsSolutions-IAM5[Resource::*]", XRAY_REASON)
        _ack(fn.function, "AwsSolutions-L1", RUNTIME_REASON)

    clips = _objects(stack, bucket, CLIPS_PREFIX)
    models = _objects(stack, bucket, MODELS_PREFIX)
    reports = _objects(stack, bucket, DRIFT_REPORTS_PREFIX)
    _ack(
        presign.role,
        f"AwsSolutions-IAM5[{clips}]",
        "The presigned PUT is signed with this role, for a key that only exists once the device asks "
        "(clips/{thing}/{date}/...): s3:PutObject is scoped to the clips/ prefix, nothing else.",
    )
    _ack(
        presign.role,
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:"
        "topic/humwatch/*/upload/response]",
        "presign_upload answers whichever device asked, on that device's own upload/response topic: "
        "iot:Publish is limited to the humwatch/+/upload/response topics, never requests or telemetry.",
    )
    _ack(
        process_clip.role,
        f"AwsSolutions-IAM5[{clips}]",
        "process_clip reads any clip the queue names: s3:GetObject only, only under clips/.",
    )
    _ack(
        process_clip.role,
        f"AwsSolutions-IAM5[{models}]",
        "Models are published without a redeploy (models/{id}/{version}/): s3:GetObject only, only "
        "under models/.",
    )
    _ack(
        drift_check.role,
        f"AwsSolutions-IAM5[{models}]",
        "drift_check reads the training statistics of whichever model a device uses: s3:GetObject "
        "only, only under models/.",
    )
    _ack(
        drift_check.role,
        f"AwsSolutions-IAM5[{reports}]",
        "One drift report per day and device (reports/drift/{day}/{thing}.json), and earlier ones are "
        "read back for the alert cooldown: s3:GetObject/PutObject only, only under reports/drift/.",
    )
    _ack(
        train_model.role,
        f"AwsSolutions-IAM5[{clips}]",
        "train_model reads the baseline clips of whichever device asked for a model: s3:GetObject "
        "only, only under clips/.",
    )
    _ack(
        train_model.role,
        f"AwsSolutions-IAM5[{models}]",
        "train_model reads the model it may replace and writes a new version's bundle and gate report "
        "(models/{id}/{version}/, a key that exists only once trained): s3:GetObject/PutObject only, "
        "only under models/, never a delete.",
    )
    if audit is not None:
        _ack(
            audit.audit_role,
            "AwsSolutions-IAM5[Resource::*]",
            "Device Defender's audit lists every certificate and policy and reads the logging options: "
            "iot:List*/Get*LoggingOptions of the audited checks only, read-only, and they support no "
            "resource-level permissions.",
        )
        for resource in AUDIT_ITEM_ACTIONS:
            _ack(
                audit.audit_role,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:{resource}]",
                f"The audit checks every {resource.removesuffix('/*')} in the account, whatever its name: "
                "read-only Describe/Get of that one resource type.",
            )
    handler = stack.node.try_find_child(BUCKET_NOTIFICATIONS_HANDLER_ID)
    if handler is not None:
        _ack(
            handler,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "CDK's own custom resource that applies the S3 bucket notification at deploy time; its role "
            "and managed logging policy are created by aws-cdk-lib and not configurable.",
        )
