"""The clips bucket (clips, model bundles, drift reports under their own prefixes) and its logs."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct

from humwatch.contracts import CLIPS_PREFIX, DRIFT_REPORTS_PREFIX


class ClipStorage(Construct):
    """Private, SSL-only, encrypted buckets; clips expire, models never do."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        clip_retention_days: int,
        report_retention_days: int,
        access_log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        secure: dict[str, object] = {
            "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
            "enforce_ssl": True,
            "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            "removal_policy": cdk.RemovalPolicy.RETAIN,
            "versioned": False,
        }
        # Server access logs can only be delivered to a bucket with SSE-S3 encryption.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=cdk.Duration.days(access_log_retention_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            **secure,  # type: ignore[arg-type]
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="clips-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-clips",
                    prefix=CLIPS_PREFIX,
                    expiration=cdk.Duration.days(clip_retention_days),
                ),
                s3.LifecycleRule(
                    id="expire-drift-reports",
                    prefix=DRIFT_REPORTS_PREFIX,
                    expiration=cdk.Duration.days(report_retention_days),
                ),
                # A device that loses power mid-upload must not leave parts that are billed forever.
                s3.LifecycleRule(
                    id="abort-incomplete-multipart",
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                ),
            ],
            **secure,  # type: ignore[arg-type]
        )
