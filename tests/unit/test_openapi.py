import json
import subprocess
import sys

from devstack.openapi import DOCUMENT, ROOT


def test_the_committed_openapi_document_matches_the_code() -> None:
    # In a fresh interpreter: the document must not depend on what other tests imported.
    result = subprocess.run(
        [sys.executable, "-m", "devstack.openapi", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr + "\nRun `make openapi` and commit docs/openapi.json."


def test_every_documented_error_is_a_problem() -> None:
    document = json.loads(DOCUMENT.read_text())
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    assert list(answer["content"]) == ["application/problem+json"], (path, method, status)
