"""Where a reader finds what: template.yaml in sections (the API, the functions, queues, tables and
buckets, secrets, the alarm topic), the alarms and the dashboard in observability.yaml, which
template.yaml includes with AWS::Include; and that `sam build` and `sam deploy` take that file
along, and the local stack and the tests read it as CloudFormation does."""

import json
import os
import pathlib
import re
import subprocess
from typing import Any

import pytest
import yaml

from devstack.template import Template, TemplateError, parse_yaml, read_template

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE_TEXT = (ROOT / "template.yaml").read_text()
WRITTEN: dict[str, Any] = parse_yaml(TEMPLATE_TEXT)
DEPLOYED: dict[str, Any] = read_template(ROOT / "template.yaml")
SAM_PYTHON = ROOT / ".venv-sam/bin/python"
OBSERVABILITY_TYPES = {"AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard"}

# Each section of template.yaml's resources (its "# ==== <name>:" header) and the types it holds.
SECTIONS = {
    "API": {
        "AWS::Serverless::Api",
        "AWS::Logs::LogGroup",
        "AWS::WAFv2::WebACL",
        "AWS::WAFv2::WebACLAssociation",
    },
    "Functions": {
        "AWS::Serverless::LayerVersion",
        "AWS::Serverless::Function",
        "AWS::Logs::LogGroup",
        "AWS::IAM::Role",
    },
    "Queues": {"AWS::SQS::Queue"},
    "Tables and buckets": {"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::S3::BucketPolicy"},
    "Secrets": {"AWS::SecretsManager::Secret"},
    "Observability": {"AWS::SNS::Topic", "AWS::SNS::Subscription"},
}


def sections_of_resources() -> dict[str, str]:
    """Each logical id in template.yaml's text, with the section header above it."""
    found: dict[str, str] = {}
    section = ""
    for line in TEMPLATE_TEXT[
        TEMPLATE_TEXT.index("\nResources:\n") : TEMPLATE_TEXT.index("\nOutputs:\n")
    ].splitlines():
        if header := re.match(r"  # ==== ([^:]+):", line):
            section = header[1]
        elif logical_id := re.match(r"  (\w+):$", line):
            found[logical_id[1]] = section
    return found


def test_template_yaml_holds_each_resource_in_its_section_in_order() -> None:
    sections = sections_of_resources()
    assert set(sections) == set(WRITTEN["Resources"]) - {"Fn::Transform"}
    assert list(dict.fromkeys(sections.values())) == list(SECTIONS), "the sections, in this order"
    misplaced = {
        logical_id: (section, WRITTEN["Resources"][logical_id]["Type"])
        for logical_id, section in sections.items()
        if WRITTEN["Resources"][logical_id]["Type"] not in SECTIONS[section]
    }
    assert misplaced == {}
    functions = [
        lid for lid, r in WRITTEN["Resources"].items() if r.get("Type") == "AWS::Serverless::Function"
    ]
    for function in functions:  # a function's log group and role sit with the functions, not the API
        assert sections[f"{function}LogGroup"] == sections[f"{function}Role"] == "Functions"


def test_the_alarms_and_the_dashboard_are_in_observability_yaml_and_deployed_with_the_stack() -> None:
    observability = yaml.safe_load((ROOT / "observability.yaml").read_text())
    assert {r["Type"] for r in observability.values()} == OBSERVABILITY_TYPES
    assert not {r["Type"] for r in WRITTEN["Resources"].values() if "Type" in r} & OBSERVABILITY_TYPES
    assert WRITTEN["Resources"]["Fn::Transform"] == {
        "Name": "AWS::Include",
        "Parameters": {"Location": "observability.yaml"},
    }
    # What CloudFormation deploys: the template's resources and the file's, under their own ids.
    written = {lid: r for lid, r in WRITTEN["Resources"].items() if lid != "Fn::Transform"}
    assert DEPLOYED["Resources"] == written | observability
    assert len(DEPLOYED["Resources"]) == len(written) + len(observability), "no logical id in both"
    # The local stack reads the same: the alarms are among its template's resources.
    assert set(Template(ROOT / "template.yaml").resources) == set(DEPLOYED["Resources"]) - {
        "AlarmEmailSubscription"
    }


def test_observability_yaml_uses_no_yaml_short_forms() -> None:
    """CloudFormation reads an AWS::Include snippet without YAML short forms (!Ref, !Sub)."""
    text = (ROOT / "observability.yaml").read_text()
    assert not re.findall(r"^[^#]*\s!\w+", text, re.MULTILINE)
    read_template(ROOT / "template.yaml")  # reads the file as CloudFormation does (refuses !Ref)


def test_the_dashboard_body_is_json_on_the_24_column_grid() -> None:
    body = DEPLOYED["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    assert all(w["x"] + w["width"] <= 24 for w in widgets)
    metrics = [m for w in widgets for m in w["properties"].get("metrics", [])]
    assert len(metrics) >= 50 and all(isinstance(m[-1], dict) and len(m) % 2 == 1 for m in metrics)


def write_template(tmp_path: pathlib.Path, snippet: str) -> pathlib.Path:
    (tmp_path / "snippet.yaml").write_text(snippet)
    path = tmp_path / "template.yaml"
    path.write_text(
        "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
        "  Fn::Transform:\n    Name: AWS::Include\n    Parameters:\n      Location: snippet.yaml\n"
    )
    return path


def test_an_included_file_is_inlined_where_the_transform_stands(tmp_path: pathlib.Path) -> None:
    path = write_template(
        tmp_path, "Alarm:\n  Type: AWS::CloudWatch::Alarm\n  Properties:\n    Threshold: 0\n"
    )
    assert read_template(path)["Resources"] == {
        "Topic": {"Type": "AWS::SNS::Topic"},
        "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Threshold": 0}},
    }


@pytest.mark.parametrize(
    ("snippet", "why"),
    [
        ("Alarm:\n  Type: AWS::CloudWatch::Alarm\n  Properties:\n    AlarmActions: [!Ref Topic]\n", "!Ref"),
        ("Topic:\n  Type: AWS::SNS::Topic\n", "repeats a key"),
        ("- not a mapping\n", "not a mapping"),
        (
            "Fn::Transform:\n  Name: AWS::Include\n  Parameters:\n    Location: other.yaml\n",
            "recursively",
        ),
    ],
)
def test_an_include_cloudformation_would_refuse_is_refused_with_its_file_named(
    tmp_path: pathlib.Path, snippet: str, why: str
) -> None:
    path = write_template(tmp_path, snippet)
    with pytest.raises(TemplateError, match=re.escape("AWS::Include of snippet.yaml")) as raised:
        read_template(path)
    assert why in str(raised.value)


SAM_TAKES_IT_ALONG = """
import json, pathlib, sys
from samcli.commands._utils.template import move_template
from samcli.lib.package.artifact_exporter import _export_global_artifacts_pass
from samcli.yamlhelper import yaml_parse

root, build = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
template = yaml_parse((root / "template.yaml").read_text())
move_template(str(root / "template.yaml"), str(build / "template.yaml"), template)  # as `sam build`
built = yaml_parse((build / "template.yaml").read_text())
location = built["Resources"]["Fn::Transform"]["Parameters"]["Location"]

class Uploader:  # what `sam package` (and so `sam deploy`) would upload, and the URL it writes
    def upload_with_dedup(self, path, *args, **kwargs):
        self.uploaded = path
        return "s3://deployment-bucket/observability"

uploader = Uploader()
_export_global_artifacts_pass(built, uploader, str(build))
print(json.dumps({
    "built": str((build / location).resolve()),
    "uploaded": str(pathlib.Path(uploader.uploaded).resolve()),
    "packaged": built["Resources"]["Fn::Transform"]["Parameters"]["Location"],
}))
"""


def test_sam_build_and_sam_package_take_observability_yaml_along(tmp_path: pathlib.Path) -> None:
    assert SAM_PYTHON.exists(), (
        "the SAM CLI is not installed: run `make .venv-sam/.installed` (`make test` does)"
    )
    build = tmp_path / ".aws-sam/build"
    build.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {"SAM_CLI_TELEMETRY": "0"}
    answer = subprocess.run(  # noqa: S603 - the locked SAM CLI's own functions, on our template
        [str(SAM_PYTHON), "-c", SAM_TAKES_IT_ALONG, str(ROOT), str(build)],
        capture_output=True,
        text=True,
        env=env | {"HOME": str(tmp_path)},
        timeout=120,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    paths = json.loads(answer.stdout)
    observability = str((ROOT / "observability.yaml").resolve())
    assert paths["built"] == observability, "the built template still finds the file"
    assert paths["uploaded"] == observability, "packaging uploads it"
    assert paths["packaged"] == "s3://deployment-bucket/observability"
