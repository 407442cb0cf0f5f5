"""Run the Sinch simulator alone.

    python -m devstack.sinch_simulator --port 4010 [--service-plan-id ID] [--api-token TOKEN]
        [--webhook-secret SECRET] [--project-id ID --key-id KEY_ID --key-secret KEY_SECRET]
        [--token-ttl-s SECONDS] [--mms-api-key KEY] [--mms-service-id ID] [--postback-url URL]
        [--inbound-url URL] [--encoding-delay-s SECONDS] [--source-address 127.0.0.2]
        [--until-stdin-closes]

With --project-id, --key-id and --key-secret, POST /oauth2/token issues OAuth2 tokens for
/xms/v1/{project_id} as well. The MMS JSON API is served at /ep/v2/; its postbacks go to
--postback-url (none without it); POST /_sim/inbound sends an MO SMS to --inbound-url. With
--source-address, its callbacks, postbacks and media fetches come from that local address. With
--until-stdin-closes it also stops when its standard input ends: a parent holding the pipe that
dies, even by SIGKILL, leaves no simulator behind.

The environment variable SIM_RATE_LIMIT sets the rate limit (requests per second per service plan).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .simulator import SinchSimulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.sinch_simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4010)
    parser.add_argument("--service-plan-id", default="local-plan")
    parser.add_argument("--api-token", default="tok")
    parser.add_argument("--webhook-secret", default=None)
    parser.add_argument("--callback-delay-s", type=float, default=0.2)
    parser.add_argument("--callback-retry-base-s", type=float, default=0.05)
    parser.add_argument("--media-max-bytes", type=int, default=1_048_576)
    parser.add_argument("--project-id", default=None)
    parser.add_argument("--key-id", default=None)
    parser.add_argument("--key-secret", default=None)
    parser.add_argument("--token-ttl-s", type=float, default=3600)
    parser.add_argument("--mms-api-key", default="mms-key")
    parser.add_argument("--mms-service-id", default="local-service")
    parser.add_argument("--postback-url", default=None)
    parser.add_argument("--inbound-url", default=None)
    parser.add_argument("--encoding-delay-s", type=float, default=0.5)
    parser.add_argument("--source-address", default=None)
    parser.add_argument("--until-stdin-closes", action="store_true")
    args = parser.parse_args(argv)
    rate_limit = os.environ.get("SIM_RATE_LIMIT")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    sim = SinchSimulator(
        args.host,
        args.port,
        service_plan_id=args.service_plan_id,
        api_token=args.api_token,
        webhook_secret=args.webhook_secret,
        callback_delay_s=args.callback_delay_s,
        callback_retry_base_s=args.callback_retry_base_s,
        rate_limit=float(rate_limit) if rate_limit else None,
        media_max_bytes=args.media_max_bytes,
        project_id=args.project_id,
        key_id=args.key_id,
        key_secret=args.key_secret,
        token_ttl_s=args.token_ttl_s,
        mms_api_key=args.mms_api_key,
        mms_service_id=args.mms_service_id,
        postback_url=args.postback_url,
        inbound_url=args.inbound_url,
        encoding_delay_s=args.encoding_delay_s,
        source_address=args.source_address,
    ).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    if args.until_stdin_closes:

        def until_stdin_closes() -> None:
            sys.stdin.read()
            done.set()

        threading.Thread(target=until_stdin_closes, daemon=True).start()
    project = f" and /xms/v1/{args.project_id} (OAuth2 via /oauth2/token)" if args.project_id else ""
    print(
        f"Sinch simulator on {sim.url} (XMS under /xms/v1/{args.service_plan_id}{project},"
        " the MMS JSON API at /ep/v2/, control under /_sim/)",
        flush=True,
    )
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
