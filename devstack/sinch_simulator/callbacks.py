"""Callbacks: XMS delivery reports (signed; retried 5 s later, then doubling, on a 5xx or 429) and
MMS JSON API postbacks, POSTed in order and retried in the background by each API's own policy."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import urllib3

from .common import dumps, iso, loads_or_text, utcnow
from .recorder import Log
from .scheduler import Scheduler
from .signing import signature_headers


@dataclass(frozen=True)
class RetryPolicy:
    """Which answers are tried again, how often and when; what each attempt looks like."""

    retries: int
    delay_s: Callable[[int], float]  # before retry k + 1 (k = 0 for the first retry)
    retried: Callable[[int | None], bool]  # by the receiver's status; None: no answer at all
    timeout: urllib3.Timeout
    content_type: str
    secret: Callable[[], str | None]  # HMAC-signs each attempt when it gives a secret


def xms_policy(retry_base_s: Callable[[], float], secret: Callable[[], str | None]) -> RetryPolicy:
    """Sinch retries XMS callbacks after 5 s, 10 s, ... 81 920 s (15 retries) on 5xx, 429 or no
    answer; any other answer ends it. Here `retry_base_s` stands for those 5 s."""
    return RetryPolicy(
        retries=15,
        delay_s=lambda k: retry_base_s() * 2**k,
        retried=lambda status: status is None or status >= 500 or status == 429,
        timeout=urllib3.Timeout(connect=2.0, read=5.0),
        content_type="application/json",
        secret=secret,  # read per attempt: the secret may change through /_sim/config
    )


def split_userinfo(url: str) -> tuple[str, str | None]:
    """A URL with `user:pass@` becomes the bare URL plus a Basic Authorization header."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    auth = "Basic " + base64.b64encode(credentials.encode()).decode()
    return urlunsplit(parts._replace(netloc=netloc)), auth


class CallbackSender:
    def __init__(
        self, scheduler: Scheduler, http: urllib3.PoolManager, log: Log, policy: RetryPolicy
    ) -> None:
        self._scheduler = scheduler
        self._http = http
        self._log = log
        self._policy = policy

    def send(self, url: str, reports: list[dict[str, Any]], *, copies: int = 1, delay_s: float = 0) -> None:
        """Send the reports in this order, each `copies` times; retries go on in the background.

        Without a delay the first attempts are made on the caller's thread, so a delivery task has
        sent a batch's Dispatched report before it schedules the final one: no accidental reordering.
        """
        if not reports:
            return
        if delay_s > 0:
            self._scheduler.call_later(delay_s, self._send_in_order, url, reports, copies)
        else:
            self._send_in_order(url, reports, copies)

    def _send_in_order(self, url: str, reports: list[dict[str, Any]], copies: int) -> None:
        target, auth = split_userinfo(url)
        for report in reports:
            body = dumps(report)
            for _ in range(copies):
                self._attempt(target, auth, body, 0)

    def _attempt(self, url: str, auth: str | None, body: bytes, retry: int) -> None:
        policy = self._policy
        headers = {"Content-Type": policy.content_type}
        if auth:
            headers["Authorization"] = auth
        secret = policy.secret()
        if secret:
            headers.update(signature_headers(secret, body))
        status: int | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            resp = self._http.request(
                "POST",
                url,
                body=body,
                headers=headers,
                timeout=policy.timeout,
                retries=False,
                redirect=False,
            )
            status = resp.status
        except urllib3.exceptions.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        self._log.append(
            {
                "at": iso(utcnow()),
                "url": url,
                "headers": headers,
                "body": loads_or_text(body),
                "attempt": retry + 1,
                "status": status,
                "error": error,
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),  # until answered or failed
            }
        )
        if policy.retried(status) and retry < policy.retries:
            self._scheduler.call_later(policy.delay_s(retry), self._attempt, url, auth, body, retry + 1)
