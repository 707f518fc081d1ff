"""A live emulator on a free port (uvicorn on a thread of the test process), for clients and
SDKs that open their own connections; or a handle on an emulator already running elsewhere,
shared with other test workers."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import uvicorn

from ..apis import ALL_APIS
from ..app import create_app
from ..cli import _bind
from ..core.contract import ApiSpec
from ..settings import Settings
from .handle import AdminError, EmulatorHandle, parse_tenants, tenant_models


class LiveEmulator(EmulatorHandle):
    """Serves every API on ``url`` (``http://127.0.0.1:<free port>``); links the APIs hand out
    use the same base (``public_url == url``). ``state`` is the emulator's core object."""

    def __init__(self, settings: Settings | None = None, *, apis: Sequence[ApiSpec] = ALL_APIS,
                 **overrides: Any) -> None:
        """``apis``: the APIs it serves (default: every registered one)."""
        sock = _bind("127.0.0.1", 0)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        values: dict[str, Any] = {"database_url": "sqlite://"}
        if settings is not None:
            values.update(settings.model_dump(exclude_unset=True))
        values.update(overrides)
        values["public_url"] = url
        settings = Settings(**values)
        self.app = create_app(settings, apis=apis)
        self.state = self.app.state.emulator
        config = uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=2, server_header=False,
                                lifespan="off")
        self._server = uvicorn.Server(config)
        self._sock = sock
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="emulator-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator server did not start")
            time.sleep(0.005)
        super().__init__(httpx.Client(base_url=url, timeout=30), url, url, admin_token=settings.admin_token, apis=apis)

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()
        self.client.close()
        self.state.close()

    def __enter__(self) -> LiveEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SharedEmulator(EmulatorHandle):
    """A handle on an emulator that other processes use too (``--emulator-url``).

    It adds tenants of its own, one per API, named after ``worker`` and a random tag, so
    that its reset, snapshots, journal and faults touch only them."""

    def __init__(self, url: str, worker: str = "main", admin_token: str | None = None,
                 apis: Sequence[ApiSpec] = ALL_APIS) -> None:
        """``admin_token``: the emulator's ``--admin-token`` (default: ``EMULATOR_ADMIN_TOKEN``);
        ``apis``: the APIs it serves (default: every registered one)."""
        client = httpx.Client(base_url=url.rstrip("/"), timeout=30)
        if admin_token is None:
            admin_token = os.environ.get("EMULATOR_ADMIN_TOKEN") or None
        auth = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        try:
            health = client.get("/_emulator/health").json()
        except (httpx.HTTPError, ValueError) as exc:
            client.close()
            raise RuntimeError(f"no emulator answers at {url}: {exc}") from None
        base = health.get("endpoints", {}).get("base", url)
        tag = f"{worker}-{secrets.token_hex(3)}"
        r = client.get("/_emulator/credentials", headers=auth)
        if r.status_code >= 400:
            client.close()
            raise AdminError(f"the emulator at {url} refused the admin call: {r.text}")
        try:
            own = _own_tenants({spec.name: spec for spec in apis}, r.json(), tag)
        except AdminError:
            client.close()
            raise
        r = client.post("/_emulator/fixtures", json=own, headers=auth)
        if r.status_code >= 400:
            client.close()
            raise AdminError(f"could not add this worker's tenants: {r.text}")
        tenants = parse_tenants(tenant_models(apis), own)
        super().__init__(client, url, base, tenants=tenants, admin_token=admin_token, apis=apis)

    def close(self) -> None:
        try:
            self.reset()
        finally:
            self.client.close()


def _own_tenants(specs: Mapping[str, ApiSpec], doc: dict[str, list[dict[str, Any]]],
                 tag: str) -> dict[str, list[dict[str, Any]]]:
    """Copies of the first tenant of each API with identities (and secrets) of their own
    (each API's ``worker_tenant``). An API the emulator serves that this process does not
    know is refused: the worker would share its tenant with every other worker."""
    unknown = sorted(api for api, tenants in doc.items() if tenants and api not in specs)
    if unknown:
        raise AdminError(f"the emulator serves API(s) this test process does not know: {', '.join(unknown)}")
    return {api: [specs[api].worker_tenant(dict(tenants[0]), tag)] for api, tenants in doc.items() if tenants}
