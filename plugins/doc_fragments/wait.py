# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Options shared by every module that can wait for AWS to finish something.
    DOCUMENTATION = r"""
options:
  wait:
    description:
      - Wait until the operation reaches its end state before returning.
      - When C(false) the module returns as soon as AWS accepted the request.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait before failing with the last observed state.
    type: int
    default: 3600
  poll_interval:
    description:
      - Seconds between two status checks while waiting.
      - Each check costs a constant number of API calls, whatever the fleet size.
    type: int
    default: 15
"""
