"""The Sinch simulator's own process: it starts with any settings the stack draws for it."""

from devstack.sinch_process import SimulatorProcess


def test_the_simulator_starts_with_a_secret_that_begins_with_a_dash() -> None:
    # secrets.token_urlsafe begins with "-" once in 64 draws: passed as a separate argument, the
    # command-line parser took it for an option, and the local stack did not start.
    lines: list[str] = []
    simulator = SimulatorProcess(lines.append, host="127.0.0.1", port=0, webhook_secret="-ZEaBm_q9sXc")
    try:
        simulator.start()
        assert simulator.url.startswith("http://127.0.0.1:"), lines
    finally:
        simulator.stop()
