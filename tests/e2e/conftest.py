"""A local stack for the session, started the way a user starts it (`python -m devstack`)."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FINAL = {"delivered", "failed", "expired", "rejected", "cancelled", "aborted", "deleted"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # One stack per session: keep every e2e test on the same xdist worker.
    for item in items:
        if "tests/e2e/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.xdist_group("e2e"))
            item.add_marker(pytest.mark.e2e)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15,
) -> Answer:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, hdrs = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, hdrs = error.code, error.read(), error.headers
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Answer(status, {k.lower(): v for k, v in hdrs.items()}, parsed)


class LocalStack:
    def __init__(self, config: dict[str, Any], state_dir: pathlib.Path) -> None:
        self.config = config
        self.state_dir = state_dir  # stack.log, and aws-calls/ (each function's AWS calls)
        self.api_url: str = config["api_url"].rstrip("/")
        self.sinch_url: str = config["sinch_url"].rstrip("/")

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        key: str | None = "valid",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """A call to the API; `key` "valid" is the first tenant's key."""
        hdrs = {"content-type": "application/json"}
        if key is not None:
            hdrs["x-api-key"] = self.config["api_key"] if key == "valid" else key
        hdrs.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        return http(method, self.api_url + path, data, hdrs)

    def sim(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        return http(method, self.sinch_url + path, data, {"content-type": "application/json"}).body

    def sinch_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.sim("GET", "/_sim/requests") if "/batches" in r["path"]]

    def wait_final(self, message_id: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            answer = self.api("GET", f"/v1/messages/{message_id}")
            assert answer.status == 200, answer.body
            if answer.body["status"] in FINAL or time.monotonic() > deadline:
                return dict(answer.body)
            time.sleep(0.2)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state = tmp_path_factory.mktemp("stack")
    env = {
        **os.environ,
        "API_PORT": "0",
        "AWS_PORT": "0",
        "SINCH_PORT": "0",
        "DEVSTACK_STATE_DIR": str(state),
        "DEVSTACK_PARAM_MaxSendAttempts": "4",
        # Short waits keep fault tests quick.
        "DEVSTACK_PARAM_RetryBaseDelaySeconds": "0.2",
        "DEVSTACK_PARAM_RetryMaxDelaySeconds": "3",
        "SINCH_READ_TIMEOUT_S": "2",  # not a template parameter: read from the environment
        "DEVSTACK_PARAM_TenantPolicyCacheSeconds": "1",  # policy changes show quickly
        "DEVSTACK_PARAM_MmsPostbackGraceSeconds": "3",
        "DEVSTACK_AWS_CALLS_DIR": str(state / "aws-calls"),
        "PYTHONUNBUFFERED": "1",
    }
    log = (state / "stack.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    config_file = state / "stack.json"
    deadline = time.monotonic() + 120
    while not config_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the local stack did not start:\n{(state / 'stack.log').read_text()[-3000:]}")
        time.sleep(0.2)
    try:
        yield LocalStack(json.loads(config_file.read_text()), state)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@pytest.fixture
def local(stack: LocalStack) -> LocalStack:
    """The stack with the simulator's memory and faults cleared for this test."""
    stack.sim("POST", "/_sim/reset")
    return stack
