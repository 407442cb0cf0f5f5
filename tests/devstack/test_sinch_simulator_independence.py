"""The Sinch simulator never imports the product: a fake that shares the gateway's rules cannot
catch a bug in them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "devstack" / "sinch_simulator"
PRODUCT = "sinch_gateway"


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            # importlib.import_module("sinch_gateway...") or __import__("sinch_gateway...")
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def test_no_module_of_the_simulator_imports_the_product() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10, "the simulator package was not found"
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in _imported_modules(ast.parse(path.read_text(), str(path)))
        if module == PRODUCT or module.startswith(PRODUCT + ".")
    ]
    assert offenders == []


def test_the_check_sees_every_form_of_import() -> None:
    source = (
        "import sinch_gateway\nfrom sinch_gateway.domain import segments\n"
        "import importlib\nimportlib.import_module('sinch_gateway.media')\nfrom . import parts\n"
    )
    modules = [module for _, module in _imported_modules(ast.parse(source))]
    assert modules == ["sinch_gateway", "sinch_gateway.domain", "importlib", "sinch_gateway.media"]


def test_running_the_simulator_loads_nothing_of_the_product() -> None:
    code = (
        "import sys\n"
        "from devstack.sinch_simulator import SinchSimulator\n"
        "sim = SinchSimulator(port=0).start(); sim.stop()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sinch_gateway'))\n"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter and snippet
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.strip() == "[]"
