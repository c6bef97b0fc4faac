"""Given the synthesized stack, the bucket and the history table are private, encrypted and expire
what they should."""

from __future__ import annotations

from typing import Any

from infra_cfn import as_list, only, resources_of, statements

from humwatch.contracts import ANOMALY_INDEX, ANOMALY_INDEX_PK, ANOMALY_INDEX_SK, CLIPS_PREFIX, PK, SK


def _logical_id(stack: Any, construct: Any) -> str:
    return str(stack.get_logical_id(construct.node.default_child))


def _clips_bucket(synthesized: Any) -> dict[str, Any]:
    bucket: dict[str, Any] = synthesized.template["Resources"][
        _logical_id(synthesized.stack, synthesized.stack.storage.bucket)
    ]
    return bucket


def test_every_bucket_blocks_public_access_enforces_ownership_and_encrypts(template: dict[str, Any]) -> None:
    buckets = resources_of(template, "AWS::S3::Bucket")
    assert len(buckets) == 3  # clips, access logs, the console's site
    for props in (b["Properties"] for b in buckets.values()):
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_every_bucket_policy_denies_requests_without_tls(template: dict[str, Any]) -> None:
    policies = resources_of(template, "AWS::S3::BucketPolicy")
    assert len(policies) == 3
    for policy in policies.values():
        denies = [
            s
            for s in statements(policy["Properties"]["PolicyDocument"])
            if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denies, "bucket policy lacks the deny-non-TLS statement"
        assert all(s["Principal"] == {"AWS": "*"} and "s3:*" in as_list(s["Action"]) for s in denies)


def test_clips_expire_after_the_configured_retention_and_uploads_never_linger(synthesized: Any) -> None:
    bucket = _clips_bucket(synthesized)
    rules = {r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-clips"] == {
        "Id": "expire-clips",
        "Prefix": CLIPS_PREFIX,
        "ExpirationInDays": synthesized.context["clipRetentionDays"],
        "Status": "Enabled",
    }
    assert rules["abort-incomplete-multipart"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "Prefix" not in rules["abort-incomplete-multipart"]  # applies to the whole bucket
    # Model bundles are never expired by a lifecycle rule.
    assert not any(str(r.get("Prefix", "")).startswith("models/") for r in rules.values())


def test_clip_bucket_logs_access_to_the_log_bucket(synthesized: Any) -> None:
    storage = synthesized.stack.storage
    bucket = _clips_bucket(synthesized)
    logging = bucket["Properties"]["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": _logical_id(synthesized.stack, storage.access_logs)}


def test_history_table_matches_the_single_table_design(synthesized: Any) -> None:
    _, table = only(synthesized.template, "AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": PK, "KeyType": "HASH"},
        {"AttributeName": SK, "KeyType": "RANGE"},
    ]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    (gsi,) = props["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == ANOMALY_INDEX
    assert gsi["KeySchema"] == [
        {"AttributeName": ANOMALY_INDEX_PK, "KeyType": "HASH"},
        {"AttributeName": ANOMALY_INDEX_SK, "KeyType": "RANGE"},
    ]
    assert table["DeletionPolicy"] == "Retain"  # `cdk destroy` never deletes the history
