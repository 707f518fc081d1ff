"""What a test holds: an emulator (in process or live) and one-line helpers for every API.

Every helper speaks the admin API (``/_emulator``) through the same httpx client the test
uses, so the in-process and the live emulator behave alike, and admin calls never show up
in the request journal a test asserts on.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from ..apis import ALL_APIS
from ..apis.nextjoy.auth import compute_sign
from ..core.contract import ApiSpec
from ..core.tenants import TenantModel

Scope = Mapping[str, Iterable[str]]


class AdminError(RuntimeError):
    """The admin API refused a helper call; the message is its answer."""


def tenant_models(apis: Iterable[ApiSpec]) -> dict[str, type[TenantModel]]:
    """Each registered API's tenant model, by API name."""
    return {spec.name: spec.tenant_model for spec in apis}


def parse_tenants(models: Mapping[str, type[TenantModel]], doc: Mapping[str, Any]) -> dict[str, TenantModel]:
    """The first tenant of each API a fixture document lists, as its model (an API these
    models do not know, or one without tenants, is left out)."""
    return {api: models[api].model_validate(ts[0]) for api, ts in doc.items() if ts and api in models}


class Credentials:
    """The tenants a test uses, one per API (``creds.jpush.app_key``, ``creds.pan123.client_id``...)."""

    def __init__(self, tenants: Mapping[str, Any]) -> None:
        self._tenants = dict(tenants)

    def __getattr__(self, api: str) -> Any:
        try:
            return self._tenants[api]
        except KeyError:
            raise AttributeError(f"no {api} tenant") from None

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {api: t.model_dump(mode="json") for api, t in self._tenants.items()}

    def scope(self) -> dict[str, list[str]]:
        return {api: [t.identity()] for api, t in self._tenants.items()}


class Clock:
    """The emulator's clock: every expiry, TTL, deadline and rate-limit window follows it."""

    def __init__(self, handle: EmulatorHandle) -> None:
        self._h = handle

    def now(self) -> float:
        result: float = self._h._admin("GET", "/clock")["now"]
        return result

    @property
    def frozen(self) -> bool:
        result: bool = self._h._admin("GET", "/clock")["frozen"]
        return result

    def advance(self, seconds: float) -> float:
        result: float = self._h._admin("POST", "/clock", json={"advance": seconds})["now"]
        return result

    def set(self, timestamp: float) -> float:
        result: float = self._h._admin("POST", "/clock", json={"set": timestamp})["now"]
        return result

    def freeze(self, frozen: bool = True) -> float:
        result: float = self._h._admin("POST", "/clock", json={"freeze": frozen})["now"]
        return result

    def real(self) -> float:
        """Back to real time, unfrozen."""
        result: float = self._h._admin("POST", "/clock", json={"real": True})["now"]
        return result


class Faults:
    """Injected faults (``POST /_emulator/faults``); see the README for the rule fields."""

    def __init__(self, handle: EmulatorHandle) -> None:
        self._h = handle

    def add(self, **rule: Any) -> dict[str, Any]:
        """Add one rule, e.g. ``add(api="pan123", method="PUT", path="/_pan123/s3/*", skip=2,
        status=503)``: let two slice PUTs through, answer the third with 503.

        On an emulator shared with other workers a rule is bound to this worker's tenant of
        its ``api`` (so it needs ``api``, or a ``tenant`` of its own choosing): a rule for
        every tenant would fail the other workers' requests too."""
        if self._h.shared and rule.get("tenant") is None:
            api = rule.get("api")
            if api is None:
                raise ValueError("on an emulator shared with other workers a fault rule needs api= (it is bound "
                                 "to this worker's tenant of that API) or an explicit tenant=")
            with contextlib.suppress(AttributeError):  # an unknown api: the admin API refuses the rule and says why
                rule["tenant"] = getattr(self._h.credentials, api).identity()
        result: dict[str, Any] = self._h._admin("POST", "/faults", json=rule)
        return result

    def list(self) -> list[dict[str, Any]]:
        """Every rule with its counters (on a shared emulator: the rules bound to this worker's tenants)."""
        rules = self._h._admin("GET", "/faults")
        if not self._h.shared:
            result: list[dict[str, Any]] = rules
            return result
        own = self._h._own_pairs()
        return [r for r in rules if (r.get("api"), r.get("tenant")) in own]

    def remove(self, rule_id: int) -> None:
        self._h._admin("DELETE", f"/faults/{rule_id}")

    def clear(self) -> None:
        """Remove every rule (on a shared emulator: the rules bound to this worker's tenants)."""
        if not self._h.shared:
            self._h._admin("DELETE", "/faults")
            return
        for rule in self.list():
            self.remove(rule["id"])


class EmulatorHandle:
    """Helpers shared by the in-process emulator and the live server."""

    url: str
    public_url: str
    client: httpx.Client

    def __init__(self, client: httpx.Client, url: str, public_url: str | None = None,
                 tenants: Mapping[str, Any] | None = None, admin_token: str | None = None,
                 apis: Sequence[ApiSpec] = ALL_APIS) -> None:
        """``apis``: the APIs the emulator serves (their tenant models read the credentials)."""
        self.client = client
        self.tenant_models = tenant_models(apis)
        self.admin_token = admin_token  # sent as Authorization: Bearer on admin calls (--admin-token)
        self.url = url.rstrip("/")
        self.public_url = (public_url or url).rstrip("/")
        self.clock = Clock(self)
        self.faults = Faults(self)
        self._own = dict(tenants) if tenants else None
        self._credentials: Credentials | None = None

    # -- plumbing ---------------------------------------------------------------------
    @property
    def shared(self) -> bool:
        """Whether this handle owns only some tenants of an emulator other workers also use."""
        return self._own is not None

    def admin_headers(self) -> dict[str, str]:
        """What an admin call carries: the admin token, when the emulator has one."""
        return {"Authorization": f"Bearer {self.admin_token}"} if self.admin_token else {}

    def _admin(self, method: str, path: str, **kwargs: Any) -> Any:
        if self.admin_token:
            kwargs["headers"] = {**self.admin_headers(), **(kwargs.get("headers") or {})}
        r = self.client.request(method, f"{self.url}/_emulator{path}", **kwargs)
        if r.status_code >= 400:
            raise AdminError(f"{method} /_emulator{path} -> {r.status_code}: {r.text}")
        if r.headers.get("content-type", "").startswith("application/json"):
            return r.json()
        return r.content

    def _own_pairs(self) -> set[tuple[str, str]]:
        return {(api, ident) for api, ids in self.credentials.scope().items() for ident in ids}

    def _scope_params(self) -> list[tuple[str, str]]:
        if not self.shared:
            return []
        return [("scope", f"{api}:{ident}") for api, ids in self.credentials.scope().items() for ident in ids]

    # -- tenants and credentials ---------------------------------------------------------
    @property
    def credentials(self) -> Credentials:
        """One tenant per API: the default (first) tenants, or a shared emulator's own ones."""
        if self._credentials is None:
            if self._own is not None:
                self._credentials = Credentials(self._own)
            else:
                self._credentials = Credentials(parse_tenants(self.tenant_models, self._admin("GET", "/credentials")))
        return self._credentials

    def tenants(self, api: str) -> list[Any]:
        """Every tenant of an API, as the API's tenant model."""
        model = self.tenant_models[api]
        return [model.model_validate(t) for t in self._admin("GET", "/credentials").get(api, [])]

    def add_tenants(self, document: Mapping[str, Any]) -> None:
        """Add tenants at run time (a fixture document: ``{"jpush": [{"app_key": ...}]}``); one
        with the identity of an existing tenant replaces it (``credentials`` then shows the new record)."""
        self._admin("POST", "/fixtures", json=dict(document))
        if not self.shared:
            self._credentials = None  # the default tenants may just have been replaced

    @property
    def endpoints(self) -> dict[str, str]:
        """The URLs no API answer hands out (``qiniu_upload``, ``qiniu_uc``...)."""
        result: dict[str, str] = self._admin("GET", "/health")["endpoints"]
        return result

    # -- minting what each API needs -------------------------------------------------------
    def jpush_auth(self, app_key: str | None = None, *, dev: bool = False) -> str:
        """An ``Authorization`` header value: Basic app_key:master_secret (or dev_key:dev_secret)."""
        t = self._tenant("jpush", app_key)
        user, secret = (t.dev_key, t.dev_secret) if dev else (t.app_key, t.master_secret)
        return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()

    def pan123_token(self, client_id: str | None = None) -> str:
        """A fresh 123pan access token (not journaled, no QPS window used)."""
        body = {"client_id": self._tenant("pan123", client_id).client_id}
        result: str = self._admin("POST", "/pan123/tokens", json=body)["accessToken"]
        return result

    def pan123_headers(self, client_id: str | None = None) -> dict[str, str]:
        """The two headers every 123pan call carries: Bearer token and ``Platform``."""
        return {"Authorization": f"Bearer {self.pan123_token(client_id)}", "Platform": "open_platform"}

    def antelope_token(self, cid: int, *, ttl: int | None = None, expire: int | None = None,
                       control: int = 0, app_id: str | None = None) -> str:
        """An Antelope ``access_token`` for ``cid`` (default: valid one day of emulator time)."""
        body: dict[str, Any] = {"app_id": self._tenant("antelope", app_id).app_id, "cid": cid, "control": control}
        if ttl is not None:
            body["ttl"] = ttl
        if expire is not None:
            body["expire"] = expire
        result: str = self._admin("POST", "/antelope/tokens", json=body)["access_token"]
        return result

    def nextjoy_sign(self, params: Mapping[str, Any], *, tenant: str | None = None) -> str:
        """NextJoy's ``sign`` of a parameter dict (every parameter but ``sign``)."""
        t = self._tenant("nextjoy", tenant)
        return compute_sign({k: str(v) for k, v in params.items()}, t.app_secret)

    def nextjoy_params(self, params: Mapping[str, Any] | None = None, *, tenant: str | None = None) -> dict[str, str]:
        """``params`` plus appid, child_id, timestamp (emulator clock) and sign: ready to send."""
        t = self._tenant("nextjoy", tenant)
        out = {"appid": str(t.appid), "child_id": str(t.child_id), "timestamp": str(int(self.clock.now()))}
        out.update({k: str(v) for k, v in (params or {}).items()})
        out["sign"] = compute_sign(out, t.app_secret)
        return out

    def wechat_token(self, appid: str | None = None) -> str:
        """A WeChat ``access_token`` (as /cgi-bin/token would answer, not journaled)."""
        body = {"appid": self._tenant("wechat", appid).appid}
        result: str = self._admin("POST", "/wechat/tokens", json=body)["access_token"]
        return result

    def _tenant(self, api: str, ident: str | int | None) -> Any:
        if ident is None:
            return getattr(self.credentials, api)
        for t in self.tenants(api):
            if t.identity() == str(ident) or (api == "nextjoy" and str(t.bucket) == str(ident)):
                return t
        raise AdminError(f"no {api} tenant {ident!r}")

    # -- journal -------------------------------------------------------------------------
    def requests(self, api: str | None = None, path: str | None = None, status: int | str | None = None,
                 tenant: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """What clients sent (oldest first), filtered: ``path`` is a glob, ``status`` 404 or "4xx"."""
        params: list[tuple[str, str]] = [
            (k, str(v)) for k, v in (("api", api), ("path", path), ("status", status), ("tenant", tenant),
                                     ("limit", limit)) if v is not None
        ]
        result: list[dict[str, Any]] = self._admin("GET", "/requests", params=params + self._scope_params())
        return result

    def clear_requests(self) -> None:
        self._admin("DELETE", "/requests", params=self._scope_params())

    # -- limits --------------------------------------------------------------------------
    def rate_limits(self, enabled: bool) -> None:
        """Turn every vendor QPS / per-minute limit off (False) or back on (True)."""
        self._admin("POST", "/limits", json={"enabled": enabled})

    def pan123_config(self, **changes: Any) -> dict[str, Any]:
        """123pan's runtime tunables (``slice_size``, ``token_lifetime``, ``presign_expires``,
        ``async_seconds``, ``answer_20103``, ``qps``); with arguments, changes them first
        (``reset=True``: back to the documented values). E.g. ``pan123_config(slice_size=1024)``
        makes a 4 KiB upload take four slices. Shared by every tenant of the emulator."""
        if not changes:
            result: dict[str, Any] = self._admin("GET", "/pan123/config")
            return result
        result = self._admin("POST", "/pan123/config", json=changes)
        return result

    # -- evidence ------------------------------------------------------------------------
    def jpush_files(self, app_key: str | None = None) -> list[dict[str, Any]]:
        """Every unexpired JPush file with the lines it carries."""
        key = app_key or (self.credentials.jpush.app_key if self.shared else None)
        result: list[dict[str, Any]] = self._admin("GET", "/jpush/files", params={"app_key": key} if key else None)
        return result

    def nextjoy_refreshes(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every CDN refresh a client asked NextJoy for, oldest first (of one tenant,
        ``"appid:child_id"``, if given; on a shared emulator: this worker's)."""
        tenant = tenant or (self.credentials.nextjoy.identity() if self.shared else None)
        params = {"tenant": tenant} if tenant else None
        result: list[dict[str, Any]] = self._admin("GET", "/nextjoy/refreshes", params=params)
        return result

    def antelope_events(self, app_id: str | None = None, channel_id: int | None = None) -> list[dict[str, Any]]:
        """Every event appended to the channels, oldest first (of one app / channel if given;
        on a shared emulator: this worker's app)."""
        app_id = app_id or (self.credentials.antelope.app_id if self.shared else None)
        params = {k: v for k, v in (("app_id", app_id), ("channel_id", channel_id)) if v is not None}
        result: list[dict[str, Any]] = self._admin("GET", "/antelope/events", params=params)
        return result

    def objects(self, api: str, tenant: str | None = None) -> list[dict[str, Any]]:
        """What an API holds: 123pan files, Antelope objects, NextJoy objects, WeChat files, JPush
        files; of one tenant (its identity, as in the fixture format) if given, on a shared
        emulator this worker's."""
        where = {"pan123": ("/pan123/files", "client_id"), "antelope": ("/antelope/objects", "app_id"),
                 "nextjoy": ("/nextjoy/objects", "bucket"), "wechat": ("/wechat/files", "appid"),
                 "jpush": ("/jpush/files", "app_key")}
        if api not in where:
            raise ValueError(f"no api {api!r} (one of {', '.join(where)})")
        path, param = where[api]
        if tenant is None and not self.shared:
            result: list[dict[str, Any]] = self._admin("GET", path)
            return result
        t = self._tenant(api, tenant)
        value = t.bucket if api == "nextjoy" else t.identity()
        result = self._admin("GET", path, params={param: value})
        return result

    def pan123_disk(self, client_id: str | None = None) -> list[dict[str, Any]]:
        """The 123pan cloud disk's folders and files (``id``, ``path``, ``size``, ``etag``,
        ``trashed``, ``in_trash``...), of one client if given, on a shared emulator this worker's."""
        if client_id is None and not self.shared:
            result: list[dict[str, Any]] = self._admin("GET", "/pan123/disk")
            return result
        params = {"client_id": self._tenant("pan123", client_id).client_id}
        result = self._admin("GET", "/pan123/disk", params=params)
        return result

    def object_bytes(self, api: str, ident: str, *, bucket: str | None = None) -> bytes:
        """Stored bytes: 123pan by fileID, Antelope by obj_id, NextJoy by key (in the tenant's
        bucket unless ``bucket``), WeChat by cloud:// file id."""
        if api == "pan123":
            result: bytes = self._admin("GET", f"/pan123/files/{quote(str(ident), safe='')}/content")
            return result
        if api == "antelope":
            result = self._admin("GET", f"/antelope/objects/{quote(ident, safe='')}/content")
            return result
        if api == "nextjoy":
            b = bucket or self.credentials.nextjoy.bucket
            result = self._admin("GET", f"/nextjoy/objects/{quote(b, safe='')}/{quote(ident, safe='/')}")
            return result
        if api == "wechat":
            result = self._admin("GET", "/wechat/content", params={"file_id": ident})
            return result
        raise ValueError(f"no stored bytes for {api!r} (JPush: jpush_files() gives the lines)")

    # -- state ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Drop objects, sessions, journal, limit windows and faults (of this worker's tenants
        on a shared emulator); tenants and the clock stay."""
        self._admin("POST", "/reset", json={"tenants": self.credentials.scope()} if self.shared else None)

    def snapshot(self, name: str) -> dict[str, Any]:
        """Save the state under ``name`` (only this worker's tenants on a shared emulator)."""
        body: dict[str, Any] = {"name": name}
        if self.shared:
            body["tenants"] = self.credentials.scope()
        result: dict[str, Any] = self._admin("POST", "/snapshots", json=body)
        return result

    def restore(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._admin("POST", f"/snapshots/{quote(name, safe='')}/restore")
        return result

    def snapshots(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._admin("GET", "/snapshots")
        return result

    def export_snapshot(self, name: str, path: str | Path) -> Path:
        """Write a snapshot to one file (for ``serve --import FILE`` or :meth:`import_snapshot`)."""
        path = Path(path)
        with self.client.stream("GET", f"{self.url}/_emulator/snapshots/{quote(name, safe='')}/export") as r:
            if r.status_code >= 400:
                raise AdminError(f"export {name}: {r.status_code}: {r.read().decode(errors='replace')}")
            with path.open("wb") as f:
                for chunk in r.iter_bytes(1 << 20):
                    f.write(chunk)
        return path

    def import_snapshot(self, name: str, path: str | Path) -> dict[str, Any]:
        """Store an exported snapshot file under ``name`` (then :meth:`restore` it)."""
        def chunks() -> Iterator[bytes]:
            with Path(path).open("rb") as f:
                while piece := f.read(1 << 20):
                    yield piece

        result: dict[str, Any] = self._admin("PUT", f"/snapshots/{quote(name, safe='')}", content=chunks())
        return result

    # -- preloading ----------------------------------------------------------------------
    def preload(self, root: str | Path) -> dict[str, Any]:
        """Load a folder tree laid out ``<api>/<tenant>/<path>`` as uploads would (see the
        README's "Preloading objects"); answers counts of files and bytes."""
        from ..core.preload import PreloadError, push_tree

        try:
            summary = push_tree(self.url, root, progress=False, transport=self._transport())
        except PreloadError as exc:
            raise AdminError(str(exc)) from None
        return {"files": summary.files, "bytes": summary.bytes, "objects": summary.objects}

    def _transport(self) -> httpx.BaseTransport | None:
        """How a new client of this emulator connects (None: over the network)."""
        return None
