"""Alembic's environment: run by the ``alembic.command`` calls emulator/migrations makes
(there is no alembic.ini). The connection, already inside the transaction that holds the
database lock, comes in ``config.attributes["connection"]``."""

from __future__ import annotations

from emulator.migrations import run_environment

run_environment()
