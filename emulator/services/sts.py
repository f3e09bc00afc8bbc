"""STS: GetCallerIdentity (the account comes from the access key, see fleet ``accounts``)."""

from __future__ import annotations

from ..world import Backend


class StsBackend(Backend):
    service = "sts"

    def get_caller_identity(self, params: dict) -> dict:
        return {
            "UserId": "AIDAEMULATOREXAMPLE",
            "Account": self.account_id,
            "Arn": f"arn:aws:iam::{self.account_id}:user/emulator",
        }


Backend_ = StsBackend
