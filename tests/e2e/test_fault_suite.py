"""Never lose a message, never send one twice, never lose or double a status callback: a few
hundred messages under every fault at once."""

from devstack.fault_suite import run
from tests.e2e.conftest import LocalStack


def test_every_message_ends_once_and_sinch_accepts_each_at_most_once(local: LocalStack) -> None:
    report = run(local.config, count=300, timeout_s=240)

    print(report.summary())
    assert report.lost == [], "messages vanished"
    assert report.doubled == [], "Sinch accepted more than one batch for these messages"
    assert report.not_final == [], "messages never reached a final status"
    assert report.dead_letter_mismatch == [], "the DLQ must hold exactly the retries_exhausted failures"
    assert report.queue_left == 0
    assert report.server_errors == {}, "the gateway answered 5xx (or nothing) to the suite"
    assert sum(report.final.values()) == 300
    assert report.final["delivered"] > 200  # the faults are a minority, not the story
    assert report.callbacks_lost == [], "status changes the receiver never got"
    assert report.callbacks_doubled == [], "status callbacks taken twice"
    assert report.callbacks_out_of_order == [], "a message's callbacks reached the receiver out of order"
    assert report.callbacks_badly_signed == 0
    assert report.callbacks_refused > 0, "the receiver's 500s were part of the run"
