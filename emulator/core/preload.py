"""Preloading objects: a folder tree ``DIR/<api>/<tenant>/<path>`` loaded into each API's
storage, like fake-gcs-server's data folder.

Each API's service has ``async def preload(tenant_id, path, chunks) -> dict`` that makes
the object exactly as that API's upload would (same commit code, same ids, hashes and
listing order) and raises :class:`PreloadError` for anything the API would refuse. This
module walks the tree in sorted order (so ids and listing order repeat under ``--seed``),
streams every file in 1 MiB chunks (memory stays flat whatever the size) and shows a
``tqdm`` progress bar on stderr for large trees. The same walk serves ``serve --preload``
(in process) and ``storage-emulator preload DIR --url`` (over ``PUT /_emulator/preload``).
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .contract import takes_preload
from .errors import VendorError

if TYPE_CHECKING:
    from .runtime import Emulator

CHUNK_SIZE = 1 << 20
# "Large" trees get a progress bar (on a terminal) without being asked for one.
LARGE_TREE_FILES = 32
LARGE_TREE_BYTES = 16 << 20
PROGRESS_ENV = "EMULATOR_PROGRESS"  # 1 forces the bar on (even off a terminal), 0 off


class PreloadError(Exception):
    """A file the preload refuses; the message is one line and names the file."""

    def __init__(self, message: str, *, file: str | None = None) -> None:
        super().__init__(f"{file}: {message}" if file else message)
        self.file = file
        self.reason = message


def refusal(err: VendorError, file: str) -> PreloadError:
    """A vendor error an upload would have got, as a preload refusal naming the file."""
    reason = err.extra.get("reason")
    text = f"{err.spec.api} would refuse this upload: {err.spec.code} {err.message}"
    if isinstance(reason, str) and reason and reason != err.message:
        text += f" ({reason})"
    return PreloadError(text, file=file)


def where(api: str, tenant: str, path: str) -> str:
    return f"{api}/{tenant}/{path}"


def segments(api: str, tenant: str, path: str, *, minimum: int = 1) -> list[str]:
    """The path's segments; refuses empty, ``.`` and ``..`` segments (and a leading ``/``)."""
    parts = path.split("/")
    if path == "" or any(p in ("", ".", "..") for p in parts):
        raise PreloadError("the path must be relative, without empty, '.' or '..' segments",
                           file=where(api, tenant, path))
    if len(parts) < minimum:
        raise PreloadError(f"the path needs at least {minimum} segments", file=where(api, tenant, path))
    return parts


async def preload_one(emu: Emulator, api: str, tenant: str, path: str, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
    """Hand one file to its API's service; :class:`PreloadError` on any refusal."""
    service = emu.services.get(api)
    if service is None or not takes_preload(service):
        raise PreloadError(f"unknown API folder {api!r} (one of: {', '.join(preloadable(emu))})",
                           file=where(api, tenant, path))
    return await service.preload(tenant, path, chunks)


def preloadable(emu: Emulator) -> list[str]:
    return [name for name, service in emu.services.items() if takes_preload(service)]


# -- the tree --------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    api: str
    tenant: str
    path: str  # inside the tenant folder, '/'-separated
    file: Path
    size: int

    @property
    def name(self) -> str:
        return where(self.api, self.tenant, self.path)


def scan(root: Path, apis: Collection[str] | None = None) -> list[Entry]:
    """Every file of the layout, in sorted order (each folder's entries by name, depth
    first). Dot-files and dot-folders are skipped; a file outside ``<api>/<tenant>/``, an
    API folder not in ``apis`` (when given), or anything but regular files and folders is
    a :class:`PreloadError` naming it, before anything is loaded."""
    root = Path(root)
    try:
        if not root.is_dir():
            raise PreloadError(f"the preload folder {root} is not a directory")
    except OSError as exc:
        raise PreloadError(f"cannot read the preload folder {root}: {exc.strerror or exc}") from None
    out: list[Entry] = []
    seen: set[tuple[int, int]] = set()

    def walk(folder: Path, rel: tuple[str, ...]) -> None:
        try:
            st = folder.stat()
            names = sorted(os.listdir(folder))
        except OSError as exc:
            raise PreloadError(f"cannot read folder {'/'.join(rel) or root}: {exc.strerror or exc}") from None
        if (st.st_dev, st.st_ino) in seen:  # a symlink loop
            raise PreloadError(f"folder {'/'.join(rel)} links back to a folder above it")
        seen.add((st.st_dev, st.st_ino))
        for name in names:
            if name.startswith("."):
                continue
            here = (*rel, name)
            shown = "/".join(here)
            path = folder / name
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:  # bytes the file system gave as surrogate escapes
                shown = os.fsencode(shown).decode("utf-8", "replace")
                raise PreloadError(f"{_escaped(shown)}: the name is not valid UTF-8") from None
            if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):  # a newline would break the one-line report
                raise PreloadError(f"{_escaped(shown)}: the name holds a control character")
            try:
                mode = path.stat().st_mode
            except OSError as exc:
                raise PreloadError(f"{shown}: cannot read: {exc.strerror or exc}") from None
            if stat.S_ISDIR(mode):
                if len(here) == 1 and apis is not None and name not in apis:
                    raise PreloadError(f"{shown}: unknown API folder (one of: {', '.join(apis)})")
                walk(path, here)
            elif stat.S_ISREG(mode):
                if len(here) < 3:
                    raise PreloadError(
                        f"{shown}: a file outside the layout: files go in <api>/<tenant>/<path>"
                    )
                out.append(Entry(here[0], here[1], "/".join(here[2:]), path, path.stat().st_size))
            else:
                raise PreloadError(f"{shown}: not a regular file or folder")
        seen.discard((st.st_dev, st.st_ino))

    walk(root, ())
    return out


def _escaped(text: str) -> str:
    """``text`` with control characters written as escapes (``\\n``), for a one-line report."""
    return "".join(repr(c)[1:-1] if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)


def read_file(entry: Entry, on_chunk: Callable[[int], Any] | None = None) -> Generator[bytes, None, None]:
    """The file's bytes in 1 MiB chunks (``on_chunk`` sees each size)."""
    try:
        with open(entry.file, "rb") as f:
            while piece := f.read(CHUNK_SIZE):
                if on_chunk is not None:
                    on_chunk(len(piece))
                yield piece
    except OSError as exc:
        raise PreloadError(f"cannot read: {exc.strerror or exc}", file=entry.name) from None


async def aread_file(entry: Entry, on_chunk: Callable[[int], Any] | None = None) -> AsyncGenerator[bytes, None]:
    """:func:`read_file` off the event loop: each read runs on a worker thread."""
    it = read_file(entry, on_chunk)
    try:
        while True:
            piece = await asyncio.to_thread(next, it, None)
            if piece is None:
                return
            yield piece
    finally:
        it.close()


# -- progress ----------------------------------------------------------------------------
def progress_bar(total_bytes: int, files: int, *, enabled: bool | None = None, stream: IO[str] | None = None,
                 desc: str = "preload") -> Any:
    """A tqdm bar on stderr counting bytes. ``enabled``: True forces it on (even off a
    terminal), False off; None: ``EMULATOR_PROGRESS`` decides if set, else it shows on a
    terminal for a large tree (tqdm itself stays silent off a terminal)."""
    from tqdm import tqdm

    if enabled is None:
        env = os.environ.get(PROGRESS_ENV, "").strip().lower()
        if env in ("1", "true", "yes", "on"):
            enabled = True
        elif env in ("0", "false", "no", "off"):
            enabled = False
    if enabled is None:
        large = files >= LARGE_TREE_FILES or total_bytes >= LARGE_TREE_BYTES
        disable: bool | None = None if large else True  # None: tqdm disables itself off a tty
    else:
        disable = not enabled
    return tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
                file=stream if stream is not None else sys.stderr, disable=disable, mininterval=0.2,
                dynamic_ncols=True, leave=True)


# -- a whole tree, in process ------------------------------------------------------------
@dataclass
class Summary:
    root: str
    files: int = 0
    bytes: int = 0
    results: dict[str, int] = field(default_factory=dict)  # created / replaced / unchanged
    objects: list[dict[str, Any]] = field(default_factory=list)

    def count(self, desc: dict[str, Any]) -> None:
        self.files += 1
        self.bytes += int(desc.get("size", 0))
        result = str(desc.get("result", "created"))
        self.results[result] = self.results.get(result, 0) + 1
        self.objects.append(desc)

    def line(self) -> str:
        detail = ", ".join(f"{n} {k}" for k, n in sorted(self.results.items()))
        return f"{self.files} files, {human(self.bytes)} from {self.root}" + (f" ({detail})" if detail else "")


def human(n: int) -> str:
    """``4029 bytes (3.9 KiB)``: the exact count, and a readable one when it differs."""
    size, unit = float(n), "bytes"
    for bigger in ("KiB", "MiB", "GiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{n} bytes" if unit == "bytes" else f"{n} bytes ({size:.1f} {unit})"


async def preload_tree(emu: Emulator, root: Path, *, progress: bool | None = None,
                       stream: IO[str] | None = None) -> Summary:
    """Load every file of ``root``'s layout, in sorted order; stops at the first refusal
    (:class:`PreloadError`; files before it stay loaded, and a later preload of the fixed
    tree completes it without duplicates)."""
    entries = scan(root, preloadable(emu))
    summary = Summary(str(root))
    bar = progress_bar(sum(e.size for e in entries), len(entries), enabled=progress, stream=stream)
    try:
        for entry in entries:
            chunks = aread_file(entry, bar.update)
            try:
                desc = await preload_one(emu, entry.api, entry.tenant, entry.path, chunks)
            finally:
                await chunks.aclose()
            summary.count(desc)
    finally:
        bar.close()
    return summary


def one_line(text: str, limit: int = 200) -> str:
    """``text`` with its whitespace runs (newlines too) made single spaces, cut at ``limit``."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def run(coro_factory: Callable[[], Any]) -> Any:
    """Run a coroutine to completion from synchronous code, also when called inside a
    running event loop (then on a thread of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    with ThreadPoolExecutor(1, thread_name_prefix="preload") as pool:
        return pool.submit(lambda: asyncio.run(coro_factory())).result()


def preload_at_start(emu: Emulator) -> Summary | None:
    """``--preload DIR`` / ``EMULATOR_PRELOAD``: after the fixtures, before serving."""
    root = getattr(emu.settings, "preload", None)
    if root is None:
        return None
    summary: Summary = run(lambda: preload_tree(emu, Path(root)))
    emu.preloaded = summary
    return summary


# -- a whole tree, over HTTP (storage-emulator preload DIR --url URL) ---------------------
def push_tree(url: str, root: Path | str, *, progress: bool | None = None, stream: IO[str] | None = None,
              transport: Any = None) -> Summary:
    """PUT every file of ``root``'s layout to ``{url}/_emulator/preload/...``, streamed, in
    sorted order; stops at the first refusal (:class:`PreloadError` with the server's message)."""
    from urllib.parse import quote

    import httpx

    base = url.rstrip("/")
    root = Path(root)
    with httpx.Client(timeout=httpx.Timeout(300.0, connect=10.0), transport=transport) as http:
        try:
            health = http.get(f"{base}/_emulator/health")
            health.raise_for_status()
            apis = health.json()["apis"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise PreloadError(f"cannot reach the emulator at {base}: {one_line(str(exc))}") from None
        entries = scan(root, apis)
        summary = Summary(str(root))
        bar = progress_bar(sum(e.size for e in entries), len(entries), enabled=progress, stream=stream)
        try:
            for entry in entries:
                target = (f"{base}/_emulator/preload/{quote(entry.api, safe='')}/{quote(entry.tenant, safe='')}/"
                          f"{quote(entry.path, safe='/')}")
                try:
                    answer = http.put(target, content=read_file(entry, bar.update))
                except httpx.HTTPError as exc:
                    raise PreloadError(f"sending it failed: {one_line(str(exc))}", file=entry.name) from None
                try:
                    doc = answer.json()
                except ValueError:
                    doc = None
                if answer.status_code == 400:
                    message = doc.get("error") if isinstance(doc, dict) else None
                    raise PreloadError(one_line(str(message)) if message else
                                       f"{entry.name}: refused: {one_line(answer.text)}")
                if answer.status_code != 201 or not isinstance(doc, dict) or not isinstance(doc.get("size"), int):
                    raise PreloadError(f"unexpected answer HTTP {answer.status_code}: {one_line(answer.text)}",
                                       file=entry.name)
                summary.count(doc)
        finally:
            bar.close()
    return summary
