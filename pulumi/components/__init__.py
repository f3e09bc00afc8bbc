"""Pulumi components of the drs.orchestration environment, one per concern."""

from .api import RestApi
from .iam import AccessRoles
from .table import TrackingTable

__all__ = ["AccessRoles", "RestApi", "TrackingTable"]
