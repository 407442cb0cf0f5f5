"""The arithmetic of each tenant's share of the rate (domain.rate_share), on schedules as seen."""

from __future__ import annotations

import pytest

from sinch_gateway.domain.rate_share import (
    NEWCOMER_SLOTS,
    Kind,
    Line,
    RateShare,
    Request,
    Schedule,
    Turn,
    come_back_in,
    plan,
)

STEP = 0.1  # ten calls a second
NOW = 1_000.0
A, B = RateShare("a"), RateShare("b")


def test_share_time_runs_at_one_over_the_weight_of_those_waiting_and_stands_when_none_wait() -> None:
    both = Schedule(
        share_clock=10.0,
        share_clock_at=NOW,
        lines={"a": Line(end=11.0), "b": Line(end=10.5, weight=3.0)},
    )
    # Weight 4 until share time passes B's line at 10.5 (2 s), then weight 1 until A's at 11.0.
    assert both.share_time(NOW + 1.0, STEP) == pytest.approx(10.25)
    assert both.share_time(NOW + 2.0, STEP) == pytest.approx(10.5)
    assert both.share_time(NOW + 2.25, STEP) == pytest.approx(10.75)
    assert both.share_time(NOW + 60.0, STEP) == pytest.approx(11.0), "nobody waits: it stands"
    assert both.share_time(NOW - 5.0, STEP) == pytest.approx(10.0), "never back (a clock behind)"


def test_tenants_at_their_caps_leave_the_rest_to_share_time() -> None:
    view = Schedule(
        share_clock=10.0,
        share_clock_at=NOW,
        lines={"a": Line(end=20.0), "capped": Line(end=0.0, cap_next=NOW + 0.5, cap_per_s=5.0)},
    )
    # Five of the ten calls a second are the capped tenant's: share time runs at half speed.
    assert view.left_by_caps(NOW, STEP) == pytest.approx(0.5)
    assert view.share_time(NOW + 1.0, STEP) == pytest.approx(10.5)
    idle = Schedule(share_clock=10.0, lines={"capped": Line(end=0.0, cap_next=NOW - 5, cap_per_s=5.0)})
    assert idle.left_by_caps(NOW, STEP) == 1.0, "a cap not used lately takes nothing"


def ask(view: Schedule, share: RateShare, turn: Turn | None = None, patience: float = 1.0) -> Kind:
    return plan(view, Request(share, 1, STEP, patience, turn), NOW).kind


def test_a_tenant_starting_to_send_books_further_ahead_than_one_with_a_line() -> None:
    # A's line reaches 3 s ahead; the schedule is booked to the edge of A's horizon.
    view = Schedule(
        next_slot=NOW + 1.0 - NEWCOMER_SLOTS * STEP + 0.01,
        share_clock=10.0,
        share_clock_at=NOW,
        lines={"a": Line(end=13.0)},
    )
    assert ask(view, A, Turn(place=10.0)) is Kind.WAIT, "A's turn is due, but its horizon is full"
    assert ask(view, B) is Kind.TAKE, "B finds room at once"


def test_a_place_not_due_is_kept_and_told_when_to_come_back() -> None:
    view = Schedule(next_slot=NOW + 0.5, share_clock=10.0, share_clock_at=NOW, lines={"a": Line(end=15.0)})

    decided = plan(view, Request(A, 1, STEP, 1.0), NOW)

    assert decided.kind is Kind.PARK and decided.line is not None, "a new place, at the end of A's line"
    kept = plan(view, Request(A, 1, STEP, 1.0, Turn(place=15.0)), NOW)
    assert kept.kind is Kind.PARK and kept.line is None, "a place it has is not taken again"
    # Five seconds of share time ahead at weight 1: back half a patience after it is within one.
    assert come_back_in(kept, 1.0) == pytest.approx(5.0 - 1.0 + 0.5)


def test_a_call_waiting_behind_a_tenant_about_to_stop_comes_back_when_its_turn_comes_sooner() -> None:
    # A's place lies 20 s of share time ahead; B, weight 1, has calls waiting for 5 s of it only:
    # share time runs at half speed for 5 s of it (10 s), then at full speed (15 s): 25 s, not 40.
    lines = {"a": Line(end=30.0), "b": Line(end=15.0)}
    view = Schedule(next_slot=NOW + 0.5, share_clock=10.0, share_clock_at=NOW, lines=lines)

    parked = plan(view, Request(A, 1, STEP, 1.0, Turn(place=30.0)), NOW)

    assert parked.kind is Kind.PARK and parked.wait_s == pytest.approx(25.0 - 1.0)
    assert view.real_time_to(12.0, 10.0, A) == pytest.approx(4.0), "both send until then"
    assert view.real_time_to(9.0, 10.0, A) == 0.0, "a place passed is due now"


def test_a_place_whose_turn_passed_long_ago_is_lost() -> None:
    view = Schedule(next_slot=NOW + 0.5, share_clock=10.0, share_clock_at=NOW, lines={"a": Line(end=15.0)})

    in_time = plan(view, Request(A, 1, STEP, 1.0, Turn(place=9.5)), NOW)
    too_late = plan(view, Request(A, 1, STEP, 1.0, Turn(place=2.0)), NOW)

    assert in_time.kind is Kind.TAKE and in_time.kept_place == 9.5
    assert too_late.kind is Kind.PARK and too_late.line is not None, "a new place, at the end of A's line"


def test_a_slot_nobody_due_wants_is_lent_and_serves_no_share() -> None:
    view = Schedule(next_slot=NOW - 1.0, share_clock=10.0, share_clock_at=NOW, lines={"a": Line(end=15.0)})

    decided = plan(view, Request(A, 1, STEP, 1.0, Turn(place=15.0)), NOW)

    assert decided.kind is Kind.BORROW and decided.line is None


def test_a_tenant_capped_below_its_share_sends_at_its_cap_outside_share_time() -> None:
    view = Schedule(share_clock=10.0, share_clock_at=NOW, lines={"b": Line(end=14.0), "a": Line(end=12.0)})
    capped = RateShare("a", cap_per_s=2.0)  # its share would be 5 a second

    decided = plan(view, Request(capped, 1, STEP, 1.0), NOW)

    assert decided.kind is Kind.TAKE
    assert decided.line is None and decided.leave_line, "its line stops counting"
    assert decided.cap is not None and decided.cap.by == pytest.approx(0.5)
