"""HTTP statuses beyond 599. Some vendors answer with them (Qiniu: 612, 614, 631, ...),
but uvicorn prebuilds its status lines for 100-599 only and fails on anything else while
sending. :func:`allow_statuses` registers more codes with uvicorn's two HTTP protocol
implementations; it extends their lookup tables and changes nothing else."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

# (uvicorn module, table, builder of one entry)
_TABLES = (
    ("uvicorn.protocols.http.httptools_impl", "STATUS_LINE", "_get_status_line"),
    ("uvicorn.protocols.http.h11_impl", "STATUS_PHRASES", "_get_status_phrase"),
)


def allow_statuses(codes: Iterable[int]) -> None:
    for module_name, table_name, builder_name in _TABLES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # that protocol implementation is not installed
            continue
        table = getattr(module, table_name, None)
        builder = getattr(module, builder_name, None)
        if not isinstance(table, dict) or builder is None:
            continue
        for code in codes:
            table.setdefault(code, builder(code))
