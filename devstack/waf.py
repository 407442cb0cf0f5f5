"""AWS WAF, as the local API gateway applies it: the template's web ACLs on the stages they guard.

One job: read each ``AWS::WAFv2::WebACL`` that an ``AWS::WAFv2::WebACLAssociation`` puts on one of
the template's API stages, and answer a request as WAF would before API Gateway sees it: rules in
priority order; a rate-based rule counts the requests its scope-down statement matches, per
source address (or all together, ``CONSTANT``), over its evaluation window, and applies its
action to those of an address over the limit (blocked requests count too: the rule counts what it
evaluates, whatever it then does); a Block answers with the rule's custom response (status,
static headers, one of the web ACL's bodies) or, without one, API Gateway's ``WAF_FILTERED`` 403.
WAF sees the path as the execute-api endpoint has it, the stage first (``/prod/v1/...``).

Where it differs from WAF: WAF estimates each address's rate and may take up to about 30 s to
start limiting it (and to stop); here the count is exact and the limit holds from the request that
passes it. A statement, field, transformation or key this module does not know is a
TemplateError: a rule is never silently left out.
"""

from __future__ import annotations

import json
import posixpath
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from devstack.gateway import Request, Response, gateway_error
from devstack.template import ApiSpec, Template, TemplateError

WEB_ACL = "AWS::WAFv2::WebACL"
WEB_ACL_ASSOCIATION = "AWS::WAFv2::WebACLAssociation"
DEFAULT_WINDOW_S = 300  # EvaluationWindowSec when the rule leaves it out
_CONTENT_TYPES = {
    "APPLICATION_JSON": "application/json",
    "TEXT_PLAIN": "text/plain",
    "TEXT_HTML": "text/html",
}

Matcher = Callable[[str], bool]  # the URI path as WAF sees it -> does the statement match


# --- statements ---------------------------------------------------------------------------------


def _transform(kind: str) -> Callable[[str], str]:
    if kind == "NONE":
        return lambda text: text
    if kind == "URL_DECODE":
        return unquote
    if kind == "LOWERCASE":
        return str.lower
    if kind == "NORMALIZE_PATH":
        # Multiple slashes, ./ and ../ folded (a trailing / kept).
        return lambda text: (
            posixpath.normpath(re.sub("/{2,}", "/", text)) + ("/" if text.endswith("/") else "")
        )
    raise TemplateError(f"the local WAF cannot apply the text transformation {kind}")


def _byte_match(statement: Mapping[str, Any]) -> Matcher:
    if set(statement["FieldToMatch"]) != {"UriPath"}:
        raise TemplateError(f"the local WAF matches UriPath only, not {sorted(statement['FieldToMatch'])}")
    transformations = [
        _transform(str(t["Type"]))
        for t in sorted(statement["TextTransformations"], key=lambda t: int(t["Priority"]))
    ]
    wanted = str(statement["SearchString"])
    position = str(statement["PositionalConstraint"])
    tests: dict[str, Callable[[str], bool]] = {
        "EXACTLY": lambda text: text == wanted,
        "STARTS_WITH": lambda text: text.startswith(wanted),
        "ENDS_WITH": lambda text: text.endswith(wanted),
        "CONTAINS": lambda text: wanted in text,
    }
    if position not in tests:
        raise TemplateError(f"the local WAF cannot match {position}")
    test = tests[position]

    def match(path: str) -> bool:
        for transform in transformations:
            path = transform(path)
        return test(path)

    return match


def _statement(statement: Mapping[str, Any]) -> Matcher:
    if len(statement) != 1:
        raise TemplateError(f"a WAF statement has exactly one kind, got {sorted(statement)}")
    ((kind, body),) = statement.items()
    if kind == "ByteMatchStatement":
        return _byte_match(body)
    if kind in ("AndStatement", "OrStatement"):
        parts = [_statement(s) for s in body["Statements"]]
        combine = all if kind == "AndStatement" else any
        return lambda path: combine(part(path) for part in parts)
    if kind == "NotStatement":
        inner = _statement(body["Statement"])
        return lambda path: not inner(path)
    raise TemplateError(f"the local WAF cannot apply a {kind}")


# --- counting -----------------------------------------------------------------------------------


@dataclass
class RateCounter:
    """Requests per key over a sliding window, kept in one-second buckets."""

    window_s: int
    _buckets: dict[str, deque[list[int]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, now: float) -> int:
        """Count one request of `key` at `now`; its count over the window, this one included."""
        second = int(now)
        with self._lock:
            buckets = self._buckets.setdefault(key, deque())
            while buckets and buckets[0][0] <= second - self.window_s:
                buckets.popleft()
            if buckets and buckets[-1][0] == second:
                buckets[-1][1] += 1
            else:
                buckets.append([second, 1])
            return sum(count for _, count in buckets)


# --- rules and the web ACL ----------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    name: str
    priority: int
    block: Response | None  # the answer when it applies; None: Count (evaluation goes on)
    matches: Matcher
    counter: RateCounter | None = None  # a rate-based rule's
    limit: int = 0
    per_address: bool = True  # AggregateKeyType IP; else CONSTANT (every request one key)

    def applies(self, source_ip: str, path: str, now: float) -> bool:
        if not self.matches(path):
            return False
        if self.counter is None:
            return True
        return self.counter.add(source_ip if self.per_address else "", now) > self.limit


class WebAcl:
    """One web ACL: its rules in priority order and its default action."""

    def __init__(
        self, name: str, rules: list[Rule], default_block: Response | None, clock: Callable[[], float]
    ) -> None:
        self.name = name
        self.rules = sorted(rules, key=lambda rule: rule.priority)
        self.default_block = default_block
        self._clock = clock

    def inspect(self, request: Request, path: str) -> Response | None:
        """WAF's answer to `request` (at `path` as WAF sees it), or None when it lets it through."""
        now = self._clock()
        for rule in self.rules:
            if rule.applies(request.source_ip, path, now) and rule.block is not None:
                return _copy(rule.block)
        return _copy(self.default_block) if self.default_block is not None else None


def _copy(response: Response) -> Response:
    """A fresh answer each time: the gateway adds its request id headers to the one it sends."""
    return Response(response.status, list(response.headers), response.body, response.refusal)


def waf_filtered() -> Response:
    """API Gateway's answer to a request WAF blocked without a custom response of its own."""
    return gateway_error(403, "ForbiddenException", "Forbidden", "WAF_FILTERED")


def _block(action: Mapping[str, Any], bodies: Mapping[str, Any]) -> Response | None:
    """The answer a rule or default action gives; None for one that lets the request on."""
    if set(action) & {"Allow", "Count"}:
        return None
    if set(action) != {"Block"}:
        raise TemplateError(f"the local WAF cannot apply the action {sorted(action)}")
    custom = (action["Block"] or {}).get("CustomResponse")
    if custom is None:
        return waf_filtered()
    headers = [(str(h["Name"]), str(h["Value"])) for h in custom.get("ResponseHeaders") or []]
    body = b""
    key = custom.get("CustomResponseBodyKey")
    if key is not None:
        if key not in bodies:
            raise TemplateError(
                f"CustomResponseBodyKey {key} is not among the web ACL's CustomResponseBodies"
            )
        headers.insert(0, ("Content-Type", _CONTENT_TYPES[str(bodies[key]["ContentType"])]))
        body = str(bodies[key]["Content"]).encode()
    return Response(int(custom["ResponseCode"]), headers, body)


def _rule(declared: Mapping[str, Any], bodies: Mapping[str, Any]) -> Rule:
    name, priority = str(declared["Name"]), int(declared["Priority"])
    block = _block(declared["Action"], bodies)
    statement = declared["Statement"]
    rate = statement.get("RateBasedStatement")
    if rate is None:
        return Rule(name, priority, block, _statement(statement))
    key_type = str(rate.get("AggregateKeyType", "IP"))
    if key_type not in ("IP", "CONSTANT"):
        raise TemplateError(f"{name}: the local WAF aggregates by IP or CONSTANT, not {key_type}")
    scope = rate.get("ScopeDownStatement")
    return Rule(
        name,
        priority,
        block,
        _statement(scope) if scope is not None else (lambda path: True),
        counter=RateCounter(int(rate.get("EvaluationWindowSec", DEFAULT_WINDOW_S))),
        limit=int(rate["Limit"]),
        per_address=key_type == "IP",
    )


def web_acl(properties: Mapping[str, Any], clock: Callable[[], float] = time.monotonic) -> WebAcl:
    """A web ACL from its (resolved) CloudFormation properties."""
    if properties.get("Scope") != "REGIONAL":
        raise TemplateError("an API Gateway stage takes a REGIONAL web ACL")
    bodies = properties.get("CustomResponseBodies") or {}
    return WebAcl(
        str(properties.get("Name", "")),
        [_rule(rule, bodies) for rule in properties.get("Rules") or []],
        _block(properties["DefaultAction"], bodies),
        clock,
    )


def web_acls(template: Template, apis: Mapping[str, ApiSpec]) -> dict[str, WebAcl]:
    """The web ACL on each API stage (by the API's logical id), from the template's associations."""
    stages = {
        f"arn:aws:apigateway:{template.region}::/restapis/{api.rest_api_id}/stages/{api.stage}": name
        for name, api in apis.items()
    }
    guarded: dict[str, WebAcl] = {}
    for logical_id, association in template.resources_of_type(WEB_ACL_ASSOCIATION).items():
        props = association.get("Properties") or {}
        arn = template.resolve_str(props["ResourceArn"])
        if arn not in stages:
            raise TemplateError(f"{logical_id}: {arn} is no API stage of the template")
        acl = _get_att_arn(props["WebACLArn"])
        if template.resources.get(acl, {}).get("Type") != WEB_ACL:
            raise TemplateError(f"{logical_id}: WebACLArn names no {WEB_ACL} of the template")
        guarded[stages[arn]] = web_acl(template.resolve(template.properties(acl)))
    return guarded


def _get_att_arn(value: Any) -> str:
    """The logical id in ``!GetAtt X.Arn`` (the only way a template names its own web ACL)."""
    target = value.get("Fn::GetAtt") if isinstance(value, dict) else None
    if isinstance(target, str):
        target = target.split(".", 1)
    if not (isinstance(target, list) and len(target) == 2 and target[1] == "Arn"):
        raise TemplateError(f"WebACLArn must be !GetAtt <WebACL>.Arn, got {json.dumps(value)}")
    return str(target[0])
