"""`sam validate --lint` accepts the template, with the SAM CLI `make deploy` uses (.venv-sam,
installed once per requirements/sam.txt by `make test`). Offline: no credentials, no AWS call.
SAM's lint does not follow AWS::Include: the template is validated as written, and again with
observability.yaml inlined, as CloudFormation will see it."""

import json
import os
import pathlib
import subprocess

import pytest

from devstack.template import read_template

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-sam/bin/sam"


@pytest.mark.parametrize("inlined", [False, True], ids=["as-written", "observability-inlined"])
def test_sam_validate_lint_accepts_the_template(tmp_path: pathlib.Path, inlined: bool) -> None:
    template = ROOT / "template.yaml"
    if inlined:
        template = tmp_path / "template.json"
        template.write_text(json.dumps(read_template(ROOT / "template.yaml")))
    assert SAM.exists(), "the SAM CLI is not installed: run `make .venv-sam/.installed` (`make test` does)"
    # No credentials or profile of the caller's: lint must not need them, nor reach AWS. (cfn-lint
    # alone, in .venv, lints the template in test_template_expanded.py; this is SAM's own check.)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_DEFAULT_REGION="us-east-1", SAM_CLI_TELEMETRY="0", HOME=str(tmp_path))
    answer = subprocess.run(  # noqa: S603 - the locked SAM CLI, on our own template
        [str(SAM), "validate", "--lint", "--template-file", str(template)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "is a valid SAM Template" in answer.stdout + answer.stderr
