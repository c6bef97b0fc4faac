"""`humwatch cost` prices what the stack deploys: its per-stack counts and the functions' memory.

When the stack gains an alarm or a function changes memory, these fail until humwatch.ops.cost
(Assumptions) or the measured inputs (benchmarks/lambda_functions.py --write-cost-inputs) follow.
"""

from __future__ import annotations

from typing import Any

from infra_cfn import resources_of

from humwatch.observability import Metric
from humwatch.ops.cost import Assumptions, MeasuredInputs


def test_the_cost_model_counts_the_alarms_dashboards_and_keys_the_stack_creates(
    template: dict[str, Any],
) -> None:
    assumed = Assumptions()
    assert len(resources_of(template, "AWS::CloudWatch::Alarm")) == assumed.alarms
    assert len(resources_of(template, "AWS::CloudWatch::Dashboard")) == assumed.dashboards
    assert len(resources_of(template, "AWS::KMS::Key")) == assumed.kms_keys


def test_the_cost_model_counts_every_custom_metric(template: dict[str, Any]) -> None:
    # Powertools metrics (one dimension set: service), Lambda's ColdStart, the stack's metric filters.
    names = [v for k, v in vars(Metric).items() if not k.startswith("_") and isinstance(v, str)]
    filters = resources_of(template, "AWS::Logs::MetricFilter")
    assert len(names) + 1 + len(filters) == Assumptions().custom_metrics


def test_functions_deploy_with_the_memory_the_cost_model_prices(synthesized: Any) -> None:
    stack, measured = synthesized.stack, MeasuredInputs.load()
    props = resources_of(synthesized.template, "AWS::Lambda::Function")
    memory = {
        fn.node.id: props[stack.get_logical_id(fn.function.node.default_child)]["Properties"]["MemorySize"]
        for fn in stack.functions
    }
    assert memory == {
        "PresignUpload": measured["presign_memory_mb"],
        "ProcessClip": measured["process_clip_memory_mb"],
        "DriftCheck": measured["drift_check_memory_mb"],
        "TrainModel": Assumptions().train_model_memory_mb,
    }
    assert memory["PresignUpload"] == stack.settings.presign_memory_mb
