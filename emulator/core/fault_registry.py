"""The fault rules of one emulator with their live counters (:class:`Faults`), and how a
request is counted on them (:class:`Tally`, :meth:`Faults.evaluate`). What a rule is:
core/fault_rules.py; where rules act on a request: core/fault_asgi.py."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .contract import ApiSpec
from .fault_rules import FaultRuleError, Rule, parse_rule


@dataclass
class Tally:
    """What one request has met of the rules so far: its API (once a vendor route takes
    it), the rules that counted it, the rules that fired on it and their summed latency."""

    method: str
    path: str
    api: str | None = None
    seen: set[int] = field(default_factory=set)
    fired: list[Rule] = field(default_factory=list)
    latency: float = 0.0  # seconds


class Faults:
    """The rules of one emulator, with their live counters. Thread-safe."""

    def __init__(self, apis: Mapping[str, ApiSpec]) -> None:
        self.apis = apis
        self.rules: list[Rule] = []  # replaced, never mutated: readers iterate without the lock
        self._lock = threading.Lock()
        self._next_id = 1

    # -- admin -------------------------------------------------------------------------
    def add(self, document: Any) -> list[dict[str, Any]]:
        """Store one rule (a dict) or several (a list), all or none. Raises FaultRuleError."""
        docs = document if isinstance(document, list) else [document]
        if not docs:
            raise FaultRuleError("the list holds no rule")
        parsed: list[Rule] = []
        for n, doc in enumerate(docs):
            try:
                parsed.append(parse_rule(doc, self.apis))
            except FaultRuleError as exc:
                raise FaultRuleError(f"rule {n + 1}: {exc}" if len(docs) > 1 else str(exc)) from None
        with self._lock:
            rules: list[Rule] = []
            for rule in parsed:
                rules.append(replace(rule, id=self._next_id))
                self._next_id += 1
            self.rules = [*self.rules, *rules]
            return [r.as_dict() for r in rules]

    def listing(self) -> list[dict[str, Any]]:
        """Every rule as the admin API shows it, with its counters, in creation order."""
        with self._lock:
            return [r.as_dict() for r in self.rules]

    def get(self, rule_id: int) -> dict[str, Any] | None:
        with self._lock:
            return next((r.as_dict() for r in self.rules if r.id == rule_id), None)

    def remove(self, rule_id: int) -> dict[str, Any] | None:
        """Remove one rule; answers it as it was, or None when there is no such rule."""
        with self._lock:
            found = next((r for r in self.rules if r.id == rule_id), None)
            if found is None:
                return None
            self.rules = [r for r in self.rules if r is not found]
            return found.as_dict()

    def clear(self, scope: Mapping[str, Any] | None = None) -> int:
        """Remove every rule, or with ``scope`` (``{api: [identity, ...]}``) only the rules
        bound to one of those tenants: a rule with ``api`` set must name one of that API's
        identities, a rule for any API one of any API's. Answers how many were removed."""
        with self._lock:
            before = len(self.rules)
            if scope is None:
                self.rules = []
            else:
                owned = {api: {str(t) for t in tenants} for api, tenants in scope.items()}
                everyone: set[str] = set().union(*owned.values()) if owned else set()

                def in_scope(rule: Rule) -> bool:
                    if rule.tenant is None:
                        return False
                    if rule.api is None:
                        return rule.tenant in everyone
                    return rule.tenant in owned.get(rule.api, ())

                self.rules = [r for r in self.rules if not in_scope(r)]
            return before - len(self.rules)

    # -- matching ----------------------------------------------------------------------
    def evaluate(self, tally: Tally, tenant: str | None) -> Rule | None:
        """Count the request on every rule of this stage (the rules without a tenant when
        ``tenant`` is None, else the tenant-bound ones) that matches it; answer the first
        firing rule with an action (the rules after it do not see the request)."""
        with self._lock:
            for rule in self.rules:
                if rule.id in tally.seen or (rule.tenant is None) != (tenant is None):
                    continue
                if not rule.matches(tally.api, tally.method, tally.path, tenant):
                    continue
                tally.seen.add(rule.id)
                rule.matched += 1
                if rule.matched > rule.skip and rule.active:
                    rule.fired += 1
                    tally.fired.append(rule)
                    if rule.latency_ms:
                        tally.latency += rule.latency_ms / 1000
                    if rule.action is not None:
                        return rule
        return None
