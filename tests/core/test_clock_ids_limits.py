"""Clock, ids and the windowed limiter."""

from __future__ import annotations

import time

import pytest

from emulator.core.clock import Clock
from emulator.core.ids import Ids
from emulator.core.ratelimit import Limit, RateLimiter


def test_clock_follows_real_time_by_default():
    clock = Clock()
    assert abs(clock.now() - time.time()) < 0.5
    assert not clock.frozen


def test_clock_advance_and_set_shift_running_time():
    clock = Clock()
    before = clock.now()
    clock.advance(3600)
    assert 3600 <= clock.now() - before < 3601
    clock.set(1_000_000)
    assert 1_000_000 <= clock.now() < 1_000_001


def test_frozen_clock_stands_still_and_moves_only_when_told():
    clock = Clock()
    clock.freeze(True)
    t = clock.now()
    time.sleep(0.01)
    assert clock.now() == t
    clock.advance(10)
    assert clock.now() == t + 10
    clock.set(500)
    assert clock.now() == 500
    clock.freeze(False)  # resumes from where it stood
    assert 500 <= clock.now() < 501
    assert not clock.frozen


def test_clock_reset_returns_to_real_time():
    clock = Clock()
    clock.freeze(True)
    clock.set(5)
    clock.reset()
    assert abs(clock.now() - time.time()) < 0.5 and not clock.frozen


def test_seeded_ids_repeat_and_reseed():
    a, b = Ids(seed=7), Ids(seed=7)
    seq = [a.uuid4(), a.hex(12), a.token()]
    assert seq == [b.uuid4(), b.hex(12), b.token()]
    a.reseed()
    assert a.uuid4() == seq[0]
    assert Ids(seed=8).uuid4() != seq[0]


def test_unseeded_ids_differ():
    ids = Ids()
    assert ids.uuid4() != ids.uuid4()
    assert len(ids.hex(12)) == 24


@pytest.fixture
def limiter():
    clock = Clock()
    clock.freeze(True)
    clock.set(1000)
    return RateLimiter(clock), clock


def test_limiter_allows_count_per_window_then_refuses(limiter):
    lim, clock = limiter
    limit = Limit(3, 60)
    decisions = [lim.hit("api", "p", "g", limit) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert decisions[-1].reset_seconds == 60
    clock.advance(59.5)
    assert not lim.hit("api", "p", "g", limit).allowed
    clock.advance(0.5)  # the window closes exactly at start + period
    d = lim.hit("api", "p", "g", limit)
    assert d.allowed and d.remaining == 2 and d.reset_seconds == 60


def test_limiter_keys_are_independent(limiter):
    lim, _ = limiter
    limit = Limit(1, 1)
    assert lim.hit("a", "p", "g", limit).allowed
    assert lim.hit("b", "p", "g", limit).allowed
    assert lim.hit("a", "q", "g", limit).allowed
    assert lim.hit("a", "p", "h", limit).allowed
    assert not lim.hit("a", "p", "g", limit).allowed


def test_limiter_clock_moving_back_opens_a_new_window(limiter):
    lim, clock = limiter
    limit = Limit(1, 60)
    lim.hit("a", "p", "g", limit)
    clock.set(10)
    assert lim.hit("a", "p", "g", limit).allowed


def test_limiter_disabled_never_refuses_but_still_counts(limiter):
    lim, _ = limiter
    lim.enabled = False
    limit = Limit(1, 60)
    decisions = [lim.hit("a", "p", "g", limit) for _ in range(5)]
    assert all(d.allowed for d in decisions)
    assert decisions[-1].remaining == 0


def test_limiter_reset_forgets_windows(limiter):
    lim, _ = limiter
    limit = Limit(1, 60)
    lim.hit("a", "p", "g", limit)
    lim.reset()
    assert lim.hit("a", "p", "g", limit).allowed
