# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Polling until a condition holds. DRS has no botocore waiters; this is ours, written once.

A wait polls a snapshot function, stops as soon as the snapshot is done, fails fast
when the snapshot shows a state it must not continue through, and on timeout fails with
the last snapshot attached. ``clock`` and ``sleep`` are injectable so tests run against
the emulator's virtual clock without real sleeping.
"""

from __future__ import annotations

import time

from .errors import WaitFailed, WaitTimeout


def wait_for(
    poll,
    done,
    timeout,
    interval,
    failure=None,
    describe=None,
    what="the operation",
    clock=time.monotonic,
    sleep=time.sleep,
    on_poll=None,
):
    """Poll until ``done(snapshot)``; return the final snapshot.

    :param poll: () -> snapshot (one round of API calls)
    :param done: (snapshot) -> bool
    :param timeout: seconds; 0 means one poll, no waiting
    :param interval: seconds between polls (> 0)
    :param failure: (snapshot) -> None or a message; a message ends the wait with WaitFailed
    :param describe: (snapshot) -> short text of where things stand, for timeout messages
    :param on_poll: (snapshot) -> None, called after every poll (progress reporting)
    """
    if timeout < 0:
        raise ValueError("timeout must be >= 0")
    if interval <= 0:
        raise ValueError("interval must be > 0")
    deadline = clock() + timeout
    polls = 0
    while True:
        snapshot = poll()
        polls += 1
        if on_poll is not None:
            on_poll(snapshot)
        problem = failure(snapshot) if failure is not None else None
        if problem:
            raise WaitFailed(problem, last=snapshot, polls=polls)
        if done(snapshot):
            return snapshot
        remaining = deadline - clock()
        if remaining <= 0:
            where = describe(snapshot) if describe is not None else "not done"
            raise WaitTimeout(
                f"Timed out after {int(timeout)}s waiting for {what}: {where}. "
                "Increase wait_timeout or check the listed items.",
                last=snapshot,
                polls=polls,
            )
        sleep(min(interval, remaining))
