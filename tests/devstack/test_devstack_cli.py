"""`python -m devstack`'s command line: a real --help, and no second stack over a running one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.__main__ import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def listening() -> Iterator[int]:
    """A port that takes connections, as a running stack's API does."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_help_lists_the_options_and_starts_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "DEVSTACK_STATE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "devstack", "--help"],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    for option in ("--api-port", "--state-dir", "--api-key", "--print-env", "DEVSTACK_STATE_DIR"):
        assert option in done.stdout
    assert list(tmp_path.iterdir()) == [], "--help wrote nothing"


def test_a_start_over_a_running_stacks_state_is_refused_and_leaves_its_file(
    tmp_path: Path, listening: int, capsys: pytest.CaptureFixture[str]
) -> None:
    state = {"pid": os.getppid(), "api_url": f"http://127.0.0.1:{listening}", "api_key": "k" * 20}
    stack_json = tmp_path / "stack.json"
    stack_json.write_text(json.dumps(state))
    assert main(["--state-dir", str(tmp_path), "--api-port", "0"], environ={}) == 1
    error = capsys.readouterr().err
    assert f"pid {os.getppid()}" in error and "--state-dir" in error
    assert json.loads(stack_json.read_text()) == state


def test_print_env_gives_the_running_stacks_variables_and_fails_without_one(
    tmp_path: Path, listening: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--print-env", "--state-dir", str(tmp_path)], environ={}) == 1
    assert "no local stack is running" in capsys.readouterr().err
    api = f"http://127.0.0.1:{listening}"
    (tmp_path / "stack.json").write_text(json.dumps({"pid": os.getppid(), "api_url": api, "api_key": "it's"}))
    assert main(["--print-env"], environ={"DEVSTACK_STATE_DIR": str(tmp_path)}) == 0
    exported = subprocess.run(
        ["/bin/bash", "-c", 'eval "$(cat)"; printf "%s|%s" "$API_URL" "$API_KEY"'],
        input=capsys.readouterr().out,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert exported == f"{api}|it's"


@pytest.mark.parametrize("argv", [["--api-key", "short"], ["--param", "NoEquals"], ["--api-port", "x"]])
def test_bad_options_are_named_and_start_nothing(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--state-dir", str(tmp_path)], environ={})
    assert exited.value.code == 2
    assert argv[0] in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_bad_api_key_in_the_environment_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--state-dir", str(tmp_path)], environ={"DEVSTACK_API_KEY": "short"}) == 2
    assert "DEVSTACK_API_KEY" in capsys.readouterr().err


def test_print_env_gives_the_first_tenants_queue_credentials(
    tmp_path: Path, listening: int, capsys: pytest.CaptureFixture[str]
) -> None:
    api = f"http://127.0.0.1:{listening}"
    credentials = {"access_key_id": "EXAMPLEPUBLISHERKEYID", "secret_access_key": "s3cret/with+chars"}
    state = {"pid": os.getppid(), "api_url": api, "tenants": [{"queue_credentials": credentials}, {}]}
    (tmp_path / "stack.json").write_text(json.dumps(state))

    assert main(["--print-env", "--state-dir", str(tmp_path)], environ={}) == 0

    exported = subprocess.run(
        [
            "/bin/bash",
            "-c",
            'eval "$(cat)"; printf "%s|%s" "$QUEUE_ACCESS_KEY_ID" "$QUEUE_SECRET_ACCESS_KEY"',
        ],
        input=capsys.readouterr().out,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert exported == "EXAMPLEPUBLISHERKEYID|s3cret/with+chars"
