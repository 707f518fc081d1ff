"""123pan's runtime tunables (``/_emulator/pan123/config``, and the state a whole snapshot
carries): the documented defaults, and the checks a new value passes before it applies."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from . import limits

CONFIG_MAX_SLICE = 1 << 40  # 1 TiB
CONFIG_MAX_SECONDS = 100 * 365 * 86400  # a century
CONFIG_MAX_QPS = 1_000_000
FIELDS = frozenset({"slice_size", "token_lifetime", "presign_expires", "async_seconds", "v2_slice_size",
                    "answer_20103", "qps", "reset"})


@dataclass
class Config:
    """Runtime tunables (``/_emulator/pan123/config``); defaults are the documented values."""

    slice_size: int = 104857600  # the document's sliceSize
    token_lifetime: float = 30 * 86400.0
    presign_expires: int = 3600
    async_seconds: float = 1.0  # the check of a multi-slice upload ends this long after upload_complete
    v2_slice_size: int = 16777216  # upload v2 create's sliceSize (the document's example)
    answer_20103: bool = False  # upload v2 upload_complete answers code 20103 (not completed: false) meanwhile
    qps: dict[str, int] = field(default_factory=dict)  # overrides of limits.QPS; 0 = unlimited

    def qps_table(self) -> dict[str, int]:
        return {**limits.QPS, **self.qps}


def parse_config(body: dict[str, Any], base: Config) -> Config:
    """``base`` with the fields of ``body`` applied, every one checked first (ValueError)."""
    unknown = set(body) - FIELDS
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
    new = Config() if body.get("reset") is True else Config(**asdict(base))

    def number(name: str, minimum: float, integer: bool, maximum: float) -> None:
        if name not in body:
            return
        v = body[name]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
            raise ValueError(f"{name} must be {'an integer' if integer else 'a number'}")
        if not math.isfinite(v) or not minimum <= v <= maximum:
            raise ValueError(f"{name} must be between {minimum} and {maximum:.0f}")
        setattr(new, name, v)

    # Upper bounds keep every later call working (sizes SQLite and the wire hold, deadlines
    # the dates of the answers can express; issue 14).
    number("slice_size", 1, True, CONFIG_MAX_SLICE)
    number("v2_slice_size", 1, True, CONFIG_MAX_SLICE)
    number("token_lifetime", 1, False, CONFIG_MAX_SECONDS)
    number("presign_expires", 1, True, CONFIG_MAX_SECONDS)
    number("async_seconds", 0, False, CONFIG_MAX_SECONDS)
    if "answer_20103" in body:
        if not isinstance(body["answer_20103"], bool):
            raise ValueError("answer_20103 must be true or false")
        new.answer_20103 = body["answer_20103"]
    if "qps" in body:
        qps = body["qps"]
        if not isinstance(qps, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= CONFIG_MAX_QPS for v in qps.values()
        ):
            raise ValueError(f"qps must map endpoint paths to integers from 0 to {CONFIG_MAX_QPS} (0 = unlimited)")
        new.qps = {**new.qps, **{limits.key_of(k): v for k, v in qps.items()}}
    return new


def config_of_state(state: Any) -> Config:
    """The config a saved state holds, checked as ``POST /_emulator/pan123/config`` checks
    it (ValueError for anything else: a snapshot file may come from anywhere)."""
    if state is None:
        return Config()
    if not isinstance(state, dict) or set(state) - {"config"}:
        raise ValueError('pan123 state must be {"config": {...}}')
    config = state.get("config")
    if config is None:
        return Config()
    if not isinstance(config, dict) or "reset" in config:
        raise ValueError("pan123 config must be a JSON object of its settings")
    config = {k: v for k, v in config.items() if k != "async_polls"}  # retired setting of older snapshots
    return parse_config(config, Config())


def state_of(config: Config) -> dict[str, Any]:
    """What a whole snapshot keeps of the config (read back by :func:`config_of_state`)."""
    return {"config": asdict(config)}
