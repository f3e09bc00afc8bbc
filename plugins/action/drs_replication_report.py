# Copyright: Contributors to drs.orchestration
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the replication dashboard (HTML), JSON and CSV on the controller.

Why an action plugin: a 3,000-server ``drs_replication_info`` result is ~10 MB of
nested data. Handing it to a module, a filter or ``ansible.builtin.template`` makes
Ansible template every value of it first (seconds per thousand servers). With
``result_var`` this action reads the registered result straight from the task
variables (module results are data, never templates), builds the view in Python
(``module_utils/dashboard.py``) and renders the role's Jinja template with a plain,
sandboxed, autoescaping Jinja environment. ``recovery_var`` works the same way for the
recovery instance records of ``drs_recovery_instance_info`` (the role registers that
module looped over regions and hands the registered result over as is).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.drs.orchestration.plugins.module_utils.dashboard import (
    build_view,
    csv_text,
    json_text,
    recovery_csv_text,
    recovery_data,
)
from ansible_collections.drs.orchestration.plugins.module_utils.errors import InputError

DEFAULT_TEMPLATE = "dashboard.html.j2"
# The role's templates, for use outside the role (the collection ships them).
BUILTIN_TEMPLATES = Path(__file__).resolve().parents[2] / "roles" / "replication_report" / "templates"
FORMATS = ("html", "json", "csv")
# Artifact file names per format; recovery_csv is written with csv when there are recovery instances.
FILE_NAMES = {
    "html": "{basename}.html",
    "json": "{basename}.json",
    "csv": "{basename}.csv",
    "recovery_csv": "{basename}-recovery.csv",
}

ARGUMENT_SPEC = {
    "result_var": {"type": "str"},
    "result": {"type": "dict"},
    "recovery_var": {"type": "str"},
    "recovery": {"type": "raw"},
    "dest": {"type": "path", "required": True},
    "basename": {"type": "str", "default": "replication"},
    "formats": {"type": "list", "elements": "str", "choices": list(FORMATS), "default": list(FORMATS)},
    "title": {"type": "str", "default": "DRS replication dashboard"},
    "template": {"type": "str"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        validation, args = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC,
            mutually_exclusive=[("result_var", "result"), ("recovery_var", "recovery")],
            required_one_of=[("result_var", "result")],
        )
        data = self._variable(args, "result", task_vars)
        self._check_result(data, args)
        try:
            recovery = recovery_data(self._variable(args, "recovery", task_vars))
        except InputError as exc:
            raise AnsibleActionFail(exc.message) from None

        started = time.perf_counter()
        contents = {}
        if "html" in args["formats"]:
            view = build_view(data, title=args["title"], recovery=recovery)
            contents["html"] = self._template(args).render(view=view)
        if "json" in args["formats"]:
            contents["json"] = json_text(data, recovery)
        if "csv" in args["formats"]:
            contents["csv"] = csv_text(data)
            if recovery is not None:
                contents["recovery_csv"] = recovery_csv_text(recovery)
        render_seconds = time.perf_counter() - started

        dest = Path(args["dest"]).absolute()
        paths, changed = {}, False
        for fmt, text in contents.items():
            path = dest / FILE_NAMES[fmt].format(basename=args["basename"])
            paths[fmt] = str(path)
            changed |= _write(path, text, check_mode=self._task.check_mode)
        summary = data.get("summary") or {}
        result.update(
            changed=changed,
            paths=paths,
            summary={k: v for k, v in summary.items() if k != "needs_attention"},
            needs_attention=summary.get("needs_attention") or [],
            servers=len(data.get("servers") or ()),
            render_seconds=round(render_seconds, 3),
        )
        if recovery is not None:
            result["recovery"] = {**recovery["summary"], "errors": recovery["errors"]}
        return result

    def _variable(self, args, name, task_vars):
        """The value of ``name`` or of the variable ``<name>_var`` names (read without templating)."""
        if args.get(name) is not None:
            return args[name]
        var = args.get(f"{name}_var")
        if not var:
            return None
        if var not in task_vars:
            raise AnsibleActionFail(f"{name}_var: the variable {var!r} is not defined (register the module's result).")
        value = task_vars[var]
        if isinstance(value, str):
            # A role parameter or vars entry like "{{ my_result }}": resolve it the normal way.
            value = self._templar.template(value)
        return value

    @staticmethod
    def _check_result(data, args):
        source = args.get("result_var") or "result"
        if not isinstance(data, dict) or not isinstance(data.get("servers"), list):
            hint = f" It failed: {data.get('msg')}" if isinstance(data, dict) and data.get("msg") else ""
            raise AnsibleActionFail(
                f"{source} is not a drs.orchestration.drs_replication_info result (no 'servers' list).{hint}"
            )

    def _template(self, args):
        """The role's template (or ``template``), in a sandboxed, autoescaping Jinja environment."""
        import jinja2
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        name = args.get("template") or DEFAULT_TEMPLATE
        try:
            path = Path(self._find_needle("templates", name))
        except AnsibleError:
            path = BUILTIN_TEMPLATES / name
            if args.get("template") or not path.is_file():
                raise AnsibleActionFail(
                    f"template: {name!r} was not found in the role or playbook templates."
                ) from None
        loader = jinja2.FileSystemLoader([str(path.parent), str(BUILTIN_TEMPLATES)])
        env = ImmutableSandboxedEnvironment(loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True)
        return env.get_template(path.name)


def _write(path, text, check_mode):
    """Write ``text`` atomically when it differs; return whether it changed."""
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    if check_mode:
        return True
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
