"""The metrics with dimensions of their own: what one EMF record says, and that measuring a call
to Sinch never changes how it ends."""

import json
from datetime import timedelta
from typing import Any

import pytest
import urllib3
from urllib3.connection import HTTPConnection
from urllib3.exceptions import NewConnectionError, ReadTimeoutError

from sinch_gateway.domain.message import utcnow
from sinch_gateway.domain.status import Status
from sinch_gateway.measures import answer_class, final_status, timed_sinch_call


@pytest.fixture
def records(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "SinchGateway")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "sinch-gateway")

    def emitted() -> list[dict[str, Any]]:
        return [
            json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')
        ]

    return emitted


def dimension_sets(record: dict[str, Any]) -> list[list[str]]:
    return sorted(sorted(keys) for keys in record["_aws"]["CloudWatchMetrics"][0]["Dimensions"])


@pytest.mark.parametrize(
    ("status", "answer"), [(200, "2xx"), (201, "2xx"), (400, "4xx"), (401, "4xx"), (429, "429"), (503, "5xx")]
)
def test_answers_are_classed_with_429_on_its_own(status: int, answer: str) -> None:
    assert answer_class(status) == answer


def test_a_final_status_counts_in_all_and_for_its_tenant_and_says_how_long_it_took(records: Any) -> None:
    final_status(Status.DELIVERED, "k1l2m3n4o5", utcnow() - timedelta(seconds=2))

    count, elapsed = records()
    assert count["FinalStatus"] == [1.0]
    assert dimension_sets(count) == [["service", "status"], ["service", "status", "tenant"]]
    assert (count["status"], count["tenant"], count["service"]) == (
        "delivered",
        "k1l2m3n4o5",
        "sinch-gateway",
    )
    assert dimension_sets(elapsed) == [["service", "status"]]
    assert 2000 <= elapsed["TimeToFinalStatus"][0] < 2000 + 60_000


def test_a_message_refused_on_arrival_counts_but_has_no_time_to_final(records: Any) -> None:
    final_status(Status.REJECTED, "k1l2m3n4o5", accepted_at=None)
    assert [r["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] for r in records()] == ["FinalStatus"]


def test_without_a_namespace_nothing_is_written(monkeypatch: pytest.MonkeyPatch, records: Any) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE")
    final_status(Status.DELIVERED, "k1l2m3n4o5", utcnow())
    assert records() == []


class Answer:
    def __init__(self, status: int) -> None:
        self.status = status


def test_a_call_is_timed_by_api_and_answer_and_its_answer_returned(records: Any) -> None:
    answer: Any = Answer(429)
    assert timed_sinch_call("xms", lambda: answer) is answer
    [record] = records()
    assert (record["api"], record["answer"]) == ("xms", "429")
    assert dimension_sets(record) == [["answer", "api", "service"], ["api", "service"]]
    assert record["SinchCallLatency"][0] >= 0


@pytest.mark.parametrize(
    ("error", "answer"),
    [
        (NewConnectionError(HTTPConnection("127.0.0.1"), "refused"), "connect_error"),
        (ReadTimeoutError(urllib3.HTTPConnectionPool("127.0.0.1"), "/batches", "timed out"), "no_answer"),
    ],
)
def test_a_call_without_an_answer_is_timed_and_its_error_passed_on(
    records: Any, error: Exception, answer: str
) -> None:
    def fail() -> Any:
        raise error

    with pytest.raises(type(error)):
        timed_sinch_call("mms-json", fail)
    [record] = records()
    assert (record["api"], record["answer"]) == ("mms-json", answer)


def test_a_programming_error_is_not_counted_as_sinchs(records: Any) -> None:
    def broken() -> Any:
        raise KeyError("ours")

    with pytest.raises(KeyError):
        timed_sinch_call("xms", broken)
    assert records() == []
