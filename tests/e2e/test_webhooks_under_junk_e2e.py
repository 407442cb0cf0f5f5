"""Sinch's delivery reports while one address floods the webhook route with junk, through a stack
of its own (the flood would crowd the session's): the per-address limit refuses the junk, and
every genuine signed report is taken on its first try."""

from devstack.bench_webhooks import measure, webhook_stack


def test_every_genuine_report_is_taken_on_its_first_try_while_30_junk_senders_flood_for_10_s() -> None:
    with webhook_stack() as stack:
        figures = measure(stack, reports=10, senders=30, seconds=10)

    flooded, junk = figures["flood"], figures["junk"]
    assert figures["sinch_source_address"] == "127.0.0.2", "the simulator calls back from its own address"
    # Counted from the simulator's own record of each report's attempts.
    assert flooded["sent"] == flooded["reports"] == flooded["first_try_200"] == 10, flooded
    assert (flooded["retried"], flooded["unanswered"]) == (0, 0), flooded
    assert set(junk["statuses"]) == {401, 429}, "junk was refused unsigned, then at the address's limit"
    assert junk["statuses"][401] <= figures["limit_per_minute"], "past the limit none reached the function"
    refusal = junk["refusal_headers"]
    assert refusal["Retry-After"] == "60"
    assert refusal["RateLimit-Policy"] == f'"webhooks-per-address";q={figures["limit_per_minute"]};w=60'
    assert refusal["RateLimit"] == '"webhooks-per-address";r=0;t=60'
