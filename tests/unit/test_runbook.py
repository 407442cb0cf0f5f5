"""docs/runbook.md has a section for every alarm in observability.yaml, under its logical id, and no
section for an alarm that does not exist; docs/operations.md describes every metric the code emits."""

import pathlib
import re

from devstack.template import read_template

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = read_template(ROOT / "template.yaml")
RUNBOOK = (ROOT / "docs/runbook.md").read_text()
OPERATIONS = (ROOT / "docs/operations.md").read_text()
GENERAL_SECTIONS = {"Where to look"}


def alarms() -> dict[str, dict[str, object]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in TEMPLATE["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def test_every_alarm_has_a_runbook_section_and_every_section_an_alarm() -> None:
    sections = set(re.findall(r"^## (.+)$", RUNBOOK, flags=re.MULTILINE)) - GENERAL_SECTIONS
    assert len(alarms()) >= 11
    assert (sorted(set(alarms()) - sections), sorted(sections - set(alarms()))) == ([], []), (
        "(alarms without a section, sections without an alarm)"
    )


def test_each_alarm_points_at_its_section_and_notifies_the_topic() -> None:
    for logical_id, props in alarms().items():
        assert f"docs/runbook.md#{logical_id.lower()}" in str(props["AlarmDescription"]), logical_id
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical_id
        assert props["OKActions"] == [{"Ref": "AlarmTopic"}], logical_id
        assert f"`{logical_id}`" in OPERATIONS, f"docs/operations.md does not list {logical_id}"


def test_the_alarm_email_is_subscribed_only_when_given() -> None:
    subscriptions = [r for r in TEMPLATE["Resources"].values() if r["Type"] == "AWS::SNS::Subscription"]
    assert [s.get("Condition") for s in subscriptions] == ["HasAlarmEmail"]
    assert TEMPLATE["Parameters"]["AlarmEmail"]["Default"] == ""


def emitted_names() -> set[str]:
    """Metric names the code adds: Metrics.add_metric(name=...) and sinch_gateway.measures._emit."""
    names: set[str] = set()
    for path in (ROOT / "layers/messaging/sinch_gateway").rglob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r'add_metric\(\s*name="(\w+)"', text))
        names |= set(re.findall(r'_emit\(\s*"(\w+)"', text))
    return names


def test_every_metric_the_code_emits_is_documented() -> None:
    documented = set(re.findall(r"^\| `(\w+)` \|", OPERATIONS, flags=re.MULTILINE))
    assert len(emitted_names()) >= 20
    assert (sorted(emitted_names() - documented), sorted(documented - emitted_names() - set(alarms()))) == (
        [],
        [],
    ), "(emitted but not documented, documented but not emitted)"


def test_the_readme_links_the_operations_documents() -> None:
    readme = (ROOT / "README.md").read_text()
    operations = readme[readme.index("\n## Operations\n") :]
    assert "(docs/operations.md)" in operations and "(docs/runbook.md)" in operations
