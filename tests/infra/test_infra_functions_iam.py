"""Given the synthesized stack, each function has its own least-privilege role, the layers and the
configuration from cdk.json context."""

from __future__ import annotations

from typing import Any

from infra_cfn import as_list, render, resources_of

from humwatch.contracts import ENV_ALERT_TOPIC_ARN, ENV_BUCKET, ENV_IOT_DATA_ENDPOINT, ENV_TABLE

XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _functions(synthesized: Any) -> dict[str, dict[str, Any]]:
    stack = synthesized.stack
    props = resources_of(synthesized.template, "AWS::Lambda::Function")
    return {fn.node.id: props[stack.get_logical_id(fn.function.node.default_child)]["Properties"]
            for fn in stack.functions}  # fmt: skip


def test_functions_run_python312_on_x86_with_both_layers(synthesized: Any) -> None:
    stack = synthesized.stack
    layer_refs = [
        {"Ref": stack.get_logical_id(stack.layers.deps.node.default_child)},
        {"Ref": stack.get_logical_id(stack.layers.humwatch.node.default_child)},
    ]
    functions = _functions(synthesized)
    assert set(functions) == {"PresignUpload", "ProcessClip", "DriftCheck", "TrainModel"}
    for props in functions.values():
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["x86_64"]
        assert props["Handler"] == "handler.handler"
        assert props["Layers"] == layer_refs
        # X-Ray off by default (cdk.json tracing; tests/infra/test_infra_tracing.py turns it on)
        assert "TracingConfig" not in props
        assert props["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == "true"
    layers = resources_of(synthesized.template, "AWS::Lambda::LayerVersion")
    for ref in layer_refs:  # (not CDK's own AWS CLI layer of the console's file copy)
        layer = layers[ref["Ref"]]
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
        assert layer["Properties"]["CompatibleArchitectures"] == ["x86_64"]


def test_functions_get_resource_names_and_context_knobs(synthesized: Any) -> None:
    functions = _functions(synthesized)
    context = synthesized.context
    presign = functions["PresignUpload"]["Environment"]["Variables"]
    assert {ENV_BUCKET, ENV_TABLE, ENV_IOT_DATA_ENDPOINT} <= set(presign)
    process = functions["ProcessClip"]["Environment"]["Variables"]
    assert {ENV_BUCKET, ENV_TABLE, ENV_ALERT_TOPIC_ARN} <= set(process)
    assert process["HUMWATCH_ALERT_K"] == str(context["alertK"])
    assert process["HUMWATCH_ALERT_N"] == str(context["alertN"])
    drift = functions["DriftCheck"]["Environment"]["Variables"]
    assert {ENV_BUCKET, ENV_TABLE, ENV_ALERT_TOPIC_ARN, "HUMWATCH_OPS_TOPIC_ARN"} <= set(drift)


def test_process_clip_timeout_and_memory_follow_the_pipeline_settings(synthesized: Any) -> None:
    from humwatch.contracts import PIPELINE

    functions = _functions(synthesized)
    assert functions["ProcessClip"]["Timeout"] == PIPELINE.process_clip_timeout_s
    assert functions["PresignUpload"]["Timeout"] == PIPELINE.presign_timeout_s
    assert functions["DriftCheck"]["Timeout"] == PIPELINE.drift_check_timeout_s
    assert functions["ProcessClip"]["MemorySize"] == synthesized.stack.settings.process_clip_memory_mb


def test_one_role_per_function(synthesized: Any) -> None:
    roles = [render(props["Role"]) for props in _functions(synthesized).values()]
    assert len(set(roles)) == 4


def _role_statements(synthesized: Any) -> dict[str, list[dict[str, Any]]]:
    stack = synthesized.stack
    by_function: dict[str, list[dict[str, Any]]] = {}
    policies = resources_of(synthesized.template, "AWS::IAM::Policy").values()
    for fn in stack.functions:
        role_ref = {"Ref": stack.get_logical_id(fn.role.node.default_child)}
        by_function[fn.node.id] = [
            render(s)
            for p in policies
            if role_ref in p["Properties"]["Roles"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
    return by_function


# CDK's deploy-time file copy (the console's BucketDeployment): aws-cdk-lib writes its S3 grants with
# wildcard actions; tests/infra/test_infra_console.py checks they stay on its two buckets.
CDK_BUCKET_DEPLOYMENT_ROLE = "CustomCDKBucketDeployment"


def test_no_iam_policy_in_the_stack_uses_a_wildcard_action(template: dict[str, Any]) -> None:
    for policy in resources_of(template, "AWS::IAM::Policy").values():
        if any(r["Ref"].startswith(CDK_BUCKET_DEPLOYMENT_ROLE) for r in policy["Properties"]["Roles"]):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            for action in as_list(statement["Action"]):
                assert "*" not in action, action


def test_only_xray_actions_are_granted_on_every_resource(synthesized: Any) -> None:
    for name, stmts in _role_statements(synthesized).items():
        for statement in stmts:
            if "*" in as_list(statement["Resource"]):
                assert set(as_list(statement["Action"])) <= XRAY_ACTIONS, (name, statement)


def test_each_function_gets_exactly_its_named_actions(synthesized: Any) -> None:
    actions = {
        name: {a for s in stmts for a in as_list(s["Action"])} - XRAY_ACTIONS
        for name, stmts in _role_statements(synthesized).items()
    }
    logs = {"logs:CreateLogStream", "logs:PutLogEvents"}
    table = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"}
    notify = {"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"}
    sqs = {"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", "sqs:DeleteMessage",
           "sqs:GetQueueAttributes"}  # fmt: skip
    assert actions["PresignUpload"] == logs | {"s3:PutObject", "iot:Publish", "dynamodb:UpdateItem"}
    assert actions["ProcessClip"] == logs | table | notify | sqs | {
        "s3:GetObject",
        "s3:ListBucket",
        "sqs:SendMessage",  # training requests (tests/infra/test_infra_training.py: that queue only)
    }
    assert actions["DriftCheck"] == logs | table | notify | {
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
        "dynamodb:BatchGetItem",
    }
    # Consuming its encrypted queue needs kms:Decrypt only: it sends and publishes nothing.
    assert actions["TrainModel"] == logs | table | sqs | {
        "kms:Decrypt",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
    }


def test_object_grants_stay_inside_their_prefix(synthesized: Any) -> None:
    stmts = _role_statements(synthesized)
    for name, expected in {
        "PresignUpload": {"s3:PutObject": {"clips/*"}},
        "ProcessClip": {"s3:GetObject": {"clips/*", "models/*"}},
        "DriftCheck": {"s3:GetObject": {"models/*", "reports/drift/*"}, "s3:PutObject": {"reports/drift/*"}},
        "TrainModel": {"s3:GetObject": {"clips/*", "models/*"}, "s3:PutObject": {"models/*"}},
    }.items():
        for action, prefixes in expected.items():
            resources = {
                r.split(">/", 1)[1]
                for s in stmts[name]
                if action in as_list(s["Action"])
                for r in as_list(s["Resource"])
            }
            assert resources == prefixes, (name, action, resources)
