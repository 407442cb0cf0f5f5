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
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, sync_playwright

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "web"
# Debian's chromium (`make browser`): Playwright's own browser download is not reachable here.
CHROMIUM = pathlib.Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Every other host fails to resolve (the rule covers IP literals too, hence the exclusion):
    # the browser reaches 127.0.0.1 only, like the tests.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
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
        "DEVSTACK_PARAM_CallbackRetryBaseSeconds": "1",  # a receiver that is back hears soon
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


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian chromium, driven by Playwright, once per session."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium (as root)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Composer:
    """The web composer in a fresh browser tab, with what its console said."""

    def __init__(self, page: Page, stack: LocalStack) -> None:
        self.page = page
        self.stack = stack
        self.console: list[ConsoleMessage] = []
        self.page_errors: list[Error] = []
        self.urls: list[str] = []  # every URL the page asked for
        # Playwright wraps a handler as a Python function: a builtin such as list.append fails.
        page.on("console", lambda message: self.console.append(message))  # noqa: PLW0108
        page.on("pageerror", lambda error: self.page_errors.append(error))  # noqa: PLW0108
        page.on("request", lambda request: self.urls.append(request.url))

    def open(self, url: str | None = None) -> Page:
        # The session's first page may wait for a cold function on a busy machine.
        self.page.goto(url or self.stack.api_url + "/", timeout=60_000)
        return self.page

    def fill(self, *, key: str | None = "valid", to: str = "", text: str = "", **labelled: str) -> None:
        """Type into the fields by their labels; `key` "valid" is the first tenant's key."""
        page = self.page
        if key is not None:
            page.get_by_label("API key").fill(self.stack.config["api_key"] if key == "valid" else key)
        page.get_by_label("To").fill(to)
        page.get_by_label("Message").fill(text)
        for label, value in labelled.items():
            page.get_by_label(label.replace("_", " ")).fill(value)

    def console_errors(self, *expected_statuses: int, api: str | None = None) -> list[str]:
        """Errors the page logged or threw. The browser's own line for an API answer the test
        provoked (a 422, a 403) is expected; any other failed load is an error."""
        api = api or self.stack.api_url + "/v1/messages"
        errors = [f"pageerror: {e}" for e in self.page_errors]
        for message in self.console:
            if message.type not in ("error", "warning"):
                continue
            answered = "Failed to load resource: the server responded with a status of"
            provoked = message.location.get("url") == api and any(
                message.text.startswith(f"{answered} {s} ") for s in expected_statuses
            )
            if not provoked:
                errors.append(f"{message.type}: {message.text} ({message.location.get('url')})")
        return errors

    def screenshot(self, name: str) -> pathlib.Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        print(f"screenshot: {path}")
        return path


@pytest.fixture
def composer(browser: Browser, local: LocalStack) -> Iterator[Composer]:
    """A new browser context (its own session storage and cookies) on the stack's page."""
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    composer = Composer(context.new_page(), local)
    try:
        yield composer
    finally:
        # A poll may still be in a test's route handler: let it go quietly with the page.
        composer.page.unroute_all(behavior="ignoreErrors")
        context.close()
