"""Drift reports in S3 under `reports/drift/{yyyy-mm-dd}/{thing}.json`."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from botocore.exceptions import ClientError

from humwatch import contracts as c
from humwatch.dal import aws
from humwatch.drift import DriftReport


class ReportStore:
    def __init__(self, bucket: str, *, client: Any | None = None) -> None:
        self.bucket = bucket
        self._client = client if client is not None else aws.client("s3")

    def put_drift_report(self, report: DriftReport) -> str:
        key = c.drift_report_key(f"{report.generated_at:%Y-%m-%d}", report.thing)
        with aws.translate_errors():
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=report.model_dump_json(indent=2).encode(),
                ContentType="application/json",
            )
        return key

    def get_drift_report(self, day: date, thing: str) -> DriftReport | None:
        key = c.drift_report_key(day.isoformat(), thing)
        try:
            with aws.translate_errors():
                body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if aws.is_not_found(exc):
                return None
            raise
        return DriftReport.model_validate_json(body)

    def latest_drift_report(self, thing: str, *, today: date, days_back: int = 7) -> DriftReport | None:
        for offset in range(days_back + 1):
            report = self.get_drift_report(today - timedelta(days=offset), thing)
            if report is not None:
                return report
        return None
