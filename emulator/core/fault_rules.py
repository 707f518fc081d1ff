"""Fault rules: what one rule is (:class:`Rule`: what it matches, its schedule, its action)
and how a rule document from the admin API becomes one (:func:`parse_rule`). The rules of
an emulator are kept in core/fault_registry.py; they act in core/fault_asgi.py (the
overview: core/faults.py)."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from .contract import ApiSpec, ErrorFamily
from .errors import ErrorCode
from .statuses import allow_statuses

ACTIONS = ("status", "error", "drop", "cut")
FIELDS = (
    "api", "method", "path", "tenant", "skip", "times",
    "status", "body", "error", "message", "drop", "cut_after", "latency_ms",
)
DEFAULT_BODY = b'{"error": "injected fault"}'
NO_BODY_STATUSES = (204, 304)


class FaultRuleError(ValueError):
    """A rule the admin API refuses (answered 400 with this message)."""


@dataclass
class Rule:
    id: int
    api: str | None
    method: str | None
    path: str
    tenant: str | None
    skip: int
    times: int | None
    action: str | None  # one of ACTIONS, or None (latency only)
    status: int | None = None
    body: str | None = None
    error: int | str | None = None  # as given; ``code`` is what it resolved to
    message: str | None = None
    cut_after: int | None = None
    latency_ms: float | None = None
    code: ErrorCode | None = None
    family: ErrorFamily | None = None
    matched: int = 0
    fired: int = 0

    @property
    def active(self) -> bool:
        return self.times is None or self.fired < self.times

    def matches(self, api: str | None, method: str, path: str, tenant: str | None) -> bool:
        return (
            (self.api is None or self.api == api)
            and (self.method is None or self.method == method)
            and (self.tenant is None or self.tenant == tenant)
            and fnmatch.fnmatchcase(path, self.path)
        )

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "api": self.api,
            "method": self.method,
            "path": self.path,
            "tenant": self.tenant,
            "skip": self.skip,
            "times": self.times,
            "action": self.action or "latency",
        }
        if self.action == "status":
            out["status"] = self.status
            if self.body is not None:
                out["body"] = self.body
        elif self.action == "error":
            out["error"] = self.error
            if self.message is not None:
                out["message"] = self.message
        elif self.action == "drop":
            out["drop"] = True
        elif self.action == "cut":
            out["cut_after"] = self.cut_after
        if self.latency_ms is not None:
            out["latency_ms"] = self.latency_ms
        out.update(matched=self.matched, fired=self.fired, active=self.active)
        return out

    def response(self) -> Response:
        """What a firing ``status`` rule answers."""
        assert self.status is not None
        if self.status in NO_BODY_STATUSES:
            return Response(status_code=self.status)
        if self.body is None:
            return Response(DEFAULT_BODY, status_code=self.status, media_type="application/json")
        try:
            json.loads(self.body)
            media_type = "application/json"
        except ValueError:
            media_type = "text/plain; charset=utf-8"
        return Response(self.body.encode("utf-8"), status_code=self.status, media_type=media_type)


def _integer(doc: Mapping[str, Any], name: str, minimum: int) -> int | None:
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FaultRuleError(f"{name} must be an integer >= {minimum}, not {json.dumps(value)}")
    return value


def _string(doc: Mapping[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise FaultRuleError(f"{name} must be a non-empty string, not {json.dumps(value)}")
    return value


def parse_rule(doc: Any, apis: Mapping[str, ApiSpec]) -> Rule:
    """The rule a document describes (its ``id`` 0: the registry numbers it), checked
    against the registered ``apis``. Raises FaultRuleError."""
    if not isinstance(doc, dict):
        raise FaultRuleError("a rule must be a JSON object")
    unknown = sorted(set(doc) - set(FIELDS))
    if unknown:
        raise FaultRuleError(f"unknown field(s): {', '.join(unknown)} (a rule takes {', '.join(FIELDS)})")
    api = _string(doc, "api")
    if api is not None and api not in apis:
        raise FaultRuleError(f"unknown api {api!r} (one of {', '.join(apis)})")
    method = _string(doc, "method")
    if method is not None:
        if not method.isascii() or not method.isalpha():
            raise FaultRuleError(f"method must be an HTTP method name, not {method!r}")
        method = method.upper()
    path = _string(doc, "path") or "*"
    if not path.startswith(("/", "*", "?", "[")):
        raise FaultRuleError(f"path is a glob on the request path and starts with '/', not {path!r}")
    tenant = _string(doc, "tenant")
    skip = _integer(doc, "skip", 0) or 0
    # Without `times` a rule stays until it is removed (as WireMock and Toxiproxy rules do).
    times = _integer(doc, "times", 1)

    status = doc.get("status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
        raise FaultRuleError(f"status must be an HTTP status code (an integer), not {json.dumps(status)}")
    body = doc.get("body")
    error = doc.get("error")
    message = doc.get("message")
    drop = doc.get("drop")
    cut_after = _integer(doc, "cut_after", 0)
    latency = doc.get("latency_ms")

    if drop is not None and not isinstance(drop, bool):
        raise FaultRuleError(f"drop must be true, not {json.dumps(drop)}")
    given = [
        name
        for name, present in (
            ("status", status is not None),
            ("error", error is not None),
            ("drop", drop is True),
            ("cut_after", cut_after is not None),
        )
        if present
    ]
    if len(given) > 1:
        raise FaultRuleError(f"a rule takes one action, not {' and '.join(given)}")
    if latency is not None:
        if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not math.isfinite(latency):
            raise FaultRuleError(f"latency_ms must be a number of milliseconds, not {json.dumps(latency)}")
        if latency < 0:
            raise FaultRuleError(f"latency_ms must be >= 0, not {latency}")
    if not given and latency is None:
        raise FaultRuleError("a rule needs an action (status, error, drop or cut_after) or latency_ms")

    rule = Rule(
        id=0, api=api, method=method, path=path, tenant=tenant, skip=skip, times=times,
        action=None, latency_ms=latency,
    )
    if body is not None and status is None:
        raise FaultRuleError("body goes with status")
    if message is not None and error is None:
        raise FaultRuleError("message goes with error")
    if status is not None:
        if not 200 <= status <= 999:
            raise FaultRuleError(
                f"status must be a final HTTP status, 200 to 999 (1xx are not final answers), not {status}"
            )
        if body is not None and not isinstance(body, str):
            raise FaultRuleError(f"body must be a string, not {json.dumps(body)}")
        if body and status in NO_BODY_STATUSES:
            raise FaultRuleError(f"an HTTP {status} answer carries no body")
        if status >= 600:
            allow_statuses([status])
        return dataclasses.replace(rule, action="status", status=status, body=body)
    if error is not None:
        return _error_rule(rule, apis, error, message)
    if drop:
        return dataclasses.replace(rule, action="drop")
    if cut_after is not None:
        return dataclasses.replace(rule, action="cut", cut_after=cut_after)
    return rule


def _error_rule(rule: Rule, apis: Mapping[str, ApiSpec], error: Any, message: Any) -> Rule:
    """``rule`` answering the business error ``error`` of its API's error tables."""
    if rule.api is None:
        raise FaultRuleError("error needs api: a business code belongs to one API's error table")
    if isinstance(error, bool) or not isinstance(error, (int, str)) or error == "":
        raise FaultRuleError(f"error must be a business code (a number or a string), not {json.dumps(error)}")
    if message is not None and (not isinstance(message, str) or not message):
        raise FaultRuleError(f"message must be a non-empty string, not {json.dumps(message)}")
    spec = apis[rule.api]
    for family in spec.errors:
        code = family.table.by_code(error)
        if code is not None:
            if message is not None:
                code = dataclasses.replace(code, message=message)
            return dataclasses.replace(
                rule, action="error", error=code.code, message=message, code=code, family=family
            )
    known = sorted({str(e.code) for family in spec.errors for e in family.table.all()})
    raise FaultRuleError(f"{rule.api} has no business code {error!r} (its codes: {', '.join(known) or 'none'})")
