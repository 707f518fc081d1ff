"""A route index in front of the app's router: a request is matched against the routes whose
path can match it, not against all ~200 of them.

Starlette and FastAPI find a request's route by trying every route in order (FastAPI 0.16x
scans each included router twice). :class:`RouteIndex` takes the router's place at the bottom
of the app's middleware stack (:func:`install`) and groups the routes by the first segment of
their path: ``/upload/v2/file/create`` is tried only against the routes under ``/upload`` and
those whose first segment is a parameter, in the router's own order. So the first route that
fully matches is the one the router itself would pick. Whatever the index cannot decide alone
goes to the router unchanged: a route it does not know the shape of (an included router still
nested), a partial match (the router picks between 405 and a later route), no match (404,
trailing-slash redirects), a non-HTTP scope or a ``root_path``.

:func:`flatten` gives the router leaf routes: the routes of a router included without a prefix,
nested or not, so that they are indexed one by one (FastAPI 0.16x keeps an included router as
one entry)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

_ANY = None  # the key of a route whose first path segment is a parameter (or unknown)


def _prefix(route: BaseRoute) -> str | None:
    """The prefix an included router (FastAPI 0.16x keeps it as one entry) was included with."""
    return getattr(getattr(route, "include_context", None), "prefix", None)


def flatten(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """``routes`` with every router included without a prefix replaced by its own routes."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None and _prefix(route) == "":
            yield from flatten(list(nested.routes))
        else:
            yield route


def _first_segment(path: str) -> str | None:
    if not path.startswith("/"):
        return _ANY
    segment = path[1:].split("/", 1)[0]
    return _ANY if "{" in segment else segment


def _key(route: BaseRoute) -> str | None:
    if isinstance(route, Route):
        return _first_segment(route.path)
    prefix = _prefix(route)
    return _first_segment(prefix) if prefix else _ANY


class RouteIndex:
    """See the module docstring. ``router``: the app's router (a Starlette ``Router``)."""

    def __init__(self, router: Any) -> None:
        self.router = router
        self._size = -1
        self._by_key: dict[str | None, list[BaseRoute]] = {}

    def _candidates(self, key: str) -> list[BaseRoute]:
        routes = self.router.routes
        if len(routes) != self._size:  # built on first use, again if routes were added since
            keys = [(route, _key(route)) for route in routes]
            by_key: dict[str | None, list[BaseRoute]] = {
                k: [r for r, rk in keys if rk in (k, _ANY)] for k in {rk for _, rk in keys}}
            by_key[_ANY] = [r for r, rk in keys if rk is _ANY]
            self._by_key, self._size = by_key, len(routes)
        return self._by_key.get(key) or self._by_key[_ANY]

    def _find(self, scope: Scope) -> tuple[Route, Scope] | None:
        if scope["type"] != "http" or scope.get("root_path"):
            return None
        key = _first_segment(scope["path"])
        if key is _ANY:
            return None
        for route in self._candidates(key):
            if not isinstance(route, Route):
                return None  # a nested router comes first: the router decides
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return route, child_scope
            if match is Match.PARTIAL:
                return None  # 405 or a later full match: the router decides
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._find(scope)
        if found is None:
            await self.router(scope, receive, send)
            return
        route, child_scope = found
        scope.setdefault("router", self.router)
        scope.update(child_scope)
        await route.handle(scope, receive, send)


def install(stack: ASGIApp, router: Any) -> ASGIApp:
    """Put a :class:`RouteIndex` where ``stack`` (an app's built middleware stack) calls
    ``router``; the stack unchanged if that place is not found."""
    node: Any = stack
    for _ in range(64):
        inner = getattr(node, "app", None)
        if inner is None:
            break
        if inner is router:
            node.app = RouteIndex(router)
            break
        node = inner
    return stack
