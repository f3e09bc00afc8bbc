"""Elastic Disaster Recovery (rest-json), per account and region.

``models`` holds the resources and how they render, ``replication`` the data replication
state machine, ``jobs`` what launch and terminate jobs do on the virtual clock, ``seed``
the source servers that appear without an API call (agent registration, fleet entries),
``backend`` the operations. See docs/emulator-drs.md for behaviour, sources and assumptions.
"""

from .backend import DrsBackend

Backend_ = DrsBackend
