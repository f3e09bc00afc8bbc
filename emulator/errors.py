"""Errors a backend raises; the protocol layer renders them as the service would."""

from __future__ import annotations


class AwsError(Exception):
    """An error response of an AWS service.

    ``code`` is the modeled exception name (``ConflictException``) or the service's
    error code (``InvalidInstanceId``). ``status`` defaults to the HTTP status the
    service model declares for that exception, or 400. ``fields`` are extra members
    of the modeled exception structure (``resourceId``, ``retryAfterSeconds`` ...).
    """

    def __init__(self, code: str, message: str, status: int | None = None, **fields):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields


class ValidationError(AwsError):
    """A request that fails the model's constraints (AWS's generic 400)."""

    def __init__(self, message: str, **fields):
        super().__init__("ValidationException", message, 400, **fields)


class NotEmulated(AwsError):
    """An operation this emulator does not implement (never silently answered)."""

    def __init__(self, service: str, operation: str):
        super().__init__(
            "NotImplemented",
            f"{service}:{operation} is not emulated; see emulator/README.md for the list of emulated operations",
            501,
        )
