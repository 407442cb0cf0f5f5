"""``python -m devstack`` (what ``make run`` runs): the local stack in the foreground.

Environment: ``API_PORT`` (3000), ``AWS_PORT`` (4566), ``SINCH_PORT`` (4010), 0 = any free port;
``DEVSTACK_STATE_DIR`` (``.local``); ``DEVSTACK_PARAM_<Name>=value`` overrides a template parameter;
``DEVSTACK_POOL_SIZE`` (4 workers per function); ``DEVSTACK_LOG_PREFIX``, ``DEVSTACK_REPORT``,
``DEVSTACK_ACCESS_LOG`` (1/0); ``DEVSTACK_USAGE_PLAN=1`` enforces the API's usage plan per key;
``DEVSTACK_TRACING=0`` runs without the local X-Ray daemon (functions' logs: ``<state>/logs/``).
Ctrl-C or SIGTERM stops everything and removes stack.json.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import threading
from typing import Any

from devstack.stack import LocalStack, StackConfig


def banner(state: dict[str, Any], stack_json: str | None) -> str:
    api, key, sim = state["api_url"], state["api_key"], state["sinch_url"]
    sms = {"to": "+12025550143", "text": "Hello from the local stack"}
    mms = {"to": "+12025550143", "text": "A picture", "mediaUrl": f"{sim}/_sim/media/sample.jpg"}

    def curl(body: dict[str, str]) -> str:
        return (
            f"  curl -sS -X POST {api}/v1/messages -H 'x-api-key: {key}' "
            f"-H 'content-type: application/json' -d {shlex.quote(json.dumps(body))}"
        )

    lines = [
        "",
        "Local stack ready",
        f"  API            {api}",
        f"  web composer   {api}/",
        f"  API key        {key}",
        f"  AWS (moto)     {state['aws_endpoint_url']}  region {state['region']}",
        f"  Sinch sim      {sim}  (requests: {sim}/_sim/requests)",
        f"  send queue     {state['send_queue_url']}",
        f"  dead letters   {state['dead_letter_queue_url']}",
        f"  messages table {state['messages_table']}",
    ]
    if stack_json:
        lines.append(f"  stack.json     {stack_json}")
    if state.get("logs_dir"):
        lines.append(f"  function logs  {state['logs_dir']}/<LogicalId>.log")
    if state.get("traces_file"):
        lines.append(f"  traces         {state['traces_file']}")
    lines += [
        "",
        "Send an SMS:",
        curl(sms),
        "Send an MMS:",
        curl(mms),
        "Then: curl -sS " + f"{api}/v1/messages/<id> -H 'x-api-key: {key}'",
        "",
        "Ctrl-C stops the stack.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    config = StackConfig.from_env(os.environ)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()
        signal.signal(signum, signal.SIG_DFL)  # a second Ctrl-C ends the process at once

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    stack = LocalStack(config)
    try:
        stack.start()
    except Exception as exc:
        print(f"[devstack] failed to start: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    stack_json = str(config.state_dir / "stack.json") if config.state_dir is not None else None
    print(banner(stack.state(), stack_json), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        print("[devstack] stopping", flush=True)
        stack.stop()
        print("[devstack] stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
