"""Injected faults: rules that make matching vendor requests answer an HTTP status or one
of the API's own business errors, wait, drop the connection, or cut an upload short.

This module is the one place other modules import fault injection from; it is made of
- core/fault_rules.py: what a rule is and how a rule document is parsed and checked;
- core/fault_registry.py: the rules of one emulator, their counters, and matching;
- core/fault_asgi.py: the middleware and per-request state where rules act.

A rule matches ``api`` / ``method`` / a ``path`` glob and optionally a ``tenant``; its
schedule lets the first ``skip`` matches through, then acts on the next ``times`` (or on
every match while ``times`` is null). Rules without a tenant are checked as the request
enters its vendor route (the :func:`~emulator.core.routing.vendor_router` wrapper, the first
code any vendor route runs, is where the request's API is known; requests no vendor route
takes are never faulted); rules with a tenant once the API has identified the tenant
(``journal.info().identify_tenant(...)``, the fault point of those rules, calls the hook
:class:`FaultMiddleware` installs). Within each stage rules are checked in creation
order: every firing rule adds its latency, the first one with an action decides, and the
rules after it do not see the request.

How each action reaches the client:
- ``status`` / ``error``: raised to the route wrapper, which answers it (an error in the
  envelope of the table its code belongs to).
- ``drop``: the middleware closes the connection before answering. On uvicorn it aborts
  the transport (found on the ``receive`` callable, a bound method of uvicorn's request
  cycle); in process (Starlette TestClient, ``httpx.ASGITransport``) there is no socket,
  so :class:`ConnectionDropped`, an ``httpx.RemoteProtocolError``, is raised out of the app.
- ``cut_after``: the app receives that many body bytes, then ``http.disconnect``; the
  connection is dropped as above. The app never sees the body's end, so it stores nothing.
- ``latency_ms``: slept before the response starts (or before the drop / cut).
"""

from __future__ import annotations

from .fault_asgi import (
    ConnectionDropped,
    FaultMiddleware,
    InjectedError,
    InjectedStatus,
    RequestFaults,
    connection_gone,
    drain,
    pending,
)
from .fault_registry import Faults, Tally
from .fault_rules import ACTIONS, FIELDS, FaultRuleError, Rule, parse_rule

__all__ = [
    "ACTIONS",
    "FIELDS",
    "ConnectionDropped",
    "FaultMiddleware",
    "FaultRuleError",
    "Faults",
    "InjectedError",
    "InjectedStatus",
    "RequestFaults",
    "Rule",
    "Tally",
    "connection_gone",
    "drain",
    "parse_rule",
    "pending",
]
