"""The 123pan open platform's behaviour on the core, behind one facade: :class:`Pan123Service`
is what the core (its :class:`~emulator.core.contract.Service` hooks), the routes and the
admin API talk to. It holds the runtime config and the access rules (tokens, QPS) itself
and hands everything else to one module an idea, each reached as an attribute:

- ``tree`` (tree.py): the file tree both spaces share: ids, folders, names, a file's parts;
- ``oss`` (oss.py): image hosting's mkdir, delete, detail and list;
- ``uploads`` (uploads.py): the six-step v1 slice upload with 秒传 (image hosting and the
  cloud disk), on the sessions of sessions.py and the asynchronous check of checks.py;
- ``disk`` (disk.py) and ``upload_v2`` (upload_v2.py): the cloud disk's file management
  and its upload v2;
- ``downloads`` (downloads.py): download links; evidence.py and preloading.py: what is
  stored (admin API) and preloaded objects. No HTTP types.

A file's bytes are its ordered slice blobs (``Pan123FilePart``): slices are never joined.

The runtime config is a row (``emulator_values``, name :data:`CONFIG_VALUE`), read when a
call needs it: every process serving the emulator sees a change made through any of them.
An in-memory database has one process by definition: there the row is read once and
remembered until this process changes it, resets or restores.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select

from ...core.contract import ServiceBase
from ...core.guards import hold
from ...core.ratelimit import Limit
from ...core.reads import Read
from ...core.shared import SharedValue, forget, read_value, write_value
from . import auth, evidence, limits
from .checks import Checks
from .config import Config, config_of_state, parse_config, state_of
from .disk import Disk
from .downloads import Download, Downloads
from .errors import Pan123Error
from .models import Pan123Token
from .oss import ImageHosting
from .preloading import Preloader
from .sessions import Sessions
from .tenant import Tenant
from .tree import Tree
from .upload_v2 import UploadV2
from .uploads import Uploads

if TYPE_CHECKING:
    from ...core.runtime import Emulator

CONFIG_VALUE = "pan123.config"  # absent: the documented defaults
_CONFIG_TEXT = select(SharedValue.value).where(SharedValue.name == CONFIG_VALUE)
_CONFIG = Read(_CONFIG_TEXT)
# What every authenticated call reads first: its token's row and the config, in one statement.
_ACCESS = Read(
    select(Pan123Token.client_id, Pan123Token.expires_at, _CONFIG_TEXT.scalar_subquery())
    .where(Pan123Token.token == bindparam("token"))
)


class _Stored(Config):
    """``Pan123Service.config`` on a shared database: a field assigned is stored at once."""

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        store = self.__dict__.get("_store")
        if store is not None:
            store(self)


class Pan123Service(ServiceBase):
    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator
        self.tree = Tree(emulator)
        sessions = Sessions(emulator, self.tree)
        self.checks = Checks(emulator, self._config, sessions)
        self.oss = ImageHosting(emulator, self.tree)
        self.uploads = Uploads(emulator, self._config, self.tree, sessions, self.checks)
        self.disk = Disk(emulator, self.tree)
        self.upload_v2 = UploadV2(emulator, self._config, self.tree, self.disk, sessions, self.checks)
        self.downloads = Downloads(emulator)
        self._preloader = Preloader(emulator, self._config, self.tree)
        self._remembered: Config | None = None  # in-memory database only (see the docstring)
        self._last_parsed: tuple[str | None, Config] | None = None  # the row's text, parsed (_parsed)

    @property
    def config(self) -> Config:
        """The config as it is now, whichever process changed it last. Assigning one of its
        fields (``service.config.slice_size = n``, as tests do) stores the change."""
        if self.emu.db.memory:
            return self._config()  # the remembered object itself
        stored = _Stored(**asdict(self._config()))
        stored.__dict__["_store"] = self._store
        return stored

    def _store(self, config: Config) -> None:
        with self.emu.db.session() as s:
            self._write_config(s, config)
        self._remember(config)

    def _config(self) -> Config:
        if self._remembered is not None:
            return self._remembered
        row = _CONFIG.first(self.emu.db)
        config = self._parsed(None if row is None else row[0])
        self._remember(config)
        return config

    def _parsed(self, raw: str | None) -> Config:
        """The config a row's JSON holds, parsed once per distinct text (every call reads
        the row; it seldom changes). Callers never change the object they get."""
        cached = self._last_parsed
        if cached is not None and cached[0] == raw:
            return cached[1]
        config = self._config_of(None if raw is None else json.loads(raw))
        self._last_parsed = (raw, config)
        return config

    def _remember(self, config: Config | None) -> None:
        """Keep the config for the next calls when no other process can change the row."""
        self._remembered = config if self.emu.db.memory else None

    @classmethod
    def _read_config(cls, s: Any) -> Config:
        return cls._config_of(read_value(s, CONFIG_VALUE))

    @staticmethod
    def _config_of(stored: Any) -> Config:
        if stored is None:
            return Config()
        try:
            return config_of_state({"config": stored})
        except (TypeError, ValueError):  # a row written by a newer release: its known settings
            return Config()

    # -- Service hooks (core/contract.py) --------------------------------------------------
    def save_state(self) -> dict[str, Any] | None:
        """Nothing besides the rows: the config is a row a whole snapshot copies. (Reading it
        here would open a session while the snapshot's copy holds the database.)"""
        return None

    def check_state(self, state: Any) -> Config:
        """The config a saved state holds, checked as ``POST /_emulator/pan123/config`` checks it."""
        return config_of_state(state)

    def load_state(self, state: dict[str, Any] | None) -> None:
        """The config a whole snapshot saved before it was a row becomes the row."""
        config = self.check_state(state)
        with self.emu.db.session() as s:
            self._write_config(s, config)
        self._remember(config)

    @staticmethod
    def _write_config(s: Any, config: Config) -> None:
        config = Config(**asdict(config))
        if config == Config():
            forget(s, CONFIG_VALUE)
        else:
            write_value(s, CONFIG_VALUE, state_of(config)["config"])

    def state_changed(self) -> None:
        """Rows were reset or restored: the upload checks' MD5s are computed again, the
        config is read again."""
        self.checks.forget()
        self._remembered = None

    async def preload(self, tenant_id: str, path: str, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        return await self._preloader.preload(tenant_id, path, chunks)

    # -- config ----------------------------------------------------------------------------
    def config_doc(self, config: Config | None = None) -> dict[str, Any]:
        config = self._config() if config is None else config
        return {**asdict(config), "qps": config.qps_table(), "rate_limits": self.emu.limiter.enabled}

    def update_config(self, body: Any) -> dict[str, Any]:
        """Validate everything first, then apply: a bad field changes nothing. Concurrent
        updates (from any process) apply one after the other, none lost."""
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        with self.emu.db.session() as s:
            hold(s, CONFIG_VALUE)
            config = parse_config(body, self._read_config(s))
            self._write_config(s, config)
        self._remember(config)
        return self.config_doc(config)

    # -- access ----------------------------------------------------------------------------
    def hit_limit(self, client_id: str, path: str, config: Config | None = None) -> None:
        """``config``: the config as :meth:`access` read it (else read now)."""
        key = limits.key_of(path)
        qps = (config or self._config()).qps_table().get(key)
        if not qps:
            return
        decision = self.emu.limiter.hit("pan123", client_id, key, Limit(qps, limits.WINDOW))
        if not decision.allowed:
            raise Pan123Error.TOO_FREQUENT(reason=f"more than {qps} call(s) a second to {key} by {client_id}")

    def issue_token(self, client_id: str, client_secret: str) -> dict[str, str]:
        tenant: Tenant | None = self.emu.tenants.get("pan123", client_id)
        if tenant is None:
            raise Pan123Error.FAILED("clientID或clientSecret错误", reason=f"unknown clientID {client_id!r}")
        if not hmac.compare_digest(client_secret.encode(), tenant.client_secret.encode()):
            raise Pan123Error.FAILED("clientID或clientSecret错误", reason=f"wrong clientSecret for {client_id}")
        now = self.emu.clock.now()
        expires = int(now + self._config().token_lifetime)
        token = auth.mint_token(tenant, expires, self.emu.ids.hex(16))
        with self.emu.db.session() as s:
            s.add(Pan123Token(token=token, client_id=tenant.client_id, issued_at=now, expires_at=expires))
        return {"accessToken": token, "expiredAt": auth.iso_beijing(expires)}

    def authenticate(self, authorization: str | None) -> Tenant:
        return self.access(authorization)[0]

    def access(self, authorization: str | None) -> tuple[Tenant, Config]:
        """The tenant a bearer token names, and the config, read in one session (every
        authenticated call needs both: the token, then the endpoint's QPS)."""
        token = auth.bearer(authorization)
        row = _ACCESS.first(self.emu.db, token=token)
        if row is None:
            raise Pan123Error.INVALID_TOKEN(reason="unknown access token")
        client_id, expires_at, raw_config = row
        config = self._remembered or self._parsed(raw_config)
        self._remember(config)
        if self.emu.clock.now() >= expires_at:
            raise Pan123Error.INVALID_TOKEN(reason=f"access token expired at {auth.iso_beijing(expires_at)}")
        tenant: Tenant | None = self.emu.tenants.get("pan123", client_id)
        if tenant is None:
            raise Pan123Error.INVALID_TOKEN(reason=f"tenant {client_id} no longer exists")
        return tenant, config

    async def settle(self, client_id: str | None = None) -> None:
        """Uploads (of one client, or all) whose asynchronous check is due become files (or
        fail) before anything is read or changed: see :meth:`Checks.settle`."""
        await self.checks.settle(client_id)

    # -- what is stored (the admin API) ----------------------------------------------------
    def all_files(self, client_id: str | None = None) -> list[dict[str, Any]]:
        return evidence.all_files(self.emu, client_id)

    def all_uploads(self) -> list[dict[str, Any]]:
        return evidence.all_uploads(self.emu)

    def download_of(self, file_id: str) -> Download:
        return self.downloads.download_of(file_id)

    def stream(self, dl: Download, start: int = 0, end: int | None = None,
               count_traffic: bool = True) -> AsyncIterator[bytes]:
        return self.downloads.stream(dl, start, end, count_traffic)
