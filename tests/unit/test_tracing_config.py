"""Every function is traced, and Tracer records no handler's return value or exception."""

import pathlib
from typing import Any

from devstack.template import read_template

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE: dict[str, Any] = read_template(ROOT / "template.yaml")
OFF = {"POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false", "POWERTOOLS_TRACER_CAPTURE_ERROR": "false"}


def test_every_function_is_traced_without_capturing_responses_or_errors() -> None:
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Tracing"] == "Active"
    assert OFF.items() <= function_globals["Environment"]["Variables"].items()
    functions = [r for r in TEMPLATE["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    assert len(functions) >= 3
    for function in functions:  # none takes it back
        props = function["Properties"]
        assert props.get("Tracing", "Active") == "Active"
        variables = (props.get("Environment") or {}).get("Variables") or {}
        assert {k: variables.get(k, v) for k, v in OFF.items()} == OFF
