"""Shared fixtures: a fresh in-memory emulator per test, and a live server when a test
needs a real socket.

A fresh emulator per test is cheap because two things are made once per process and reused:
- the FastAPI app: FastAPI builds an app's routes on its first request (0.1-0.2 s for this
  one), and routes and middleware find the emulator at ``app.state.emulator`` on every
  request (emulator/app.py), so an idle app is handed the test's fresh emulator;
- the started database: a fresh in-memory emulator starts from a copy of one already started
  with the same settings (schema and fixture tenants in place).
Both pools are the pytest plugin's own (emulator/testing/inprocess.py).
Settings that act at start (``--preload``, ``--import``) take the whole start instead; a
database on disk is started as a fresh start does, on a pooled app. A test that makes apps
of its own settings (several at once, or settings the fixtures do not give) takes them from
the same pool with ``make_app(settings)``: each is closed and given back after the test.

The API tests run twice: on the in-memory SQLite database (``[sqlite]``) and on a real
PostgreSQL server (``[pg]``, tests/pg_server.py: one server and database per xdist worker,
emptied before each test, the emulator then started on it as on a fresh start). A test takes
part when it uses ``settings`` (so ``app``, ``client``, ``emu``) or ``live_server`` and lives
in one of the folders of ``_ON_POSTGRESQL`` (minus the SQLite-only modules listed there).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from helpers import LiveServer, start_server

from emulator.apis import ALL_APIS
from emulator.app import create_app
from emulator.core.runtime import Emulator
from emulator.settings import Settings
from emulator.testing.inprocess import app_for, release_app, started_emulator

if TYPE_CHECKING:  # imported by pytest as a plugin below (so its asserts are rewritten)
    from pg_server import PgServer

# ``pytester``: tests that run a pytest session of their own (e.g. two tests in a set order);
# ``pg_server``: the PostgreSQL server of the second run (fixtures pg_server, pg_url).
pytest_plugins = ["pytester", "pg_server"]

# The folders whose tests run on PostgreSQL too, and the modules there that test what only
# SQLite has (a database file on a full disk).
_ON_POSTGRESQL = ("pan123", "antelope", "nextjoy", "jpush", "wechat", "core", "admin")
_SQLITE_ONLY = ("core/test_store_full.py",)


def _started(settings: Settings) -> Emulator | None:
    """A started emulator: from the plugin's pool of started images (in-memory SQLite), or
    started as ``create_app`` starts it (a database file, the test's emptied PostgreSQL
    database); None when these settings need the whole start (work done at start)."""
    starts_with_work = settings.preload is not None or settings.import_file is not None
    if starts_with_work:
        return None
    if settings.resolved_database_url == "sqlite://":
        return started_emulator(settings)
    emulator = Emulator(settings, ALL_APIS)
    emulator.start()
    return emulator


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``database``: ``sqlite`` for every test; ``pg`` too for the tests of ``_ON_POSTGRESQL``
    (as ``--databases`` allows)."""
    if "database" not in metafunc.fixturenames:
        return
    relative = metafunc.definition.path.relative_to(Path(__file__).parent).as_posix()
    # ``@pytest.mark.sqlite_only("why")``: a behaviour PostgreSQL does not have (said why).
    on_pg = (relative.split("/")[0] in _ON_POSTGRESQL and relative not in _SQLITE_ONLY
             and metafunc.definition.get_closest_marker("sqlite_only") is None)
    chosen = [name.strip() for name in str(metafunc.config.getoption("--databases")).split(",") if name.strip()]
    unknown = set(chosen) - {"sqlite", "pg"}
    if unknown or not chosen:
        raise pytest.UsageError(f"--databases: sqlite and/or pg, not {sorted(unknown) or 'nothing'}")
    backends = [name for name in ("sqlite", "pg") if name in chosen and (on_pg or name == "sqlite")]
    if not backends:  # a test that runs on SQLite only, with --databases pg
        backends = ["sqlite"]
    metafunc.parametrize("database", backends, indirect=True)


_emptying: dict[tuple[int, str], Any] = {}


def empty_database(server: PgServer, name: str) -> None:
    """Every table of a PostgreSQL database emptied and every sequence restarted (the schema
    and its migration history stay): the database of a fresh start, in one transaction.
    DELETE, not TRUNCATE: on tables of a few rows it is ten times faster (TRUNCATE makes
    each table's files anew); foreign keys are not checked meanwhile (replica role)."""
    import psycopg

    key = (server.port, name)
    connection = _emptying.get(key)
    if connection is None or connection.closed:  # one connection per database: a new one costs more
        connection = _emptying[key] = psycopg.connect(
            host=server.host, port=server.port, user=server.user, dbname=name, autocommit=True)
    with connection.transaction():
        tables, sequences = connection.execute(
            "SELECT (SELECT coalesce(array_agg(quote_ident(tablename)), '{}') FROM pg_tables "
            "        WHERE schemaname = 'public' AND tablename NOT LIKE 'alembic%'),"
            "       (SELECT coalesce(array_agg(quote_literal(quote_ident(sequencename))), '{}') "
            "        FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL)").fetchone() or ([], [])
        statements = ["SET LOCAL lock_timeout = '10s'", "SET LOCAL session_replication_role = replica"]
        statements += [f"DELETE FROM {table}" for table in tables]
        if sequences:  # the used ones back to their start
            statements.append("SELECT " + ", ".join(f"setval({sequence}, 1, false)" for sequence in sequences))
        connection.execute("; ".join(statements).encode())


@pytest.fixture(scope="session")
def _pg_database(pg_server: PgServer) -> str:
    """This worker's PostgreSQL database of the in-process emulators (emptied per test)."""
    return pg_server.create_database("inprocess")


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """The database of the test's emulator: ``sqlite://`` (in memory) or this worker's
    PostgreSQL database, emptied."""
    if request.param == "sqlite":
        return "sqlite://"
    server: PgServer = request.getfixturevalue("pg_server")
    url: str = request.getfixturevalue("_pg_database")
    empty_database(server, url.rsplit("/", 1)[1])
    return url


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """pyproject.toml's addopts give pytest-xdist's options; with ``-p no:xdist`` they are
    accepted and the suite runs in this one process. ``--databases``: the backends the
    per-test emulators run on (default both; ``--databases sqlite`` skips the PostgreSQL run)."""
    parser.addoption("--databases", default="sqlite,pg",
                     help="comma-separated backends of the API tests' emulators: sqlite, pg (default: both)")
    if not pluginmanager.has_plugin("xdist"):
        group = parser.getgroup("xdist", "without pytest-xdist (-p no:xdist): ignored")
        group._addoption("-n", "--numprocesses", dest="numprocesses", default=None)
        group.addoption("--dist", dest="dist", default="no")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` for test files or test ids alone: no workers (starting them costs more
    than they save); for folders or the whole suite: pytest-xdist's count (one per core)."""
    if config.args and all(arg.split("::")[0].endswith(".py") for arg in config.args):
        return 0
    return None


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("EMULATOR_"):
            monkeypatch.delenv(name)


@pytest.fixture
def settings(tmp_path: Path, database: str) -> Settings:
    return Settings(database_url=database, data_dir=tmp_path / "data")


@pytest.fixture
def make_app() -> Iterator[Callable[[Settings], FastAPI]]:
    """``make_app(settings)``: a started app as ``create_app(settings)`` makes it (its errors
    included), on an idle app of the process when these settings allow it (see the module's
    docstring); every app made is closed and given back after the test."""
    made: list[FastAPI] = []

    def make(settings: Settings) -> FastAPI:
        emulator = _started(settings)
        application = create_app(settings) if emulator is None else app_for(emulator)
        made.append(application)
        return application

    yield make
    for application in made:
        application.state.emulator.close()
        release_app(application)


@pytest.fixture
def app(settings: Settings, make_app: Callable[[Settings], FastAPI]) -> FastAPI:
    return make_app(settings)


@pytest.fixture
def app_at(make_app: Callable[[Settings], FastAPI], tmp_path: Path) -> Callable[..., FastAPI]:
    """``app_at(memory, name="data", **settings)``: a started app (``make_app``), its database in
    memory or in a file, its data dir ``name`` under the test's folder."""

    def at(memory: bool, name: str = "data", **extra: Any) -> FastAPI:
        where = {"database_url": "sqlite://"} if memory else {}
        return make_app(Settings(**where, data_dir=tmp_path / name, **extra))

    return at


@pytest.fixture
def emu(app):
    return app.state.emulator


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


class SharedServer:
    """One ``storage-emulator serve`` process (default flags) shared by the tests that need a
    real server but not a process of their own, brought back to the state of a fresh start
    before each: its state reset, the clock real, rate limits on and 123pan's config back to
    the defaults through the admin API. A test that changed what no admin call undoes (added
    tenants, saved snapshots) or stopped the process gets a new process instead."""

    def __init__(self, root: Path, new_database: Callable[[], str] | None = None) -> None:
        self.root = root
        self.new_database = new_database  # a fresh database URL per process (PostgreSQL)
        self.server: LiveServer | None = None
        self.starts = 0
        self.fresh_tenants: object = None
        self.http = httpx.Client(timeout=30)  # one client: making one costs more than a call

    def _admin(self, method: str, path: str, **kw: object) -> httpx.Response:
        assert self.server is not None
        r = self.http.request(method, self.server.url + "/_emulator" + path, **kw)  # type: ignore[arg-type]
        r.raise_for_status()
        return r

    def _start(self) -> None:
        self.stop()
        self.starts += 1
        args = ("--database-url", self.new_database()) if self.new_database is not None else ()
        self.server = start_server(self.root / str(self.starts), *args, output=self.root / f"{self.starts}.log")
        self.fresh_tenants = self._admin("GET", "/credentials").json()

    def fresh(self) -> LiveServer:
        if self.server is None or self.server.proc.poll() is not None:
            self._start()
        else:
            self._admin("POST", "/reset")
            self._admin("POST", "/clock", json={"real": True})
            self._admin("POST", "/limits", json={"enabled": True})
            self._admin("POST", "/pan123/config", json={"reset": True})
            if (self._admin("GET", "/credentials").json() != self.fresh_tenants
                    or self._admin("GET", "/snapshots").json()):
                self._start()
        assert self.server is not None
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def close(self) -> None:
        self.stop()
        self.http.close()


@pytest.fixture(scope="session")
def _shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedServer]:
    shared = SharedServer(tmp_path_factory.mktemp("live-server"))
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture(scope="session")
def _shared_pg_server(tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer) -> Iterator[SharedServer]:
    names: list[str] = []

    def new_database() -> str:
        if names:
            pg_server.drop_database(names[-1])
        names.append(f"live_{len(names)}")
        return pg_server.create_database(names[-1])

    shared = SharedServer(tmp_path_factory.mktemp("live-pg-server"), new_database)
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture
def live_server(request: pytest.FixtureRequest, database: str) -> LiveServer:
    """A ``storage-emulator serve`` process on a free port, as freshly started (shared with
    other tests: a test that needs a process of its own, to read its output, stop it or pass
    it flags, calls ``helpers.start_server``); on the test's database backend."""
    shared: SharedServer = request.getfixturevalue(
        "_shared_server" if database == "sqlite://" else "_shared_pg_server")
    return shared.fresh()


# The slowest modules (live servers, subprocesses, a browser, a pip install), slowest first:
# pytest-xdist's worksteal hands each worker a contiguous run of the collected tests and an
# idle worker takes over half of another's remainder, so long tests collected first overlap
# the many short ones instead of making the last worker's tail long.
_SLOW_FIRST = (
    "test_docker.py",
    "test_code_health.py",
    "core/test_snapshot_hostile.py",
    "pan123/test_pan123_sdk_py123pan.py",
    "cli/test_snapshot_cli.py",
    "test_disk_full_live.py",
    "admin/test_dashboard_browser.py",
    "cli/test_preload_cli.py",
    "cli/test_cli_console.py",
    "test_body_timeout_live.py",
    "test_readme_plugin.py",
    "cli/test_cli.py",
    "test_readme.py",
    "pan123/test_pan123_php_demo.py",
    "admin/test_admin_guard.py",
    "testing/test_plugin_state.py",
    "test_client_abort_live.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Known-slow modules first (in the order above), the rest in collection order; a
    module's tests stay together (module-scoped servers and browsers are set up once)."""
    tests_dir = Path(__file__).parent

    def rank(item: pytest.Item) -> int:
        try:
            relative = item.path.relative_to(tests_dir).as_posix()
        except ValueError:
            return len(_SLOW_FIRST)
        return _SLOW_FIRST.index(relative) if relative in _SLOW_FIRST else len(_SLOW_FIRST)

    items.sort(key=rank)  # stable
