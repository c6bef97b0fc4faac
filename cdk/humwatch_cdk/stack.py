"""`HumwatchStack`: composes the constructs and grants each function exactly what it uses."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from humwatch.contracts import (
    CLIPS_PREFIX,
    DRIFT_REPORTS_PREFIX,
    ENV_ALERT_TOPIC_ARN,
    ENV_BUCKET,
    ENV_CONSOLE_ORIGIN,
    ENV_CONSOLE_URL,
    ENV_IOT_DATA_ENDPOINT,
    ENV_TABLE,
    ENV_TRAIN_QUEUE_URL,
    MODELS_PREFIX,
    PIPELINE,
    ResourceNames,
    StackOutput,
    upload_response_topic,
)
from humwatch_cdk.alerts import AlertTopics
from humwatch_cdk.console import ConsoleApi, ConsoleAuth, ConsoleContent, ConsoleSite, OperatorConsole
from humwatch_cdk.drift import DriftSchedule
from humwatch_cdk.function import HumwatchFunction
from humwatch_cdk.history import HistoryTable
from humwatch_cdk.ingest_iot import DeviceIngest, iot_arn
from humwatch_cdk.iot_account import DeviceDefenderAudit, IotCoreLogging
from humwatch_cdk.layers import RuntimeLayers
from humwatch_cdk.monitoring import Monitoring
from humwatch_cdk.nag import acknowledge_console_findings, acknowledge_findings
from humwatch_cdk.processing import ClipProcessing
from humwatch_cdk.settings import TRAIN_MODEL_MAX_CONCURRENCY, DeploySettings
from humwatch_cdk.storage import ClipStorage
from humwatch_cdk.training import ModelTraining

# Each function's memory is a cdk.json knob whose default comes from measurements
# (benchmarks/lambda_functions.py: peak RSS, CPU and AWS calls per invocation); the reasons are in
# docs/deploy.md ("Memory sizes").
# What humwatch.dal.table_client calls (get_item, query, conditional put_item/update_item), nothing more.
TRAIN_EPHEMERAL_STORAGE_MB = 3072
TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem")
# An interactive request: the slowest route decodes one clip and computes its spectrogram (well
# under a second); API Gateway gives up on an integration after 30 s anyway.
CONSOLE_API_TIMEOUT_S = 29


class HumwatchStack(cdk.Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: DeploySettings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        names = ResourceNames()
        self.settings = settings

        self.storage = ClipStorage(
            self,
            "Storage",
            clip_retention_days=settings.clip_retention_days,
            report_retention_days=settings.report_retention_days,
            access_log_retention_days=settings.access_log_retention_days,
        )
        self.history = HistoryTable(self, "History")
        self.alerts = AlertTopics(
            self,
            "Alerts",
            alert_emails=settings.alert_emails,
            alert_phone_numbers=settings.alert_phone_numbers,
            ops_emails=settings.ops_emails,
        )
        self.layers = RuntimeLayers(self, "Layers")

        bucket, table = self.storage.bucket, self.history.table
        resources = {
            ENV_BUCKET: bucket.bucket_name,
            ENV_TABLE: table.table_name,
            ENV_ALERT_TOPIC_ARN: self.alerts.alert_topic.topic_arn,
        }
        iot_data_endpoint = settings.iot_data_endpoint or cdk.Fn.sub(
            # The account's ATS data endpoint is the one to give devices; for SigV4 calls from the
            # presign function the regional data endpoint reaches the same account's broker.
            "https://data-ats.iot.${AWS::Region}.${AWS::URLSuffix}"
        )
        self.presign = self._function(
            "PresignUpload",
            name="presign_upload",
            description="humwatch: answers a device's upload request with a presigned S3 PUT URL",
            environment={
                ENV_BUCKET: bucket.bucket_name,
                ENV_TABLE: table.table_name,  # the per-device upload quota counters
                ENV_IOT_DATA_ENDPOINT: iot_data_endpoint,
                **settings.presign_environment(),
            },
            memory_mb=settings.presign_memory_mb,
            timeout_s=PIPELINE.presign_timeout_s,
            reserved_concurrency=settings.presign_reserved_concurrency,
        )
        self.process_clip = self._function(
            "ProcessClip",
            name="process_clip",
            description="humwatch: decodes, validates and scores clips; writes history; alerts",
            environment={**resources, **settings.process_environment()},
            memory_mb=settings.process_clip_memory_mb,
            timeout_s=PIPELINE.process_clip_timeout_s,
            reserved_concurrency=settings.process_clip_reserved_concurrency,
        )
        self.drift_check = self._function(
            "DriftCheck",
            name="drift_check",
            description="humwatch: daily drift and silent-device check",
            environment={
                **resources,
                "HUMWATCH_OPS_TOPIC_ARN": self.alerts.ops_topic.topic_arn,
                **settings.drift_environment(),
            },
            memory_mb=settings.drift_check_memory_mb,
            timeout_s=PIPELINE.drift_check_timeout_s,
            reserved_concurrency=settings.drift_check_reserved_concurrency,
        )
        self.train_model = self._function(
            "TrainModel",
            name="train_model",
            description="humwatch: trains, gates and registers a device's own model on request",
            # No alert topic: it trains and records, it never notifies.
            environment={
                ENV_BUCKET: bucket.bucket_name,
                ENV_TABLE: table.table_name,
                **settings.train_environment(),
            },
            memory_mb=settings.train_model_memory_mb,
            timeout_s=PIPELINE.train_model_timeout_s,
            reserved_concurrency=settings.train_model_reserved_concurrency,
            # A run downloads its training clips to /tmp: up to 600 (MAX_TRAIN_CLIPS) of up to
            # maxClipBytes; 512 MB (Lambda's default) holds only ~100 clips of 60 s.
            ephemeral_storage_mb=TRAIN_EPHEMERAL_STORAGE_MB,
        )
        self.functions = (self.presign, self.process_clip, self.drift_check, self.train_model)

        self.ingest = DeviceIngest(
            self,
            "Ingest",
            policy_name=names.iot_policy,
            presign=self.presign,
            table_name=table.table_name,
            table_arn=table.table_arn,
            log_retention_days=settings.log_retention_days,
        )
        self.iot_logging: IotCoreLogging | None = None
        self.audit: DeviceDefenderAudit | None = None
        if settings.iot_account_settings:
            self.iot_logging = IotCoreLogging(
                self,
                "IotLogging",
                level=settings.iot_log_level,
                log_retention_days=settings.log_retention_days,
            )
            self.audit = DeviceDefenderAudit(
                self,
                "DeviceDefenderAudit",
                frequency=settings.iot_audit_frequency,
                notification_topic=self.alerts.ops_topic,
                topic_key=self.alerts.key,
            )
        self.processing = ClipProcessing(
            self,
            "Processing",
            key=self.alerts.key,
            bucket=bucket,
            process_clip=self.process_clip,
            pipeline=PIPELINE,
            max_concurrency=settings.process_clip_max_concurrency,
        )
        self.training = ModelTraining(
            self,
            "Training",
            key=self.alerts.key,
            train_model=self.train_model,
            pipeline=PIPELINE,
            max_concurrency=TRAIN_MODEL_MAX_CONCURRENCY,
        )
        # Where a completed baseline asks for training (process_clip is created before this queue).
        self.process_clip.function.add_environment(ENV_TRAIN_QUEUE_URL, self.training.queue.queue_url)
        self.drift = DriftSchedule(
            self,
            "Drift",
            drift_check=self.drift_check,
            schedule=settings.drift_schedule,
            failure_topic=self.alerts.ops_topic,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            ops_topic=self.alerts.ops_topic,
            functions=self.functions,
            clip_queue=self.processing.queue,
            dead_letter_queue=self.processing.dlq,
            train_dead_letter_queue=self.training.dlq,
            rule_error_log_group=self.ingest.error_log_group,
            no_clips_minutes=settings.no_clips_alarm_minutes,
        )

        self.console = self._console() if settings.console else None

        self._grant()
        acknowledge_findings(
            self,
            bucket=bucket,
            presign=self.presign,
            process_clip=self.process_clip,
            drift_check=self.drift_check,
            train_model=self.train_model,
            audit=self.audit,
        )
        if self.console is not None:
            acknowledge_console_findings(self, bucket=bucket, console=self.console)
        self._outputs()

    def _function(
        self, construct_id: str, *, name: str, description: str, environment: dict[str, str], memory_mb: int,
        timeout_s: int, reserved_concurrency: int = 0, ephemeral_storage_mb: int | None = None,
    ) -> HumwatchFunction:  # fmt: skip
        return HumwatchFunction(
            self,
            construct_id,
            name=name,
            description=description,
            layers=self.layers,
            environment=environment,
            memory_mb=memory_mb,
            timeout=cdk.Duration.seconds(timeout_s),
            log_retention_days=self.settings.log_retention_days,
            # 0 (the knob's "reserve nothing") must not reach Lambda, where 0 stops the function.
            reserved_concurrency=reserved_concurrency or None,
            tracing=self.settings.tracing,
            ephemeral_storage_mb=ephemeral_storage_mb,
        )

    def _console(self) -> OperatorConsole:
        """The operator console: users, site, API and its function, the site's content."""
        settings = self.settings
        auth = ConsoleAuth(self, "ConsoleAuth")
        site = ConsoleSite(
            self, "ConsoleSite", access_logs=self.storage.access_logs, clips_bucket=self.storage.bucket
        )
        function = self._function(
            "ConsoleApiFunction",
            name="console_api",
            description="humwatch: the operator console's API (history, audio links, labels, acks, models)",
            environment={
                ENV_BUCKET: self.storage.bucket.bucket_name,
                ENV_TABLE: self.history.table.table_name,
                ENV_CONSOLE_ORIGIN: site.url,
                **settings.console_environment(),
            },
            memory_mb=settings.console_api_memory_mb,
            timeout_s=CONSOLE_API_TIMEOUT_S,
            reserved_concurrency=settings.console_api_reserved_concurrency,
        )
        api = ConsoleApi(
            self,
            "ConsoleApi",
            console_api=function,
            allowed_origin=site.url,
            issuer=auth.issuer,
            client_id=auth.client.user_pool_client_id,
            log_retention_days=settings.log_retention_days,
        )
        content = ConsoleContent(
            self,
            "ConsoleContent",
            site=site,
            api_url=api.url,
            client_id=auth.client.user_pool_client_id,
            log_retention_days=settings.log_retention_days,
        )
        # Alerts end with a link to the clip's page in the console (no token, no presigned URL).
        self.process_clip.function.add_environment(ENV_CONSOLE_URL, site.url)
        return OperatorConsole(auth=auth, site=site, function=function, api=api, content=content)

    def objects(self, prefix: str) -> str:
        return f"{self.storage.bucket.bucket_arn}/{prefix}*"

    def _grant(self) -> None:
        bucket_arn = self.storage.bucket.bucket_arn
        table_arns = [self.history.table.table_arn, self.history.anomaly_index_arn]
        key_arn = self.alerts.key.key_arn

        def allow(fn: HumwatchFunction, actions: tuple[str, ...] | list[str], resources: list[str]) -> None:
            fn.role.add_to_policy(iam.PolicyStatement(actions=list(actions), resources=resources))

        # presign_upload: sign PUTs under clips/ (the signer needs PutObject) and answer the device.
        allow(self.presign, ["s3:PutObject"], [self.objects(CLIPS_PREFIX)])
        allow(self.presign, ["iot:Publish"], [iot_arn(f"topic/{upload_response_topic('*')}")])
        # ... and count each device's uploads per hour: one conditional UpdateItem, on the table only.
        allow(self.presign, ["dynamodb:UpdateItem"], [self.history.table.table_arn])

        # process_clip: read clips and model bundles, write history and alert state, publish alerts.
        allow(self.process_clip, ["s3:GetObject"], [self.objects(CLIPS_PREFIX), self.objects(MODELS_PREFIX)])
        # ListBucket turns a missing object into a 404 (a clean rejection) instead of a 403.
        allow(self.process_clip, ["s3:ListBucket"], [bucket_arn])
        allow(self.process_clip, TABLE_ACTIONS, table_arns)
        allow(self.process_clip, ["sns:Publish"], [self.alerts.alert_topic.topic_arn])
        allow(self.process_clip, ["kms:GenerateDataKey", "kms:Decrypt"], [key_arn])
        # ... and asks for a model when a learning device's baseline completes (the key grant above
        # also covers the encrypted train queue).
        allow(self.process_clip, ["sqs:SendMessage"], [self.training.queue.queue_arn])

        # drift_check: read history and models, read earlier reports (cooldown), write reports, notify
        # (the ops topic is also where a run that failed for good is sent, its failure destination).
        allow(self.drift_check, ["s3:GetObject"], [self.objects(MODELS_PREFIX)])
        allow(self.drift_check, ["s3:ListBucket"], [bucket_arn])
        allow(self.drift_check, ["s3:GetObject", "s3:PutObject"], [self.objects(DRIFT_REPORTS_PREFIX)])
        allow(self.drift_check, TABLE_ACTIONS, table_arns)
        # the notice times of a page of devices in one call (the check's per-device cooldown)
        allow(self.drift_check, ["dynamodb:BatchGetItem"], [self.history.table.table_arn])
        allow(
            self.drift_check,
            ["sns:Publish"],
            [self.alerts.alert_topic.topic_arn, self.alerts.ops_topic.topic_arn],
        )
        allow(self.drift_check, ["kms:GenerateDataKey", "kms:Decrypt"], [key_arn])

        # train_model: read the device's clips and the models it replaces, write the candidate bundle
        # and its gate report under models/ (never a delete: a candidate is a new version's keys).
        allow(self.train_model, ["s3:GetObject"], [self.objects(CLIPS_PREFIX), self.objects(MODELS_PREFIX)])
        allow(self.train_model, ["s3:PutObject"], [self.objects(MODELS_PREFIX)])
        # ListBucket turns a clip that expired since it was recorded into a 404 instead of a 403.
        allow(self.train_model, ["s3:ListBucket"], [bucket_arn])
        # the device's clips (query), its claim on the request, candidates, state and registry pointer
        allow(self.train_model, TABLE_ACTIONS, table_arns)
        # Receiving from the KMS-encrypted queue needs kms:Decrypt on its key: the event source's
        # consume grant (CDK) adds it with the sqs actions, so nothing is granted here twice.

        if self.console is not None:
            # console_api: presigned audio GETs are signed with its own credentials, so it needs
            # GetObject on clips/ (and models/ for the band statistics); ListBucket turns a clip
            # that expired into a 404. History: read, label, acknowledge, promote (no Scan, no
            # delete, nothing published).
            console_api = self.console.function
            allow(console_api, ["s3:GetObject"], [self.objects(CLIPS_PREFIX), self.objects(MODELS_PREFIX)])
            allow(console_api, ["s3:ListBucket"], [bucket_arn])
            allow(console_api, TABLE_ACTIONS, table_arns)

    def _outputs(self) -> None:
        # The keys are a contract: `humwatch` (humwatch.ops.settings) reads names by exactly these.
        policy = self.ingest.policy.policy_name or ResourceNames().iot_policy
        outputs = {
            StackOutput.BUCKET: (self.storage.bucket.bucket_name, "clips, model bundles and drift reports"),
            StackOutput.TABLE: (self.history.table.table_name, "history table"),
            StackOutput.ALERT_TOPIC_ARN: (
                self.alerts.alert_topic.topic_arn,
                "machine alerts (email; SMS for critical)",
            ),
            StackOutput.OPS_TOPIC_ARN: (self.alerts.ops_topic.topic_arn, "alarms for operators"),
            StackOutput.DEVICE_POLICY: (policy, "IoT policy attached to every device certificate"),
            # A hint, not the value: the account's ATS endpoint is only known to a deployed account,
            # and `humwatch provision-device` asks IoT Core for it itself.
            StackOutput.IOT_ENDPOINT_COMMAND: (
                "aws iot describe-endpoint --endpoint-type iot:Data-ATS "
                "--query endpointAddress --output text",
                "prints the MQTT endpoint devices connect to",
            ),
            StackOutput.PROVISION_DEVICE_COMMAND: (
                cdk.Fn.join(
                    "",
                    [
                        "humwatch provision-device THING_NAME --stack ",
                        cdk.Aws.STACK_NAME,
                        " --machine-type fan --out ./THING_NAME",
                    ],
                ),
                "creates the thing, its certificate and its edge-uploader config",
            ),
            StackOutput.DASHBOARD: (self.monitoring.dashboard.dashboard_name, "CloudWatch dashboard"),
            StackOutput.TRAIN_QUEUE_URL: (
                self.training.queue.queue_url,
                "training requests (`humwatch model retrain` sends them here)",
            ),
        }
        if self.console is not None:
            console = self.console
            outputs |= {
                StackOutput.CONSOLE_URL: (console.site.url, "the operator console (Cognito users sign in)"),
                StackOutput.CONSOLE_API_URL: (console.api.url, "the console's HTTP API (JWT on every route)"),
                StackOutput.CONSOLE_USER_POOL_ID: (
                    console.auth.user_pool.user_pool_id,
                    "console users: create them with `aws cognito-idp admin-create-user` (docs/deploy.md)",
                ),
                StackOutput.CONSOLE_USER_POOL_CLIENT_ID: (
                    console.auth.client.user_pool_client_id,
                    "the console's app client (the JWT audience)",
                ),
            }
        for output_id, (value, description) in outputs.items():
            cdk.CfnOutput(self, output_id.value, value=value, description=description)
