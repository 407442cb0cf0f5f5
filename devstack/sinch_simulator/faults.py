"""Fault rules (docs/local-stack.md): which requests, media fetches or callbacks misbehave, and how."""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from .common import is_number

REQUEST_MATCHES = ("batches", "dry_run", "batch_lookup", "mms_api", "oauth")  # oauth: POST /oauth2/token
MATCHES = (*REQUEST_MATCHES, "media", "callbacks")
_REQUEST_EFFECTS = frozenset({"status", "retry_after", "delay_ms", "drop_connection", "accept_then_drop"})
_EFFECTS: dict[str, frozenset[str]] = {
    **dict.fromkeys(REQUEST_MATCHES, _REQUEST_EFFECTS),
    # The MMS JSON API answers its errors with HTTP 200: error_code forces one (E106, E113, ...).
    "mms_api": _REQUEST_EFFECTS | {"error_code"},
    "media": frozenset({"status", "delay_ms", "drop_connection"}),
    # `api`: only XMS delivery reports ("xms") or only MMS JSON API postbacks ("mms").
    "callbacks": frozenset({"final", "code", "duplicate", "reorder", "delay_ms", "drop", "api"}),
}
_OPTIONS = frozenset({"match", "times", "probability"})
CALLBACK_APIS = ("xms", "mms")

# Default receipt code for a forced final status, as Sinch pairs them; a rule may give `code`.
# https://developers.sinch.com/docs/sms/api-reference/sms/tag/Delivery-reports/
FINAL_CODES = {
    "Delivered": 0,
    "Failed": 402,
    "Expired": 406,
    "Rejected": 408,
    "Aborted": 403,
    "Cancelled": 407,
    "Deleted": 403,
    "Unknown": 403,
}


@dataclass
class FaultRule:
    match: str
    status: int | None = None
    retry_after: float | None = None
    delay_ms: float = 0
    drop_connection: bool = False
    accept_then_drop: bool = False
    error_code: str | None = None
    final: str | None = None
    code: int | None = None
    duplicate: int = 0
    reorder: bool = False
    drop: bool = False
    api: str | None = None  # callbacks of one API only; None = both
    times: int | None = None  # matches left; None = unlimited
    probability: float | None = None

    @classmethod
    def parse(cls, raw: Any) -> FaultRule:
        if not isinstance(raw, dict):
            raise ValueError("each rule must be an object")
        match = raw.get("match")
        if match not in MATCHES:
            raise ValueError(f"match must be one of {', '.join(MATCHES)}")
        unknown = set(raw) - _OPTIONS - _EFFECTS[match]
        if unknown:
            raise ValueError(f"{match} rules do not take {', '.join(sorted(unknown))}")
        rule = cls(match=match)
        for name, value in raw.items():
            if name != "match":
                setattr(rule, name, _checked(name, value))
        if rule.retry_after is not None and rule.status is None:
            rule.status = 429
        rule._check_effects()
        return rule

    def _check_effects(self) -> None:
        if self.match == "callbacks":
            if self.code is not None and self.final is None:
                raise ValueError("code needs final")
            if not (self.final or self.duplicate or self.reorder or self.delay_ms or self.drop):
                raise ValueError("a callbacks rule needs final, duplicate, reorder, delay_ms or drop")
            return
        answers = [
            self.status is not None,
            self.drop_connection,
            self.accept_then_drop,
            self.error_code is not None,
        ]
        if sum(answers) > 1:
            raise ValueError("status, error_code, drop_connection and accept_then_drop exclude each other")
        if not any(answers) and not self.delay_ms:
            raise ValueError("a rule needs status, delay_ms, drop_connection or accept_then_drop")

    @property
    def final_code(self) -> int | None:
        if self.final is None:
            return None
        return self.code if self.code is not None else FINAL_CODES[self.final]

    def as_json(self) -> dict[str, Any]:
        """Only what was set, so GET /_sim/faults reads like what was posted (times = what is left)."""
        defaults = FaultRule(self.match)
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name == "match" or getattr(self, f.name) != getattr(defaults, f.name)
        }


def _checked(name: str, value: Any) -> Any:
    def integer(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    checks: dict[str, Callable[[Any], bool]] = {
        "status": lambda v: integer(v) and 400 <= v <= 599,
        "retry_after": lambda v: is_number(v) and v >= 0,
        "delay_ms": lambda v: is_number(v) and v >= 0,
        "drop_connection": lambda v: isinstance(v, bool),
        "accept_then_drop": lambda v: isinstance(v, bool),
        "error_code": lambda v: isinstance(v, str) and re.fullmatch(r"E\d{3}", v) is not None,
        "final": lambda v: v in FINAL_CODES,
        "code": lambda v: integer(v) and v >= 0,
        "duplicate": lambda v: integer(v) and v >= 0,
        "reorder": lambda v: isinstance(v, bool),
        "drop": lambda v: isinstance(v, bool),
        "api": lambda v: v in CALLBACK_APIS,
        "times": lambda v: integer(v) and v >= 1,
        "probability": lambda v: is_number(v) and 0 <= v <= 1,
    }
    if not checks[name](value):
        raise ValueError(f"invalid {name}: {value!r}")
    return value


@dataclass(frozen=True)
class CallbackEffects:
    """What a `callbacks` rule does to one message's reports (picked once per XMS recipient or MMS)."""

    final: str | None = None  # None: the normal outcome
    code: int | None = None  # the rule's own receipt code (XMS only)
    copies: int = 1
    reorder: bool = False
    delay_s: float = 0.0
    # No report or postback is sent at all (lost on the way, as happens): the message still
    # reaches its status at Sinch, where a lookup finds it.
    drop: bool = False

    @classmethod
    def of(cls, rule: FaultRule | None) -> CallbackEffects:
        if rule is None:
            return cls()
        return cls(rule.final, rule.code, 1 + rule.duplicate, rule.reorder, rule.delay_ms / 1000, rule.drop)


class FaultSet:
    """The live rules. The first live rule matching a request wins; `times` counts down on use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._seed: int | None = None
        self._rng = random.Random()

    def replace(self, body: Any) -> None:
        """From `{"seed": 7, "rules": [...]}`; raises ValueError and keeps the old rules if invalid."""
        if not isinstance(body, dict) or not isinstance(body.get("rules"), list):
            raise ValueError('the body must be {"rules": [...]} with an optional "seed"')
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError("seed must be an integer")
        rules = [FaultRule.parse(raw) for raw in body["rules"]]
        with self._lock:
            self._rules, self._seed, self._rng = rules, seed, random.Random(seed)

    def clear(self) -> None:
        self.replace({"rules": []})

    def pick(self, match: str, api: str | None = None) -> FaultRule | None:
        """The rule for one request, fetch or message; `api` says whose callbacks they are."""
        with self._lock:
            for rule in self._rules:
                if rule.match != match or rule.times == 0 or (rule.api is not None and rule.api != api):
                    continue
                # Draw only for candidate rules, so a seeded run repeats for the same requests.
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                return FaultRule(**{f.name: getattr(rule, f.name) for f in fields(rule)})
            return None

    def as_json(self) -> dict[str, Any]:
        with self._lock:
            return {"seed": self._seed, "rules": [rule.as_json() for rule in self._rules]}
