import itertools

import pytest

from sinch_gateway.domain.status import FINAL_STATUSES, Status, can_move, from_sinch


def test_the_lifecycle_moves_forward() -> None:
    path = [
        Status.ACCEPTED,
        Status.RETRYING,
        Status.SUBMITTED,
        Status.QUEUED,
        Status.DISPATCHED,
        Status.DELIVERED,
    ]
    for earlier, later in itertools.pairwise(path):
        assert can_move(earlier, later)
        assert not can_move(later, earlier)


@pytest.mark.parametrize("final", sorted(FINAL_STATUSES))
def test_a_final_status_is_final(final: Status) -> None:
    assert all(not can_move(final, other) for other in Status)


def test_final_statuses_are_the_contracts() -> None:
    assert {s.value for s in FINAL_STATUSES} == {
        "delivered",
        "failed",
        "expired",
        "rejected",
        "cancelled",
        "aborted",
        "deleted",
    }


@pytest.mark.parametrize(
    ("wire", "ours"),
    [
        ("Queued", Status.QUEUED),
        ("Dispatched", Status.DISPATCHED),
        ("Delivered", Status.DELIVERED),
        ("Failed", Status.FAILED),
        ("Expired", Status.EXPIRED),
        ("Rejected", Status.REJECTED),
        ("Cancelled", Status.CANCELLED),
        ("Aborted", Status.ABORTED),
        ("Deleted", Status.DELETED),
        ("Unknown", Status.FAILED),
        ("DELIVERED", Status.DELIVERED),
    ],
)
def test_sinch_statuses_map_to_ours(wire: str, ours: Status) -> None:
    assert from_sinch(wire) is ours


def test_an_unheard_of_sinch_status_maps_to_nothing() -> None:
    assert from_sinch("Teleported") is None
