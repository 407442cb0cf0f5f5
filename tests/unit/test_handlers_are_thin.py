"""Handlers reach the product through the composition root and the use cases' vocabulary only:
never a data store, a Sinch adapter or the media fetcher directly."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
HANDLERS = sorted((ROOT / "functions").glob("*/app.py"))
ALLOWED = ("config", "wiring", "telemetry", "api", "usecases", "domain")


def product_imports(path: pathlib.Path) -> set[str]:
    """The top-level parts of sinch_gateway a module imports ("data" for sinch_gateway.data.x)."""
    modules: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            # `from sinch_gateway import wiring` names the part in the imported name.
            modules += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
    return {m.split(".")[1] for m in modules if m.startswith("sinch_gateway.")}


@pytest.mark.parametrize("handler", HANDLERS, ids=lambda p: p.parent.name)
def test_a_handler_imports_only_the_top_of_the_layers(handler: pathlib.Path) -> None:
    assert product_imports(handler) <= set(ALLOWED)


def test_the_check_sees_a_handler_reaching_past_the_use_cases(tmp_path: pathlib.Path) -> None:
    sneaky = tmp_path / "app.py"
    sneaky.write_text(
        "from sinch_gateway.data.messages import MessageRepository\nfrom sinch_gateway import aws\n"
    )
    assert product_imports(sneaky) == {"data", "aws"}


def test_there_are_handlers_to_check() -> None:
    assert {p.parent.name for p in HANDLERS} >= {"send", "queue", "webhook"}
