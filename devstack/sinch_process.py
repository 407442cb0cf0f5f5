"""The Sinch simulator in a process of its own, as Sinch is a service of its own.

In the stack's process it shared one interpreter lock and one garbage collector with moto, the
API gateway and the pollers: a pause there (moto's collections take half a second on a large
state) held the simulator's clock too, so calls that left on time were stamped at once when the
pause ended, and its per-second limit then refused the next calls with 429s Sinch would not send.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, cast

from devstack.state import REPO_ROOT

STARTED = re.compile(r"^Sinch simulator on (http://\S+) ")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
SHOWN_LINES = 20  # of what it printed before it failed to start


class SimulatorProcess:
    """`python -m devstack.sinch_simulator` with these settings: started, configured over its
    control API, stopped. Its warnings and errors go to `log`."""

    def __init__(self, log: Callable[[str], None], **settings: str | int | None) -> None:
        self._log = log
        self._settings = settings
        self._process: subprocess.Popen[str] | None = None
        self._url: str | None = None
        self._early: deque[str] = deque(maxlen=SHOWN_LINES)

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the simulator is not running")
        return self._url

    def start(self) -> SimulatorProcess:
        # It ends with the pipe to its input: a stack that dies leaves no simulator behind.
        command = [sys.executable, "-m", "devstack.sinch_simulator", "--until-stdin-closes"]
        for name, value in self._settings.items():
            if value is not None:
                # One argument, --name=value: a value that begins with "-" is then no option.
                command.append(f"--{name.replace('_', '-')}={value}")
        self._process = process = subprocess.Popen(  # noqa: S603 - our own module
            command,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started = threading.Event()
        threading.Thread(target=self._read, args=(process, started), daemon=True).start()
        if not started.wait(START_TIMEOUT_S) or self._url is None:
            self.stop()
            printed = "\n".join(self._early) or "(nothing)"
            raise RuntimeError(f"the Sinch simulator did not start; it printed:\n{printed}")
        return self

    def _read(self, process: subprocess.Popen[str], started: threading.Event) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip("\n")
            match = STARTED.match(line)
            if match and not started.is_set():
                self._url = match.group(1)
                started.set()
            elif not started.is_set():
                self._early.append(line)
                self._log(f"[sinch] {line}")
            elif " WARNING " in line or " ERROR " in line or "Traceback" in line:
                self._log(f"[sinch] {line}")
        started.set()  # it ended: whoever waits stops waiting

    def update_config(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """POST /_sim/config: what the simulator answered."""
        request = urllib.request.Request(  # noqa: S310 - the simulator's own http:// URL
            f"{self.url}/_sim/config",
            data=json.dumps(dict(changes)).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return cast(dict[str, Any], json.loads(answer.read()))

    def stop(self) -> None:
        process, self._process = self._process, None
        self._url = None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdin is not None:
            process.stdin.close()
