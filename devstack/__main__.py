"""``python -m devstack`` (what ``make run`` runs): the local stack in the foreground.

Options come from the command line or, for each, an environment variable (the command line
wins); ``--help`` lists them. Ctrl-C or SIGTERM stops everything and removes stack.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import sys
import textwrap
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.state import QUEUE_CREDENTIAL_VARIABLES, SHELL_VARIABLES, running_pid, shell_exports
from gateway_admin.local_stack import read_state, stack_file

if TYPE_CHECKING:
    from devstack.stack import StackConfig

ENVIRONMENT = """\
environment (a flag wins over its variable):
  API_PORT, AWS_PORT, SINCH_PORT   ports, as --api-port, --aws-port, --sinch-port
  DEVSTACK_STATE_DIR               as --state-dir
  DEVSTACK_PARAM_<Name>=value      as --param Name=value
  DEVSTACK_API_KEY                 as --api-key
  DEVSTACK_USAGE_PLAN=1            as --usage-plan
  DEVSTACK_TRACING=0               as --no-tracing
  DEVSTACK_POOL_SIZE               workers per function (default 4)
  DEVSTACK_LOG_PREFIX, DEVSTACK_REPORT, DEVSTACK_ACCESS_LOG
                                   1/0: prefix function log lines with the function's name, print
                                   Lambda's REPORT line per invocation, print API access log lines
                                   (all on by default)
  SINCH_READ_TIMEOUT_S             how long the functions wait for Sinch's answer

what a start makes: moto (DynamoDB, SQS, Secrets Manager) with the template's resources, the Sinch
simulator, the local API Gateway and the SQS poller, all on 127.0.0.1 and all in memory: each start
has empty tables and queues and (without --api-key) new API keys. The stack writes
<state dir>/stack.json (URLs, keys, queue URLs, table names), the functions' logs to
<state dir>/logs/<Function>.log and X-Ray segments to <state dir>/traces.jsonl, each emptied at
start. It refuses to start while another running stack owns the same state dir.

in another terminal, the running stack's URLs and key as shell variables:
  eval "$(.venv/bin/python -m devstack --print-env)"
""" + textwrap.fill(
    ", ".join([*SHELL_VARIABLES, *QUEUE_CREDENTIAL_VARIABLES]),
    width=96,
    initial_indent="  ",
    subsequent_indent="  ",
)

_API_KEY = re.compile(r"[A-Za-z0-9_-]{20,128}")


def api_key(value: str) -> str:
    """API Gateway's key values are at least 20 characters; these stay safe in a header."""
    if not _API_KEY.fullmatch(value):
        raise argparse.ArgumentTypeError("20 to 128 letters, digits, '-' or '_'")
    return value


def parameter(value: str) -> tuple[str, str]:
    name, equals, setting = value.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected Name=value, got {value!r}")
    return name, setting


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m devstack",
        description="The local stack (what `make run` runs), in the foreground until Ctrl-C: the\n"
        "gateway's API, functions and queues on moto, and a Sinch simulator.",
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ports = "default %s; 0: any free port"
    cli.add_argument("--api-port", type=int, metavar="N", help=f"the API's port ({ports % 3000})")
    cli.add_argument("--aws-port", type=int, metavar="N", help=f"moto's port ({ports % 4566})")
    cli.add_argument(
        "--sinch-port", type=int, metavar="N", help=f"the Sinch simulator's port ({ports % 4010})"
    )
    cli.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where stack.json, logs/ and traces.jsonl go (default .local)",
    )
    cli.add_argument(
        "--param",
        type=parameter,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter, e.g. --param MaxSendAttempts=3 (repeatable)",
    )
    cli.add_argument(
        "--api-key",
        type=api_key,
        metavar="KEY",
        help="the first tenant's (acme's) API key, the same at every start (default: a new random key)",
    )
    cli.add_argument(
        "--usage-plan",
        action="store_const",
        const=True,
        help="enforce the API's usage plan (rate, burst, daily quota) per key",
    )
    cli.add_argument(
        "--no-tracing",
        dest="tracing",
        action="store_const",
        const=False,
        help="run without the local X-Ray daemon (no traces.jsonl)",
    )
    cli.add_argument(
        "--print-env",
        action="store_true",
        help="print the running stack's URLs and key as shell `export` lines, and exit",
    )
    return cli


def config_from(args: argparse.Namespace, environ: Mapping[str, str]) -> StackConfig:
    from devstack.stack import StackConfig

    config = StackConfig.from_env(environ)
    if config.api_key is not None:
        try:
            api_key(config.api_key)
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"DEVSTACK_API_KEY: {exc}") from None
    flags = {
        "api_port": args.api_port,
        "aws_port": args.aws_port,
        "sinch_port": args.sinch_port,
        "state_dir": args.state_dir,
        "api_key": args.api_key,
        "usage_plan": args.usage_plan,
        "tracing": args.tracing,
    }
    config = replace(config, **{name: value for name, value in flags.items() if value is not None})
    return replace(config, parameter_overrides={**config.parameter_overrides, **dict(args.param)})


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
        f"  API            {api}  (Swagger UI: {api}/v1/docs)",
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
        "Its status: curl -sS " + f"{api}/v1/messages/MESSAGE_ID -H 'x-api-key: {key}'",
        'In another terminal, these as shell variables: eval "$(.venv/bin/python -m devstack --print-env)"',
        "",
        "Ctrl-C stops the stack (a new start has empty tables and new keys; see --help).",
        "",
    ]
    return "\n".join(lines)


def print_env(environ: Mapping[str, str], directory: Path | None) -> int:
    path = (directory / "stack.json") if directory is not None else stack_file(environ)
    state = read_state(path)
    if state is None or running_pid(state) is None:
        print(f"no local stack is running with {path}: start one with `make run`", file=sys.stderr)
        return 1
    print(shell_exports(state), end="")
    return 0


def refuse_a_second_stack(directory: Path) -> str | None:
    """Why this start must not go on: a live stack already owns ``directory``'s stack.json."""
    path = directory / "stack.json"
    state = read_state(path)
    pid = running_pid(state) if state is not None else None
    if state is None or pid is None:
        return None
    return (
        f"a local stack (pid {pid}, API {state.get('api_url')}) is running with {path}; "
        "stop it (Ctrl-C in its terminal), or start another one beside it with its own state "
        "directory and ports, e.g. --state-dir .local2 --api-port 0 --aws-port 0 --sinch-port 0"
    )


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    args = parser().parse_args(argv)
    if args.print_env:
        return print_env(environ, args.state_dir)
    try:
        config = config_from(args, environ)
    except ValueError as exc:
        print(f"[devstack] {exc}", file=sys.stderr)
        return 2
    if config.state_dir is not None and (refusal := refuse_a_second_stack(config.state_dir)) is not None:
        print(f"[devstack] not starting: {refusal}", file=sys.stderr)
        return 1

    from devstack.stack import LocalStack

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
