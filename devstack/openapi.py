"""The public API's OpenAPI document, generated from SendFunction's code.

`python -m devstack.openapi` rewrites docs/openapi.json; `--check` fails when it is stale.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.json"


def generate() -> str:
    # The handler reads its settings at import, as on Lambda; the document needs no AWS resource,
    # so placeholders stand for the names it requires.
    from sinch_gateway.config import SendSettings

    for field in SendSettings.model_fields.values():
        if field.is_required() and field.alias:
            os.environ.setdefault(field.alias, "openapi-document")
    sys.path[:0] = [str(ROOT / "functions" / "send"), str(ROOT / "layers" / "messaging")]
    spec = importlib.util.spec_from_file_location(
        "send_app_for_openapi", ROOT / "functions" / "send" / "app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.describe_api()
    document = json.loads(module.app.get_openapi_json_schema())
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/openapi.json is stale")
    args = parser.parse_args(argv)
    current = generate()
    if args.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != current:
            print("docs/openapi.json is stale: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.parent.mkdir(exist_ok=True)
    DOCUMENT.write_text(current)
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
