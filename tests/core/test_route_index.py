"""The route index (emulator/core/route_index.py) picks the route the router itself would pick."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse
from starlette.routing import Match, Route, Router

from emulator.apis import ALL_APIS
from emulator.app import create_app
from emulator.core.route_index import RouteIndex, flatten
from emulator.settings import Settings


def _scope(method: str, path: str, **extra: object) -> dict:
    return {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"",
            "headers": [], **extra}


def _first_full(routes: list, scope: dict) -> object:
    """What a router's linear scan picks (None: no full match before a partial one, or none)."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL:
            return None
    return None


def _endpoint(request):
    return PlainTextResponse(request.url.path)


def test_a_parameter_first_segment_keeps_its_place_in_the_order():
    first = Route("/a/{x}", _endpoint, methods=["GET"])
    anywhere = Route("/{bucket}/b", _endpoint, methods=["GET"])
    later = Route("/a/b", _endpoint, methods=["GET"])
    other = Route("/c/d", _endpoint, methods=["POST"])
    router = Router([anywhere, first, later, other])
    index = RouteIndex(router)
    assert index._find(_scope("GET", "/a/b"))[0] is anywhere  # before /a/{x}, as the router
    assert index._find(_scope("GET", "/a/z"))[0] is first
    assert index._find(_scope("GET", "/zz/b"))[0] is anywhere
    assert index._find(_scope("GET", "/c/d")) is None  # wrong method: the router answers 405
    assert index._find(_scope("GET", "/nothing")) is None  # no route: the router answers 404
    assert index._find(_scope("GET", "/a/z", root_path="/mounted")) is None
    router.routes.append(Route("/new/{x}", _endpoint, methods=["GET"]))  # routes added later are seen
    assert index._find(_scope("GET", "/new/1"))[0] is router.routes[-1]


def test_every_route_of_the_app_is_found_as_the_router_finds_it():
    app = create_app(Settings(database_url="sqlite://"))
    try:
        routes = app.router.routes
        index = RouteIndex(app.router)
        checked = 0
        for route in routes:
            if not isinstance(route, Route):
                continue
            path = re.sub(r"\{[^}:]+(:path)?\}", lambda m: "x/y" if m.group(1) else "x", route.path)
            for method in sorted(route.methods or {"GET"}):
                scope = _scope(method, path)
                found = index._find(scope)
                assert (found[0] if found else None) is _first_full(routes, scope), (method, path)
                checked += 1
        assert checked > 150  # the vendor routes are indexed one by one, not as nested routers
        # create_app puts the admin routers first: sound only while no vendor route can match an
        # admin path (none under /_emulator, none whose first segment is a parameter)
        vendor = [r.path for spec in ALL_APIS for r in flatten(list(spec.router.routes)) if isinstance(r, Route)]
        assert len(vendor) > 100
        assert not [p for p in vendor if p.startswith(("/_emulator", "/{"))]
    finally:
        app.state.emulator.close()


def test_the_app_answers_through_the_index():
    app = create_app(Settings(database_url="sqlite://"))
    with TestClient(app) as client:
        client.get("/_emulator/health")
        stack = app.middleware_stack
        node, found = stack, False
        while node is not None:
            found = found or isinstance(node, RouteIndex)
            node = getattr(node, "app", None)
        assert found
        r = client.post("/api/v1/access_token", json={"clientID": "nobody", "clientSecret": "x"})
        assert r.status_code == 200 and r.json()["code"] != 0  # the vendor route's own envelope
