"""Settings: the table in CONTRACT.md, read from flags and ``EMULATOR_*`` variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_MIN_FREE_SPACE = 16 << 20  # keep in step with core/space.py
DEFAULT_BODY_TIMEOUT = 60.0
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]


def _default_fixtures() -> list[Path]:
    from importlib.resources import files

    return [Path(str(files("emulator.fixtures").joinpath("default.yaml")))]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EMULATOR_", extra="forbid", validate_default=True, validate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    data_dir: Path = Path("./.emulator-data")
    database_url: str | None = None
    public_url: str | None = None
    fixtures: Annotated[list[Path], NoDecode] = Field(default_factory=_default_fixtures)
    rate_limits: bool = True
    log_level: LogLevel = "info"
    log_format: Literal["text", "json"] = "text"
    ephemeral: bool = False  # in-memory state: every start is empty
    workers: int = Field(1, ge=1, le=64)  # worker processes sharing one database (serve --workers)
    # Beyond the contract's table: knobs tests and sandboxes want.
    seed: int | None = None  # deterministic ids when set
    journal_size: int = Field(1000, ge=1, le=1_000_000)
    preload: Path | None = None  # a folder tree <api>/<tenant>/<path> loaded at start
    # An exported snapshot restored at start (--import / EMULATOR_IMPORT; checked when read).
    import_file: Path | None = Field(None, validation_alias="EMULATOR_IMPORT")
    # Reliability (issue 14): the free-space reserve, the admin API's guards, the body timeout.
    min_free_space: int = DEFAULT_MIN_FREE_SPACE  # bytes; "16MiB", "512k" and 0 (off) accepted
    admin_token: str | None = None  # when set: Authorization: Bearer <token> on /_emulator (health open)
    admin_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)  # besides loopback
    body_timeout: float = Field(DEFAULT_BODY_TIMEOUT, ge=0, le=86400)  # seconds without a byte; 0 = none

    @field_validator("min_free_space", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        from .core.space import parse_size

        return parse_size(value)

    @field_validator("admin_token", mode="before")
    @classmethod
    def _token(cls, value: object) -> object:
        if value is None or value == "":
            return None
        if not isinstance(value, str) or not value.isascii() or not value.isprintable() or " " in value:
            raise ValueError("printable ASCII without spaces")
        return value

    @field_validator("admin_allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, (list, tuple)):
            hosts = []
            for item in value:
                for name in str(item).split(","):
                    name = name.strip().lower()
                    if name:
                        hosts.append(name)
            return hosts
        return value

    @field_validator("import_file", mode="before")
    @classmethod
    def _import_file(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("preload", mode="before")
    @classmethod
    def _preload_dir(cls, value: object) -> object:
        if value is None or value == "":
            return None
        if not Path(str(value)).is_dir():
            raise ValueError("not a directory")
        return value

    @field_validator("fixtures", mode="before")
    @classmethod
    def _split_paths(cls, value: object) -> object:
        if isinstance(value, str):
            return [p for p in value.split(os.pathsep) if p]
        return value

    @model_validator(mode="after")
    def _ephemeral_has_no_database(self) -> Settings:
        if self.ephemeral and self.database_url and self.database_url not in ("sqlite://", "sqlite:///:memory:"):
            raise ValueError("--ephemeral keeps state in memory: it cannot be combined with --database-url")
        return self

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        if "0.0.0.0" in value:
            raise ValueError("must be an address clients can reach, not 0.0.0.0")
        return value.rstrip("/")

    @property
    def resolved_database_url(self) -> str:
        if self.ephemeral:
            return "sqlite://"
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'emulator.db').resolve()}"

    @property
    def is_memory_db(self) -> bool:
        url = self.resolved_database_url
        return url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
