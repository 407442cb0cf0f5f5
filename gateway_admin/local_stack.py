"""Where the local stack describes itself (``<state dir>/stack.json``), and reading that file.

The stack (devstack) writes it; the operator's command (``ops.tenants --local``) and the tests read
it. Standard library only, so that ``python -m devstack --help`` answers at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STATE_DIR_VARIABLE = "DEVSTACK_STATE_DIR"
DEFAULT_STATE_DIR = Path(__file__).resolve().parent.parent / ".local"


def state_dir(environ: Mapping[str, str]) -> Path:
    return Path(environ.get(STATE_DIR_VARIABLE) or DEFAULT_STATE_DIR)


def stack_file(environ: Mapping[str, str]) -> Path:
    return state_dir(environ) / "stack.json"


def read_state(path: Path) -> dict[str, Any] | None:
    """stack.json's content; None when there is none (or it is not a stack's)."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None
