# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors the core raises; modules and the REST handler turn them into messages.

Every error carries a message that says what went wrong and what to do about it, and
``details``: plain data (per-instance results, the last snapshot of a wait) that the
caller returns alongside the message so a failure never loses what was done.
"""

from __future__ import annotations


class DrsOrchestrationError(Exception):
    """Base class: a failure the user can act on (never a bug)."""

    def __init__(self, message, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class InputError(DrsOrchestrationError):
    """The request itself is wrong (bad ID, unknown region, contradictory options)."""


class NotFoundError(DrsOrchestrationError):
    """Something the request names does not exist."""


class ConflictError(DrsOrchestrationError):
    """The request clashes with the current state (a job already running, not ready yet)."""


class IncompleteReadError(DrsOrchestrationError):
    """Part of a read failed (a region, a permission); ``details`` hold what could be read."""


class WaitTimeout(DrsOrchestrationError):
    """A wait ran out of time; ``details['last']`` holds the last snapshot."""


class WaitFailed(DrsOrchestrationError):
    """A wait saw a state it must not continue through (STALLED, FAILED ...)."""


class AmbiguousCallError(DrsOrchestrationError):
    """A mutating call may or may not have run and reconciliation could not tell."""
