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
from humwatch_cdk.console import OperatorConsole
from humwatch_cdk.function import HumwatchFunction
from humwatch_cdk.iot_account import AUDIT_ITEM_ACTIONS, DeviceDefenderAudit

PACK = "AwsSolutions"
# CDK's singleton that applies S3 bucket notifications (a CloudFormation custom resource).
BUCKET_NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
# CDK's singleton that copies files into a bucket at deploy time (the console's BucketDeployment).
BUCKET_DEPLOYMENT_HANDLER_ID = "Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C"

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


def _assets_bucket_name(stack: cdk.Stack) -> str:
    """The CDK bootstrap assets bucket as cdk-nag writes it: the account and region stay
    placeholders unless the stack's environment names them (the CLI passes its default region)."""

    def known(value: str, placeholder: str) -> str:
        return f"<{placeholder}>" if cdk.Token.is_unresolved(value) else value

    return (
        cdk.DefaultStackSynthesizer.DEFAULT_FILE_ASSETS_BUCKET_NAME.replace(
            "${Qualifier}", cdk.DefaultStackSynthesizer.DEFAULT_QUALIFIER
        )
        .replace("${AWS::AccountId}", known(stack.account, "AWS::AccountId"))
        .replace("${AWS::Region}", known(stack.region, "AWS::Region"))
    )


def acknowledge_console_findings(stack: cdk.Stack, *, bucket: s3.Bucket, console: OperatorConsole) -> None:
    """The operator console's accepted findings (only when cdk.json's `console` is on)."""
    fn = console.function
    if fn.tracing:
        _ack(fn.role, "AwsSolutions-IAM5[Resource::*]", XRAY_REASON)
    _ack(fn.function, "AwsSolutions-L1", RUNTIME_REASON)
    _ack(
        fn.role,
        f"AwsSolutions-IAM5[{_objects(stack, bucket, CLIPS_PREFIX)}]",
        "console_api signs the browser's audio links (presigned GETs, 300 s at most) with its own "
        "credentials, for whichever clip an operator opens: s3:GetObject only, only under clips/.",
    )
    _ack(
        fn.role,
        f"AwsSolutions-IAM5[{_objects(stack, bucket, MODELS_PREFIX)}]",
        "console_api reads the threshold and band statistics of whichever model a device uses "
        "(models/{id}/{version}/): s3:GetObject only, only under models/.",
    )

    pool = console.auth.user_pool
    _ack(
        pool,
        "AwsSolutions-COG2",
        "MFA is optional (TOTP; SMS off): users exist only when an administrator creates them, "
        "passwords are 12+ characters of every class, tokens live an hour, and the console has no "
        "enrolment screens yet that required MFA would need at the first sign-in.",
    )
    _ack(
        pool,
        "AwsSolutions-COG8",
        "Threat protection needs the Plus plan, billed for every monthly user with no free tier; the "
        "pool holds a handful of admin-created operators with strong passwords, Cognito's built-in "
        "lockout after repeated failures and one-hour tokens.",
    )

    distribution = console.site.distribution
    _ack(
        distribution,
        "AwsSolutions-CFR1",
        "Operators sign in from wherever the plant is; the distribution serves only the console's "
        "static code, and every data request needs a Cognito token at the API, so a country block "
        "would protect no data.",
    )
    _ack(
        distribution,
        "AwsSolutions-CFR2",
        "A web ACL costs $5 a month plus $1 per rule and per million requests, as much as a small "
        "fleet's whole pipeline; the distribution serves static files from a private bucket, and the "
        "API rejects requests without a valid token at API Gateway and throttles the rest.",
    )
    _ack(
        distribution,
        "AwsSolutions-CFR3",
        "Standard logs need an ACL-enabled bucket (the access-log bucket enforces bucket-owner "
        "ownership, ACLs off) or a log delivery made in us-east-1; the site holds only static code, "
        "and every data request is logged by the API's stage (route, status, the caller's sub).",
    )
    _ack(
        distribution,
        "AwsSolutions-CFR4",
        "The distribution uses the default *.cloudfront.net certificate, whose security policy "
        "CloudFront fixes; TLSv1.2_2021 needs a custom domain with an ACM certificate in us-east-1, "
        "which the stack does not assume. Viewers are redirected to HTTPS.",
    )

    handler = stack.node.try_find_child(BUCKET_DEPLOYMENT_HANDLER_ID)
    if handler is None:
        return
    role = handler.node.find_child("ServiceRole")
    policy = role.node.find_child("DefaultPolicy")
    deploy_reason = (
        "CDK's BucketDeployment custom resource copies console/ and config.json into the site bucket "
        "at deploy time; aws-cdk-lib writes its role's grants, and "
    )
    _ack(
        handler,
        "AwsSolutions-L1",
        "CDK's BucketDeployment handler runs only while CloudFormation deploys; aws-cdk-lib chooses "
        "its runtime and moves it forward with its own releases.",
    )
    _ack(
        role,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole]",
        deploy_reason + "gives it the managed logging policy; not configurable.",
    )
    assets = f"Resource::arn:<AWS::Partition>:s3:::{_assets_bucket_name(stack)}/*"
    site_logical_id = stack.get_logical_id(console.site.bucket.node.default_child)  # type: ignore[arg-type]
    for finding, what in (
        ("Action::s3:GetObject*", "reads the asset from the CDK assets bucket and the site bucket"),
        ("Action::s3:GetBucket*", "reads the asset from the CDK assets bucket and the site bucket"),
        ("Action::s3:List*", "lists the CDK assets bucket and the site bucket"),
        (assets, "reads the console/ asset from the CDK bootstrap assets bucket only"),
        ("Action::s3:DeleteObject*", "prunes files removed from console/ in the site bucket only"),
        ("Action::s3:Abort*", "aborts its own uploads into the site bucket only"),
        (f"Resource::<{site_logical_id}.Arn>/*", "writes the console's files into the site bucket only"),
        ("Resource::*", "invalidates the distribution after a deployment (cloudfront:*Invalidation)"),
    ):
        _ack(policy, f"AwsSolutions-IAM5[{finding}]", f"{deploy_reason}it {what}.")
