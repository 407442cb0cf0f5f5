"""A delivery of SendQueue records is taken in the order of the places its waiting messages keep."""

import json

from sinch_gateway.api.queue_bodies import in_turn_order


def retry(message_id: str, place: float | None = None) -> str:
    body: dict[str, object] = {"kind": "retry", "messageId": message_id}
    if place is not None:
        body["turn"] = {"place": place}
    return json.dumps(body)


def test_waiting_messages_go_by_their_places_before_the_rest_in_arrival_order() -> None:
    bodies = [
        retry("late", 12.5),
        '{"to": "+12025550143", "text": "published"}',
        retry("first", 10.0),
        retry("no place"),
        "not json",
        retry("second", 11.0),
    ]

    order = [bodies[i] for i in in_turn_order(bodies)]

    assert [json.loads(b).get("messageId") if b.startswith("{") else b for b in order] == [
        "first",
        "second",
        "late",
        None,
        "no place",
        "not json",
    ]
