"""What a local stack's stack.json says: the shell variables ``--print-env`` sets from it, and
whether the stack that wrote it still runs. Where the file is, and reading it, are in
gateway_admin.local_stack, which the operator's command reads it by too.

Standard library only, so that ``python -m devstack --help`` and ``--print-env`` answer at once,
before anything heavy is imported.
"""

from __future__ import annotations

import os
import shlex
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent

# The shell variables `--print-env` sets, from stack.json's keys. None of them is an AWS_*
# variable: those would send the reader's later `aws` commands to the local stack.
SHELL_VARIABLES = {
    "API_URL": "api_url",
    "API_KEY": "api_key",
    "API_KEY_ID": "api_key_id",
    "SIM_URL": "sinch_url",
    "LOCAL_AWS_URL": "aws_endpoint_url",
    "LOCAL_AWS_REGION": "region",
    "SEND_QUEUE_URL": "send_queue_url",
    "DEAD_LETTER_QUEUE_URL": "dead_letter_queue_url",
}
# The first tenant's publisher (what signs its SendQueue requests), from tenants[0].queue_credentials.
QUEUE_CREDENTIAL_VARIABLES = {
    "QUEUE_ACCESS_KEY_ID": "access_key_id",
    "QUEUE_SECRET_ACCESS_KEY": "secret_access_key",
}


def running_pid(state: Mapping[str, Any]) -> int | None:
    """The pid of the stack that wrote ``state`` if it still runs: its process exists and its API
    port takes connections (a stack killed outright leaves its file behind, and its pid may be
    reused)."""
    pid = state.get("pid")
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # someone else's process: it exists
    api = urlsplit(str(state.get("api_url", "")))
    if not api.hostname or not api.port:
        return None
    try:
        socket.create_connection((api.hostname, api.port), timeout=1).close()
    except OSError:
        return None
    return pid


def shell_exports(state: Mapping[str, Any]) -> str:
    """``export NAME=value`` lines for a POSIX shell, values quoted."""
    lines = [
        f"export {name}={shlex.quote(str(state[key]))}"
        for name, key in SHELL_VARIABLES.items()
        if state.get(key) is not None
    ]
    tenants = state.get("tenants") or [{}]
    credentials = tenants[0].get("queue_credentials") or {}
    lines += [
        f"export {name}={shlex.quote(str(credentials[key]))}"
        for name, key in QUEUE_CREDENTIAL_VARIABLES.items()
        if credentials.get(key) is not None
    ]
    return "\n".join(lines) + "\n"
