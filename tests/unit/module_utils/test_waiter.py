"""wait_for: done, fail fast, time out with the last snapshot — on a fake clock."""

from __future__ import annotations

import pytest

from ansible_collections.drs.orchestration.plugins.module_utils.errors import WaitFailed, WaitTimeout
from ansible_collections.drs.orchestration.plugins.module_utils.waiter import wait_for


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_returns_the_first_snapshot_that_is_done():
    t = FakeTime()
    states = iter(["INITIATING", "INITIAL_SYNC", "CONTINUOUS", "never read"])
    result = wait_for(
        lambda: next(states), lambda s: s == "CONTINUOUS", timeout=100, interval=10, clock=t.clock, sleep=t.sleep
    )
    assert result == "CONTINUOUS"
    assert t.sleeps == [10, 10]


def test_fails_fast_with_the_snapshot_that_failed():
    t = FakeTime()
    states = iter(["INITIAL_SYNC", "STALLED"])
    with pytest.raises(WaitFailed) as caught:
        wait_for(
            lambda: next(states),
            lambda s: s == "CONTINUOUS",
            timeout=100,
            interval=10,
            failure=lambda s: f"server is {s}" if s == "STALLED" else None,
            clock=t.clock,
            sleep=t.sleep,
        )
    assert caught.value.message == "server is STALLED"
    assert caught.value.details["last"] == "STALLED"


def test_times_out_with_a_message_and_the_last_snapshot():
    t = FakeTime()
    with pytest.raises(WaitTimeout) as caught:
        wait_for(
            lambda: "INITIAL_SYNC",
            lambda s: False,
            timeout=25,
            interval=10,
            describe=lambda s: f"still {s}",
            what="replication",
            clock=t.clock,
            sleep=t.sleep,
        )
    assert "Timed out after 25s waiting for replication: still INITIAL_SYNC" in caught.value.message
    assert caught.value.details["last"] == "INITIAL_SYNC"
    assert t.sleeps == [10, 10, 5]  # never sleeps past the deadline


def test_zero_timeout_polls_once():
    t = FakeTime()
    with pytest.raises(WaitTimeout):
        wait_for(lambda: 1, lambda s: False, timeout=0, interval=5, clock=t.clock, sleep=t.sleep)
    assert t.sleeps == []


@pytest.mark.parametrize(("timeout", "interval"), [(-1, 5), (10, 0)])
def test_rejects_nonsense_timing(timeout, interval):
    with pytest.raises(ValueError, match="timeout must be|interval must be"):
        wait_for(lambda: 1, lambda s: True, timeout=timeout, interval=interval)
