"""Call-level fault injection shared by every service: throttling, latency, injected failures.

Instance-level faults (SSM agent offline, failing installs, stalled replication) belong
to the fleet and the service models; this module decides, per call, whether the call is
slowed, throttled or fails, before or after the service executes it.

Spec (fleet file ``faults:`` or ``POST /_emulator/faults``)::

    latency_ms: 20                 # every call
    latency_ms_by_operation: {drs:DescribeSourceServers: 50}
    throttle_rate: 0.1             # probability a call is throttled ...
    throttle_operations: [ssm:SendCommand]   # ... restricted to these (default: all)
    throttle_next: {ssm:SendCommand: 3}       # the next 3 calls are throttled
    fail_next:                      # the next call fails ...
      ssm:SendCommand: {count: 1, mode: after, status: 500, code: InternalServerError}
      # mode before: fails without executing; after: executes, then answers the error;
      # disconnect: executes, then closes the connection without an answer.
      # Defaults: count 1, mode before, status 500, code the service's own internal error
      # (DEFAULT_FAIL_CODES).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

# The internal-error code each service answers (HTTP 500), so an injected failure without
# ``code`` is one the strict validator (emulator/validate.py) accepts: the modeled
# exception every DRS operation declares (InternalServerException); the one every emulated
# SSM operation and the DynamoDB table and item operations declare (InternalServerError);
# EC2's server error InternalError ("Error codes for the Amazon EC2 API"); for STS, whose
# GetCallerIdentity declares no errors, InternalFailure from the Common Errors page, which
# is also the fallback.
DEFAULT_FAIL_CODES = {
    "drs": "InternalServerException",
    "ssm": "InternalServerError",
    "dynamodb": "InternalServerError",
    "ec2": "InternalError",
    "sts": "InternalFailure",
}
COMMON_FAIL_CODE = "InternalFailure"


def default_fail_code(operation_key: str) -> str:
    """The internal-error code of the service named in ``service:Operation``."""
    return DEFAULT_FAIL_CODES.get(operation_key.split(":", 1)[0], COMMON_FAIL_CODE)


@dataclass
class Decision:
    latency: float = 0.0
    throttle: bool = False
    fail: dict | None = None


class Faults:
    def __init__(self, seed: int = 0):
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.latency_ms = 0.0
        self.latency_ms_by_operation: dict[str, float] = {}
        self.throttle_rate = 0.0
        self.throttle_operations: list[str] = []
        self.throttle_next: dict[str, int] = {}
        self.fail_next: dict[str, dict] = {}

    def load(self, spec: dict | None) -> None:
        """Merge a spec into the current settings (keys absent from ``spec`` are kept)."""
        spec = dict(spec or {})
        unknown = set(spec) - {
            "latency_ms",
            "latency_ms_by_operation",
            "throttle_rate",
            "throttle_operations",
            "throttle_next",
            "fail_next",
        }
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        with self._lock:
            if "latency_ms" in spec:
                self.latency_ms = float(spec["latency_ms"] or 0)
            if "latency_ms_by_operation" in spec:
                self.latency_ms_by_operation = {k: float(v) for k, v in (spec["latency_ms_by_operation"] or {}).items()}
            if "throttle_rate" in spec:
                rate = float(spec["throttle_rate"] or 0)
                if not 0 <= rate <= 1:
                    raise ValueError("throttle_rate must be between 0 and 1")
                self.throttle_rate = rate
            if "throttle_operations" in spec:
                self.throttle_operations = list(spec["throttle_operations"] or [])
            if "throttle_next" in spec:
                self.throttle_next.update({k: int(v) for k, v in (spec["throttle_next"] or {}).items()})
            if "fail_next" in spec:
                for op, how in (spec["fail_next"] or {}).items():
                    how = {"count": 1, "mode": "before", "status": 500, "code": default_fail_code(op), **how}
                    if how["mode"] not in ("before", "after", "disconnect"):
                        raise ValueError("fail_next mode must be before, after or disconnect")
                    self.fail_next[op] = how

    def clear(self) -> None:
        with self._lock:
            self.__init__(seed=self._random.randrange(2**32))

    def to_dict(self) -> dict:
        with self._lock:
            return {
                "latency_ms": self.latency_ms,
                "latency_ms_by_operation": dict(self.latency_ms_by_operation),
                "throttle_rate": self.throttle_rate,
                "throttle_operations": list(self.throttle_operations),
                "throttle_next": dict(self.throttle_next),
                "fail_next": {k: dict(v) for k, v in self.fail_next.items()},
            }

    def decide(self, service: str, operation: str) -> Decision:
        """What happens to this call (consumes one-shot faults)."""
        key = f"{service}:{operation}"
        with self._lock:
            decision = Decision(latency=self.latency_ms_by_operation.get(key, self.latency_ms) / 1000.0)
            if self.throttle_next.get(key, 0) > 0:
                self.throttle_next[key] -= 1
                decision.throttle = True
                return decision
            in_scope = not self.throttle_operations or key in self.throttle_operations
            if self.throttle_rate and in_scope and self._random.random() < self.throttle_rate:
                decision.throttle = True
                return decision
            how = self.fail_next.get(key)
            if how and how["count"] > 0:
                how["count"] -= 1
                if how["count"] == 0:
                    del self.fail_next[key]
                decision.fail = dict(how)
            return decision
