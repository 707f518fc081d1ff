"""Tenants (per-API credentials) from fixture documents: validated, persisted, looked up.

A fixture document maps an API name to a list of that API's tenant records; each API
declares its record's pydantic model and which field identifies a tenant. Unknown keys
anywhere are an error. Tenants live in the database (they survive ``reset`` and a
restart) with an in-memory index for per-request lookups.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from sqlalchemy import JSON, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base, Database
from .state import bump, peek_live
from .tenant_model import TenantModel

__all__ = ["FixtureError", "TenantModel", "TenantRow", "Tenants", "WithTenantModel"]

VERSION = "tenants"  # the live version (core/state.py) bumped on every write of the tenants
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def _yaml_error(path: Path, exc: yaml.YAMLError) -> str:
    """One line naming the file, line and column (1-based) and what the parser found."""
    problem = getattr(exc, "problem_mark", None)
    context = getattr(exc, "context_mark", None)
    mark = problem or context
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    what = str(getattr(exc, "problem", None) or type(exc).__name__)
    described = getattr(exc, "context", None)
    if described:
        what += f" ({described}"
        if context is not None and problem is not None and (context.line, context.column) != (
            problem.line, problem.column
        ):
            what += f" at line {context.line + 1}, column {context.column + 1}"
        what += ")"
    return f"fixtures file {path}{where}: not valid YAML: {what}"


class FixtureError(ValueError):
    """A fixture document or file that cannot be loaded; the message is one line."""


class WithTenantModel(Protocol):
    """What the tenant store needs of a registered API (an ``ApiSpec`` is one): its name
    and its tenant record model. Structural, so this module needs no import of the contract."""

    @property
    def name(self) -> str: ...

    @property
    def tenant_model(self) -> type[TenantModel]: ...


class TenantRow(Base):
    __tablename__ = "tenants"
    __keep_on_reset__ = True

    api: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


def _format_validation(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ""
        for item in e["loc"]:
            loc += f"[{item}]" if isinstance(item, int) else (f".{item}" if loc else str(item))
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        parts.append(f"{loc or 'document'}: {msg}")
    return "; ".join(parts)


@functools.cache
def _document_model(apis: tuple[tuple[str, type[TenantModel]], ...]) -> type[BaseModel]:
    """The fixture document's model for a set of APIs (built once: pydantic model
    construction costs ~2 ms, and the pytest plugin makes an emulator per test)."""
    fields: dict[str, Any] = {name: (list.__class_getitem__(model), []) for name, model in apis}
    return create_model("FixtureDocument", __config__=ConfigDict(extra="forbid"), **fields)


class Tenants:
    def __init__(self, db: Database, specs: Iterable[WithTenantModel]) -> None:
        self.db = db
        self.specs: dict[str, WithTenantModel] = {s.name: s for s in specs}
        self._document_model = _document_model(tuple((n, s.tenant_model) for n, s in self.specs.items()))
        self._index: dict[str, dict[str, TenantModel]] = {name: {} for name in self.specs}
        self._lock = threading.Lock()
        # Several processes may write the tenants (a file or PostgreSQL database): each
        # write bumps the live version VERSION (core/state.py) and every lookup compares
        # it with the index's, reloading when another process changed them.
        self._shared = None if db.memory else db
        self._version = -1

    # -- loading -------------------------------------------------------------------
    def parse(self, document: Any) -> dict[str, list[TenantModel]]:
        if document is None:
            document = {}
        if not isinstance(document, dict):
            raise FixtureError("a fixture document must be a mapping of API name to a list of tenants")
        try:
            parsed = self._document_model.model_validate(document)
        except ValidationError as exc:
            raise FixtureError(_format_validation(exc)) from None
        out: dict[str, list[TenantModel]] = {name: getattr(parsed, name) for name in self.specs}
        for name, records in out.items():
            for i, record in enumerate(records):
                for field, value in record.model_dump().items():
                    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
                        # the database and every signature hold 64-bit integers: a larger one
                        # would be accepted here and break the API's calls later (issue 14)
                        raise FixtureError(f"{name}[{i}].{field}: a number out of range (a 64-bit integer)")
        return out

    @staticmethod
    def read_file(path: Path) -> Any:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise FixtureError(f"cannot read fixtures file {path}: {exc.strerror or exc}") from None
        try:
            return json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        except json.JSONDecodeError as exc:
            raise FixtureError(f"fixtures file {path}, line {exc.lineno}, column {exc.colno}: "
                               f"not valid JSON: {exc.msg}") from None
        except yaml.YAMLError as exc:
            raise FixtureError(_yaml_error(path, exc)) from None

    def load_files(self, paths: Iterable[Path]) -> None:
        docs = []
        for path in paths:
            try:
                docs.append(self.parse(self.read_file(path)))
            except FixtureError as exc:
                msg = str(exc)
                raise FixtureError(msg if str(path) in msg else f"{path}: {msg}") from None
        for doc in docs:
            self.add(doc)

    def add(self, parsed: dict[str, list[TenantModel]]) -> int:
        """Upsert tenants (same identifying key: the later record wins). Returns how many.

        Replicas starting together seed the same fixture files at once: a tenant another
        process inserted first is a unique-key race, and the transaction runs again (it
        then updates that row)."""

        def work(s: Session) -> int:
            count = 0
            position = len(s.execute(select(TenantRow.key)).all())
            for api, records in parsed.items():
                for record in records:
                    key = record.identity()
                    row = s.get(TenantRow, (api, key))
                    data = record.model_dump(mode="json")
                    if row is None:
                        s.add(TenantRow(api=api, key=key, position=position, data=data))
                        s.flush()
                        position += 1
                    else:
                        row.data = data
                    count += 1
            self._bump(s)
            return count

        with self._lock:
            count = self.db.retrying(work)
        self.reload()
        return count

    def _bump(self, session: Session) -> None:
        if self._shared is not None:
            bump(session, VERSION)

    def changed(self) -> None:
        """The tenant rows were replaced under the index (a snapshot restored): every
        process reloads."""
        if self._shared is not None:
            with self.db.session() as s:
                bump(s, VERSION)
        self.reload()

    def _fresh(self) -> dict[str, dict[str, TenantModel]]:
        """The index, reloaded first if another process changed the tenants."""
        if self._shared is not None and peek_live(self._shared, VERSION)[1] != self._version:
            self.reload()
        return self._index

    def reload(self) -> None:
        version = peek_live(self._shared, VERSION)[1] if self._shared is not None else 0
        with self.db.session() as s:
            rows = s.execute(select(TenantRow).order_by(TenantRow.position)).scalars().all()
            index: dict[str, dict[str, TenantModel]] = {name: {} for name in self.specs}
            for row in rows:
                if row.api in self.specs:
                    index[row.api][row.key] = self.specs[row.api].tenant_model.model_validate(row.data)
        self._index = index
        self._version = version

    def clear(self) -> None:
        with self.db.session() as s:
            s.execute(delete(TenantRow))
            self._bump(s)
        self.reload()

    # -- lookups -------------------------------------------------------------------
    def get(self, api: str, key: str) -> Any | None:
        return self._fresh().get(api, {}).get(str(key))

    def find(self, api: str, predicate: Callable[[Any], bool]) -> Any | None:
        for tenant in self._fresh().get(api, {}).values():
            if predicate(tenant):
                return tenant
        return None

    def all(self, api: str) -> list[Any]:
        return list(self._fresh().get(api, {}).values())

    def document(self) -> dict[str, list[dict[str, Any]]]:
        """Every tenant, in the fixture format."""
        return {api: [t.model_dump(mode="json") for t in ts.values()] for api, ts in self._fresh().items()}
