# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place where a module hands over to the core and turns failures into messages.

Modules stay thin: build the argument spec, call :func:`run_core` with amazon.aws'
connection settings and a function of ``Clients``, exit with its result. Core errors
become ``fail_json`` with the error's details (so partial results are never lost); AWS
errors become ``fail_json_aws``.
``module`` is duck-typed (an ``AnsibleAWSModule``): this file imports nothing from Ansible.
"""

from __future__ import annotations

from .aws import Clients
from .errors import DrsOrchestrationError


def run_core(module, connection, action, what):
    """Return ``action(clients)``; on failure call the module's fail method (which exits).

    :param connection: amazon.aws' ``get_aws_connection_info(module)``, see
        :meth:`Clients.from_module`
    :param action: (Clients) -> dict, the core call with the module's options bound
    :param what: what was being done, for AWS error messages ("installing the agent")
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return action(Clients.from_module(connection))
    except DrsOrchestrationError as exc:
        module.fail_json(msg=exc.message, **exc.details)
    except (BotoCoreError, ClientError) as exc:
        module.fail_json_aws(exc, msg=f"AWS error while {what}")
    return {}  # not reached: fail_json exits


def core_options(module, argument_spec):
    """The module's own options by name, for a core function that takes them all.

    The AWS connection options amazon.aws adds to every module stay out: the core gets
    those through ``Clients``.
    """
    return {name: module.params[name] for name in argument_spec}


def wait_options(module):
    """What a waiting module hands to the core unchanged: wait, wait_timeout, poll_interval, check mode."""
    params = module.params
    return {
        "wait": params["wait"],
        "wait_timeout": params["wait_timeout"],
        "poll_interval": params["poll_interval"],
        "check_mode": module.check_mode,
    }
