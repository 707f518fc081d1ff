"""SQLAlchemy 2.x engine and sessions: one SQLite file (WAL, 64 KiB pages), an in-memory SQLite
database or a PostgreSQL database holds the whole state, shared by every process on it."""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, StaticPool

from . import pg_types  # noqa: F401  (String(n) unbounded on PostgreSQL, as on SQLite)

# 64 KiB pages roughly double blob write throughput over SQLite's 4 KiB default
# (measured: ~300 MB/s -> ~630 MB/s for 1 MiB chunk rows). Only takes effect before
# the first table is created, which is why it is set on every new connection.
PAGE_SIZE = 65536
# The write-ahead log stays small: a checkpoint every 64 pages (4 MiB at 64 KiB pages) and the
# file cut back to WAL_LIMIT after each, so it never holds the disk space that deletes and
# checkpoints need (unbounded, it grew to ~58 MiB on a 64 MiB disk and wedged every write).
WAL_CHECKPOINT_PAGES = 64
WAL_LIMIT = 4 << 20


class Base(DeclarativeBase):
    """Declarative base of every table. A table whose rows survive ``reset`` sets ``__keep_on_reset__``."""


def table_of(model: type[Base]) -> Table:
    """A model's table, typed as one (``__table__`` is typed loosely: a ``FromClause``),
    for Core statements over it."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _is_memory(url: str) -> bool:
    u = make_url(url)
    return u.get_backend_name() == "sqlite" and (u.database in (None, "", ":memory:") or "mode=memory" in url)


def _sqlite_begin(conn: Connection) -> None:
    """SQLAlchemy begins a transaction on a SQLite file: ``BEGIN <mode>`` when the connection
    asks for one (execution option ``sqlite_begin``: sessions ask for IMMEDIATE), else none
    (the driver stays in autocommit; a caller such as snapshot_copy.py issues its own BEGIN
    after ATTACH, which a transaction would forbid)."""
    mode = conn.get_execution_options().get("sqlite_begin")
    if mode:
        conn.exec_driver_sql(f"BEGIN {mode}")


def _sqlite(raw: PoolProxiedConnection) -> sqlite3.Connection:
    """The sqlite3 connection under a pooled one (an in-memory database is always one)."""
    conn = raw.driver_connection
    if not isinstance(conn, sqlite3.Connection):
        raise TypeError(f"not a sqlite3 connection: {conn!r}")
    return conn


# Transient failures a whole transaction may be run again after (Database.retrying): another
# transaction's row won the race for a unique key, PostgreSQL gave up on a serialization or a
# deadlock, or SQLite's busy timeout ran out waiting for the write lock.
PG_RETRY_STATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
SQLITE_RETRY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
PG_UNIQUE_VIOLATION = "23505"
SQLITE_UNIQUE_CODES = frozenset({2067, 1555})  # SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
# Connections per process. Routes run on a thread pool (40 threads), uploads hash on another
# thread: a transaction waits for a free connection instead of failing. PostgreSQL's default
# max_connections (100) takes two processes at this size; more replicas: raise it there.
POOL_SIZE = 10
POOL_OVERFLOW = 30
# How long a SQLite transaction waits for another process's (or thread's) write lock.
BUSY_TIMEOUT = 30.0
T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure that running the same transaction again may clear:
    a unique-key race (an IntegrityError of a unique or primary key), a PostgreSQL serialization failure or
    deadlock, SQLite's "database is locked" (busy timeout ran out)."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if isinstance(exc, IntegrityError):  # only a unique key lost to another transaction (not NOT NULL, ...)
        if isinstance(orig, sqlite3.Error):
            return getattr(orig, "sqlite_errorcode", None) in SQLITE_UNIQUE_CODES or "UNIQUE constraint" in str(orig)
        return getattr(orig, "sqlstate", None) == PG_UNIQUE_VIOLATION
    if getattr(orig, "sqlstate", None) in PG_RETRY_STATES:
        return True
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        return code in SQLITE_RETRY_CODES or "database is locked" in str(orig)
    return False


def driver_sql(dialect: Dialect, sql: str) -> str:
    """``sql`` written with ``?`` placeholders, in the driver's own style (psycopg's ``%s``)."""
    return sql if dialect.paramstyle == "qmark" else sql.replace("?", "%s")


class _ThreadConnection(threading.local):
    connection: sqlite3.Connection | None = None
    pid = 0
    generation = -1


class Bindable(Protocol):
    """A statement compiled for a dialect (core/reads.py's ``Sql``)."""

    def bind(self, dialect: Dialect, params: dict[str, Any]) -> tuple[str, Any]: ...


class Raw:
    """Runs statements in one transaction with the driver's own cursor (``Database.raw``) or
    on a session's connection (:meth:`of`: the same statements inside an ORM transaction).
    Driver errors come out as SQLAlchemy's (``IntegrityError``, ...), as from a session."""

    def __init__(self, dialect: Dialect, cursor: Any = None, connection: Connection | None = None) -> None:
        self.dialect = dialect
        self._cursor = cursor
        self._connection = connection

    @classmethod
    def of(cls, session: Session | Raw) -> Raw:
        """A runner on ``session``'s transaction (a runner already is one)."""
        if isinstance(session, Raw):
            return session
        connection = session.connection()
        return cls(connection.dialect, connection=connection)

    def __call__(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """``sql`` (``?`` placeholders, or the dialect's own with a dict) with ``params``: the rows."""
        if not isinstance(params, dict):
            sql = driver_sql(self.dialect, sql)
        if self._connection is not None:
            result = self._connection.exec_driver_sql(sql, params)
            return [tuple(row) for row in result] if result.returns_rows else []
        try:
            self._cursor.execute(sql, params)
            return [tuple(row) for row in self._cursor.fetchall()] if self._cursor.description else []
        except self.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(sql, params, exc, self.dialect.loaded_dbapi.Error) from exc

    def sqlite_connection(self) -> sqlite3.Connection | None:
        """The sqlite3 connection under a driver-level transaction on a SQLite file (for its
        incremental blob I/O), else None."""
        conn = getattr(self._cursor, "connection", None)
        return conn if isinstance(conn, sqlite3.Connection) else None

    def run(self, stmt: Bindable, **params: Any) -> list[tuple[Any, ...]]:
        """A compiled statement (core/reads.py's ``Sql``) with named parameters: the rows."""
        return self(*stmt.bind(self.dialect, params))


class Database:
    """The engine and the one way to write: :meth:`session`, a transaction that commits on
    success and rolls back on any exception. Safe across threads and processes:

    - SQLite file: every session starts with ``BEGIN IMMEDIATE`` (the write lock, waited for
      up to ``BUSY_TIMEOUT``), so a read-then-write inside one session is never interleaved
      with another process's or thread's write; reads by others go on (WAL).
    - PostgreSQL: READ COMMITTED; shared state changes in single statements (atomic updates,
      upserts, constraints) or under ``SELECT ... FOR UPDATE``; :meth:`retrying` reruns a
      transaction that lost a race.
    - In memory (``sqlite://``): one shared connection, transactions serialised by a
      process lock (there is only one process).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.memory = _is_memory(url)
        backend = make_url(url).get_backend_name()
        # snapshot_copy.py takes this around its own connection; only the in-memory database
        # (one connection shared by every thread) needs a real lock.
        self._lock: AbstractContextManager[Any] = threading.RLock() if self.memory else nullcontext()
        # SQLite file: each thread's own connection for reads and one-statement writes (connection())
        self._mine = _ThreadConnection()
        self._all_mine: list[sqlite3.Connection] = []
        # Guards the thread connections' list, generation and loans: a connection is lent for
        # one use (connection()) and dispose() never closes one that is out (see _lend).
        self._all_mine_lock = threading.Lock()
        self._generation = 0  # of the thread connections: dispose() starts a new one
        self._lent: dict[sqlite3.Connection, int] = {}  # connection -> uses running on it now
        self._doomed: set[sqlite3.Connection] = set()  # disposed while lent: closed when given back
        if backend == "sqlite":
            if self.memory:
                self.engine: Engine = create_engine(
                    "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
                )
                self._sessions = self.engine
            else:
                database = make_url(url).database
                if database:
                    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
                self.engine = create_engine(
                    url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT},
                    pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW,
                )
                # The pysqlite recipe: the driver issues no BEGIN of its own (it would begin only
                # before the first write, leaving earlier reads outside the transaction), the
                # "begin" event issues the one a connection asks for (sessions: IMMEDIATE).
                event.listen(self.engine, "begin", _sqlite_begin)
                self._sessions = self.engine.execution_options(sqlite_begin="IMMEDIATE")
            event.listen(self.engine, "connect", self._sqlite_pragmas)
        else:
            self.engine = create_engine(
                url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW,
                isolation_level="READ COMMITTED",
            )
            self._sessions = self.engine

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql`` (the SQLAlchemy dialect's name)."""
        return self.engine.dialect.name

    @property
    def sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def _sqlite_pragmas(self, dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        self.apply_pragmas(dbapi_conn)

    def apply_pragmas(self, dbapi_conn: DBAPIConnection) -> None:
        """The per-connection SQLite settings (again after a connection's database was replaced)."""
        if not self.memory:
            # No implicit BEGIN by the driver: SQLAlchemy's "begin" event decides (_sqlite_begin).
            dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA page_size={PAGE_SIZE}")
        # Debian's libsqlite3 is built with SQLITE_SECURE_DELETE: freeing a blob would
        # zero-fill every page it used (1 GiB: ~6 s and a 1 GiB WAL instead of 0.2 s).
        cur.execute("PRAGMA secure_delete=OFF")
        if not self.memory:
            cur.execute("PRAGMA journal_mode=WAL")
            # A test double need not survive a power cut; WAL keeps the file consistent
            # across a crash of the process. No fsync at checkpoints roughly doubles
            # sustained chunk-write throughput here.
            cur.execute("PRAGMA synchronous=OFF")
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            cur.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    def create_schema(self) -> None:
        """Every table of the models, as they are now (the in-memory database; a database on
        disk or on a server is versioned: emulator/migrations upgrades it at start)."""
        with self._lock:
            Base.metadata.create_all(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commits on success, rolls back on any exception."""
        with self._lock, Session(self._sessions, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def raw(self) -> Iterator[Raw]:
        """A write transaction at the driver's level, for hot paths where the ORM would cost
        ten times the statements (a chunk of an upload, a slice's commit): yields a
        :class:`Raw` runner. Commits on success, rolls back on any exception; begins as
        :meth:`session` does (SQLite: ``BEGIN IMMEDIATE``)."""
        if self.memory:
            with self.session() as session:
                yield Raw.of(session)
            return
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                if self.sqlite:
                    cursor.execute("BEGIN IMMEDIATE")
                yield Raw(self.engine.dialect, cursor)
                raw.commit()
            except BaseException:
                raw.rollback()
                raise
            finally:
                cursor.close()
        finally:
            raw.close()

    def retrying(self, work: Callable[[Session], T], attempts: int = 5, delay: float = 0.01) -> T:
        """``work(session)`` in a :meth:`session`, run again (up to ``attempts`` times in all,
        after a short growing random pause) when the transaction failed for a transient
        reason (:func:`is_transient`: a unique-key race, a serialization failure or deadlock,
        SQLite's busy timeout). ``work`` must be safe to run again: everything it changed was
        rolled back. The last failure is raised."""
        for attempt in range(1, attempts + 1):
            try:
                with self.session() as session:
                    return work(session)
            except DBAPIError as exc:
                if attempt == attempts or not is_transient(exc):
                    raise
            time.sleep(delay * attempt * (0.5 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def image(self) -> bytes:
        """The whole in-memory database as bytes (sqlite3 ``serialize``), for cheap copies."""
        if not self.memory:
            raise ValueError("only an in-memory database has an image")
        with self._lock:
            raw = self.engine.raw_connection()
            try:
                return _sqlite(raw).serialize()
            finally:
                raw.close()

    def load_image(self, image: bytes) -> None:
        """Replace the whole in-memory database by an :meth:`image` (sqlite3 ``deserialize``)."""
        if not self.memory:
            raise ValueError("only an in-memory database can load an image")
        with self._lock:
            raw = self.engine.raw_connection()
            try:
                conn = _sqlite(raw)
                conn.deserialize(image)
                conn.execute("PRAGMA foreign_keys=ON")
            finally:
                raw.close()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A DBAPI connection for statements that need no transaction of their own (a read; one
        statement committed on its own): on a SQLite file, this thread's own connection, kept
        for the next call (a pool's checkout and reset cost ~50 us, several times per call);
        elsewhere one from the pool, returned after. Not for the in-memory database."""
        if self.sqlite and not self.memory:
            conn = self._lend()
            try:
                yield conn
            finally:
                self._give_back(conn)
            return
        with self._lock:  # in memory: the one connection, never closed under a statement (dispose)
            raw = self.engine.raw_connection()
            try:
                yield raw
            finally:
                raw.close()

    def fetch(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """The rows of one statement of driver SQL (the dialect's placeholders) run on
        :meth:`connection`, outside any transaction of the emulator's."""
        with self.connection() as raw:
            cursor = raw.cursor()
            try:
                cursor.execute(sql, params)
                return [tuple(row) for row in cursor.fetchall()]
            finally:
                cursor.close()

    def _lend(self) -> sqlite3.Connection:
        """This thread's own connection, counted as in use until :meth:`_give_back`."""
        mine = self._mine
        pid = os.getpid()
        with self._all_mine_lock:
            if mine.connection is None or mine.pid != pid or mine.generation != self._generation:
                # first use in this thread (or process, or since dispose)
                args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
                connect: Any = sqlite3.connect  # with the URL's own arguments, as the engine's pool connects
                conn = connect(*args, **{**kwargs, "check_same_thread": False, "timeout": BUSY_TIMEOUT})
                self.apply_pragmas(conn)
                mine.connection, mine.pid, mine.generation = conn, pid, self._generation
                self._all_mine.append(conn)
            conn = mine.connection
            self._lent[conn] = self._lent.get(conn, 0) + 1
            return conn

    def _give_back(self, conn: sqlite3.Connection) -> None:
        with self._all_mine_lock:
            left = self._lent.pop(conn) - 1
            if left:
                self._lent[conn] = left
                return
            doomed = conn in self._doomed
            self._doomed.discard(conn)
        if doomed:
            conn.close()

    def dispose(self) -> None:
        """Close every connection. One a statement is still running on (a thread reading the
        next chunk of a download that was open when the emulator closed) is closed when that
        statement's use ends, never under it: closing a sqlite3 connection under a running
        statement crashes the process."""
        with self._all_mine_lock:
            mine, self._all_mine = self._all_mine, []
            self._generation += 1
            idle = []
            for conn in mine:
                if conn in self._lent:
                    self._doomed.add(conn)
                else:
                    idle.append(conn)
        for conn in idle:
            conn.close()
        with self._lock:  # in memory: after the session or statement running on its one connection
            self.engine.dispose()
