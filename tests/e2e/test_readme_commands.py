"""Every shell block of the README (and of docs/) runs as pasted, in order, against a local stack.

A block that cannot run here (it deploys to AWS, needs an account, or stays in the foreground)
starts with the line ``# readme-test: skip (why)``; that set is kept small and each says why.
The README's ``.local/`` is the default state directory; the test's stack has its own, which the
blocks get in its place (and as DEVSTACK_STATE_DIR, which ``--print-env`` reads).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import aws
from tests.e2e.conftest import FINAL, LocalStack, http

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP = "# readme-test: skip ("
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?:bash|sh|console)[ \t]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S
)
_MARK = "@@readme-block@@"
STATUSES = {"accepted", "retrying", "submitted", "queued", "dispatched", *FINAL}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class Block:
    document: str
    line: int
    text: str

    @property
    def skipped(self) -> bool:
        return self.text.lstrip().startswith(SKIP)

    def __str__(self) -> str:
        return f"{self.document}:{self.line}"


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    return [
        Block(
            path.relative_to(ROOT).as_posix(),
            text.count("\n", 0, m.start()) + 2,
            textwrap.dedent(m.group("indent") + m.group("body")),
        )
        for m in _FENCE.finditer(text)
    ]


def json_objects(output: str) -> list[object]:
    """Every JSON document the block printed (a line each, or one indented document)."""
    try:
        return [json.loads(output)]
    except ValueError:
        pass
    found = []
    for line in output.splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def last_json(output: str) -> dict[str, object]:
    documents = [d for d in json_objects(output) if isinstance(d, dict)]
    assert documents, f"no JSON object in:\n{output}"
    return documents[-1]


def sms_accepted(output: str) -> None:
    message = last_json(output)
    assert UUID.match(str(message["id"])) and message["status"] in STATUSES, message


def message_status(output: str) -> None:
    message = last_json(output)
    assert message["status"] in STATUSES and message["events"], message


def mms_accepted(output: str) -> None:
    message = last_json(output)
    assert (message["channel"], message["status"]) in {("mms", "submitted"), ("mms", "retrying")}, message


def queued_and_listed(output: str) -> None:
    assert "MessageId" in output, output
    assert "items" in last_json(output), output


def logs_listed(output: str) -> None:
    assert "SendFunction.log" in output, output


def simulator_requests(output: str) -> None:
    assert re.search(r"^POST /xms/v1/\S+/batches\b", output, re.M), output


def tenants_listed(output: str) -> None:
    assert {t["name"] for t in json.loads(output)} >= {"acme", "globex"}, output


# What a block must print, by a command it contains (each must match a block, so none goes stale).
EXPECTED: dict[str, Callable[[str], None]] = {
    'ID=$(echo "$ANSWER"': sms_accepted,
    '/v1/messages/$ID"': message_status,
    '"mediaUrl": "\'"$SIM_URL"\'/_sim/media/sample.jpg"': mms_accepted,
    '--endpoint-url "$LOCAL_AWS_URL"': queued_and_listed,
    "ls .local/logs/": logs_listed,
    '"$SIM_URL/_sim/requests" | python3': simulator_requests,
    "ops.tenants --local list": tenants_listed,
}


def all_blocks() -> list[Block]:
    return [block for path in DOCUMENTS for block in blocks(path)]


def test_the_skipped_blocks_are_few_and_say_why() -> None:
    found = all_blocks()
    skipped = [b for b in found if b.skipped]
    assert len(found) >= 10, "the README's shell blocks were not found"
    assert len(skipped) <= 10, [str(b) for b in skipped]
    for block in skipped:
        assert re.match(r"\s*# readme-test: skip \(.+\)\n", block.text), f"{block}: say why"


def test_runnable_blocks_have_no_placeholders() -> None:
    """`<id>` in a shell is a redirection, `$X` never set is empty: every value comes from a command."""
    for block in all_blocks():
        if not block.skipped:
            assert not re.search(r"<[A-Za-z][^>\n]*>", block.text), f"{block}: a placeholder"


@pytest.mark.skipif(
    not (shutil.which("curl") and shutil.which("aws")),
    reason="the README's commands need curl and the AWS CLI",
)
def test_every_readme_command_runs_against_a_local_stack(local: LocalStack) -> None:
    runnable = [b for b in all_blocks() if not b.skipped]
    # A reader's first call waits for the function's cold start; on a loaded machine that can
    # outlast the local gateway's patience, which is not what this test is about.
    deadline = time.monotonic() + 120
    unknown = f"{local.api_url}/v1/messages/00000000-0000-4000-8000-000000000000"
    while http("GET", unknown, headers={"x-api-key": local.config["api_key"]}, timeout=60).status != 404:
        assert time.monotonic() < deadline, "SendFunction never answered"
        time.sleep(0.5)
    state = str(local.state_dir)
    script = ["set -eo pipefail"]
    for index, block in enumerate(runnable):
        script += [f"echo '{_MARK} {index}'", block.text.replace(".local/", f"{state}/")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "DEVSTACK_STATE_DIR": state,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    done = subprocess.run(  # noqa: S603 - the README's own commands, which is the point
        ["/bin/bash", "-c", "\n".join(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    parts = done.stdout.split(f"{_MARK} ")[1:]
    outputs = {runnable[int(p.split("\n", 1)[0])]: p.split("\n", 1)[1] for p in parts}
    failed_at = runnable[len(parts) - 1] if parts else None
    assert done.returncode == 0, (
        f"{failed_at} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    assert len(outputs) == len(runnable)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]

    for block, output in outputs.items():
        for document in json_objects(output):
            status = document.get("status") if isinstance(document, dict) else None
            assert not (isinstance(status, int) and status >= 400), f"{block} got an error answer: {document}"
    for command, check in EXPECTED.items():
        matching = [b for b in runnable if command in b.text]
        assert matching, f"no README block runs {command!r} any more"
        for block in matching:
            check(outputs[block])

    # The queued request is sent, as the README says; where a loaded machine makes the poller's
    # function time out, it is at least still on SendQueue (back after the visibility timeout),
    # never lost or dead-lettered.
    deadline = time.monotonic() + 30
    while not (listed := local.api("GET", "/v1/messages?clientReference=parcel-88").body["items"]):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if listed:
        assert [m["to"] for m in listed] == ["+12025550143"]
    else:
        sqs = aws.client("sqs", local.config["aws_endpoint_url"], local.config["region"])
        waiting = sqs.get_queue_attributes(
            QueueUrl=local.config["send_queue_url"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        assert sum(int(v) for v in waiting["Attributes"].values()) >= 1, "the queued request was lost"
