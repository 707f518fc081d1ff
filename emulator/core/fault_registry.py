"""The fault rules of one emulator with their live counters (:class:`Faults`), and how a
request is counted on them (:class:`Tally`, :meth:`Faults.evaluate`). What a rule is:
core/fault_rules.py; where rules act on a request: core/fault_asgi.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Integer, Table, Text, bindparam, case, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from .contract import ApiSpec
from .db import Base, Database, table_of
from .fault_rules import FaultRuleError, Rule, parse_rule
from .state import bump, deleted, joined, peek_live

VERSION = "faults"  # the live version (core/state.py) bumped on every change of the rule set


class FaultRuleRow(Base):
    """A rule as the admin API received it, with its counters (changed in one statement
    per request, so ``skip`` and ``times`` hold across replicas). Ids are never reused."""

    __tablename__ = "emulator_fault_rules"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy reads it
    __keep_on_reset__ = True  # Faults.clear deletes them (all, or a scope's)
    __snapshot__ = False
    __tenant_api__ = None

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document: Mapped[str] = mapped_column(Text)
    skip: Mapped[int] = mapped_column(Integer)
    times: Mapped[int | None] = mapped_column(Integer, nullable=True)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    fired: Mapped[int] = mapped_column(Integer, default=0)


def _rows() -> Table:
    return table_of(FaultRuleRow)


def _count_statement() -> Any:
    """Count one request on rule ``id``: ``matched`` + 1, and ``fired`` + 1 when the new
    match lies in the rule's schedule (past ``skip``, within ``times``)."""
    t = _rows()
    in_schedule = (t.c.matched + 1 > t.c.skip) & (t.c.times.is_(None) | (t.c.matched + 1 <= t.c.skip + t.c.times))
    return (
        update(t)
        .where(t.c.id == bindparam("rule"))
        .values(matched=t.c.matched + 1, fired=case((in_schedule, t.c.fired + 1), else_=t.c.fired))
        .returning(t.c.matched)
    )


_COUNT = _count_statement()


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
    """The rules of one emulator, with their live counters. Thread-safe.

    With a ``db`` that several processes may open the rules are rows (FaultRuleRow): the
    parsed rules are cached by the live version ``faults`` (core/state.py: one read per
    request, also while there are no rules) and every match is counted in the database. Otherwise (no
    ``db``, or the in-memory database) they live in this object."""

    def __init__(self, apis: Mapping[str, ApiSpec], db: Database | None = None) -> None:
        self.apis = apis
        self._rules: list[Rule] = []  # replaced, never mutated: readers iterate without the lock
        self._lock = threading.Lock()
        self._next_id = 1
        self._db = db if db is not None and not db.memory else None
        self._version = 0  # of the cached rules (shared)

    @property
    def rules(self) -> list[Rule]:
        """The rules in creation order (shared: as cached for the current rule set; their
        counters are the database's, see :meth:`listing`)."""
        if self._db is None:
            return self._rules
        version = peek_live(self._db, VERSION)[1]
        if version != self._version:
            with joined(self._db) as s:
                rows = s.execute(select(FaultRuleRow).order_by(FaultRuleRow.id)).scalars().all()
            self._rules = [self._parsed(row) for row in rows]
            self._version = version
        return self._rules

    def _parsed(self, row: FaultRuleRow) -> Rule:
        return replace(parse_rule(json.loads(row.document), self.apis), id=row.id, matched=row.matched,
                       fired=row.fired)

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
        if self._db is not None:
            added: list[Rule] = []
            with joined(self._db) as s:
                for doc, rule in zip(docs, parsed, strict=True):
                    row = FaultRuleRow(document=json.dumps(doc), skip=rule.skip, times=rule.times, matched=0, fired=0)
                    s.add(row)
                    s.flush()
                    added.append(replace(rule, id=row.id))
                bump(s, VERSION)
            return [r.as_dict() for r in added]
        with self._lock:
            rules: list[Rule] = []
            for rule in parsed:
                rules.append(replace(rule, id=self._next_id))
                self._next_id += 1
            self._rules = [*self._rules, *rules]
            return [r.as_dict() for r in rules]

    def _stored(self) -> list[Rule]:
        """Every stored rule with its counters as they are now (shared)."""
        assert self._db is not None
        with joined(self._db) as s:
            rows = s.execute(select(FaultRuleRow).order_by(FaultRuleRow.id)).scalars().all()
            return [self._parsed(row) for row in rows]

    def listing(self) -> list[dict[str, Any]]:
        """Every rule as the admin API shows it, with its counters, in creation order."""
        if self._db is not None:
            return [r.as_dict() for r in self._stored()]
        with self._lock:
            return [r.as_dict() for r in self._rules]

    def get(self, rule_id: int) -> dict[str, Any] | None:
        if self._db is not None:
            with joined(self._db) as s:
                row = s.get(FaultRuleRow, rule_id)
                return None if row is None else self._parsed(row).as_dict()
        with self._lock:
            return next((r.as_dict() for r in self._rules if r.id == rule_id), None)

    def remove(self, rule_id: int) -> dict[str, Any] | None:
        """Remove one rule; answers it as it was, or None when there is no such rule."""
        if self._db is not None:
            with joined(self._db) as s:
                row = s.get(FaultRuleRow, rule_id, with_for_update=True)
                if row is None:
                    return None
                gone = self._parsed(row).as_dict()
                s.delete(row)
                bump(s, VERSION)
                return gone
        with self._lock:
            found = next((r for r in self._rules if r.id == rule_id), None)
            if found is None:
                return None
            self._rules = [r for r in self._rules if r is not found]
            return found.as_dict()

    def clear(self, scope: Mapping[str, Any] | None = None) -> int:
        """Remove every rule, or with ``scope`` (``{api: [identity, ...]}``) only the rules
        bound to one of those tenants: a rule with ``api`` set must name one of that API's
        identities, a rule for any API one of any API's. Answers how many were removed."""
        owned = {api: {str(t) for t in tenants} for api, tenants in (scope or {}).items()}
        everyone: set[str] = set().union(*owned.values()) if owned else set()

        def in_scope(rule: Rule) -> bool:
            if scope is None:
                return True
            if rule.tenant is None:
                return False
            if rule.api is None:
                return rule.tenant in everyone
            return rule.tenant in owned.get(rule.api, ())

        if self._db is not None:
            with joined(self._db) as s:
                if scope is None:
                    removed = deleted(s.execute(delete(_rows())))
                else:
                    ids = [r.id for r in self._stored() if in_scope(r)]
                    removed = deleted(s.execute(delete(_rows()).where(_rows().c.id.in_(ids)))) if ids else 0
                if removed:
                    bump(s, VERSION)
                return removed
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if not in_scope(r)]
            return before - len(self._rules)

    # -- matching ----------------------------------------------------------------------
    def evaluate(self, tally: Tally, tenant: str | None) -> Rule | None:
        """Count the request on every rule of this stage (the rules without a tenant when
        ``tenant`` is None, else the tenant-bound ones) that matches it; answer the first
        firing rule with an action (the rules after it do not see the request)."""
        if self._db is not None:
            return self._evaluate_shared(tally, tenant)
        with self._lock:
            for rule in self._rules:
                if rule.id in tally.seen or (rule.tenant is None) != (tenant is None):
                    continue
                if not rule.matches(tally.api, tally.method, tally.path, tenant):
                    continue
                tally.seen.add(rule.id)
                rule.matched += 1
                if rule.matched > rule.skip and rule.active:
                    rule.fired += 1
                    if self._fire(tally, rule):
                        return rule
        return None

    @staticmethod
    def _fire(tally: Tally, rule: Rule) -> bool:
        """Note a firing rule on the request; whether its action decides."""
        tally.fired.append(rule)
        if rule.latency_ms:
            tally.latency += rule.latency_ms / 1000
        return rule.action is not None

    def _evaluate_shared(self, tally: Tally, tenant: str | None) -> Rule | None:
        assert self._db is not None
        candidates = [
            rule for rule in self.rules
            if rule.id not in tally.seen and (rule.tenant is None) == (tenant is None)
            and rule.matches(tally.api, tally.method, tally.path, tenant)
        ]
        if not candidates:
            return None
        with joined(self._db) as s:
            for rule in candidates:
                tally.seen.add(rule.id)
                matched = s.execute(_COUNT, {"rule": rule.id}).scalar_one_or_none()
                if matched is None:
                    continue  # removed meanwhile (through another replica)
                in_schedule = matched > rule.skip and (rule.times is None or matched <= rule.skip + rule.times)
                if in_schedule and self._fire(tally, rule):
                    return rule
        return None
