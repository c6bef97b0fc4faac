"""Given `tracing: true` in cdk.json, every function is traced by X-Ray and may write its traces;
by default (tests/infra/test_infra_functions_iam.py) none is and none may."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra_cfn import as_list, render, resources_of

# The `synth_with` fixture of tests/infra/conftest.py: synth_with(**context) -> (stack, template)
SynthWith = Callable[..., tuple[Any, dict[str, Any]]]

XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _xray_actions(stack: Any, template: dict[str, Any]) -> dict[str, set[str]]:
    policies = resources_of(template, "AWS::IAM::Policy").values()
    out = {}
    for fn in stack.functions:
        role_ref = {"Ref": stack.get_logical_id(fn.role.node.default_child)}
        actions = {
            action
            for policy in policies
            if role_ref in policy["Properties"]["Roles"]
            for statement in as_list(policy["Properties"]["PolicyDocument"]["Statement"])
            for action in as_list(render(statement)["Action"])
        }
        out[fn.node.id] = actions & XRAY_ACTIONS
    return out


def test_tracing_on_traces_every_function_and_lets_it_write_traces(synth_with: SynthWith) -> None:
    stack, template = synth_with(tracing=True)
    functions = resources_of(template, "AWS::Lambda::Function")
    for fn in stack.functions:
        props = functions[stack.get_logical_id(fn.function.node.default_child)]["Properties"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert "POWERTOOLS_TRACE_DISABLED" not in props["Environment"]["Variables"]
    assert _xray_actions(stack, template) == {fn.node.id: XRAY_ACTIONS for fn in stack.functions}


def test_tracing_off_grants_no_xray_actions(synthesized: Any) -> None:
    actions = _xray_actions(synthesized.stack, synthesized.template)
    assert actions == {fn.node.id: set() for fn in synthesized.stack.functions}
