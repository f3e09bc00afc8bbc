"""Which AWS operations a piece of Python sends, read from its source (for the IAM sync test).

The collection's core talks to AWS in three ways, all visible in the syntax tree:

* ``client.describe_document(...)`` / ``retry_throttled(writer.send_command, ...)``: an
  attribute named like a boto3 operation (``send_command``), called or passed to a call;
* ``client.get_paginator("list_commands")`` and ``paginate(client, "describe_jobs", ...)``:
  the operation as a string literal;
* which service a client belongs to: ``clients.reader("drs", region)`` /
  ``.writer("ssm")`` / ``.client("dynamodb")`` string literals.

An operation name is resolved to a service with the narrowest evidence available:
the services named in the same function, else in the same file, else the only
service (among those the project uses) that has an operation of that name. A name two
services share with no evidence to choose is an error, never a guess.

Tags: a function that builds a request key ``"tags"`` (``{"tags": ...}``, ``params["tags"] =``,
``f(tags=...)``) sends with tags each of its operations whose request accepts a ``tags``
member (botocore model): :meth:`CodeBase.tagged_operations_from`.

Reachability: from entry files (the REST handler, or the Ansible modules), calls are
followed into the core by name: imported functions, ``module.function``, classes (their
``__init__``), ``self.method()`` within a class, and a method called on any other object
counts for the methods of that name in the caller's module, or when it has none for
every core method of that name (an over-approximation: it can add permissions, never
miss one).
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field
from pathlib import Path

import botocore.session
from botocore import xform_name

CORE_PACKAGE = "ansible_collections.drs.orchestration.plugins.module_utils"
SERVICES = ("drs", "ssm", "ec2", "sts", "dynamodb", "service-quotas", "logs")
CLIENT_FACTORIES = ("reader", "writer", "client")


@functools.cache
def _botocore_session() -> botocore.session.Session:
    """One session for every model lookup: a session caches the models it loaded, a new one parses them again."""
    return botocore.session.get_session()


def operation_index(services=SERVICES) -> dict[str, dict[str, str]]:
    """``{snake_name: {service: OperationName}}`` from the botocore models."""
    session = _botocore_session()
    index: dict[str, dict[str, str]] = {}
    for service in services:
        for operation in session.get_service_model(service).operation_names:
            index.setdefault(xform_name(operation), {})[service] = operation
    return index


@dataclass
class Function:
    """One function (or method, or a module's top level) and what its body does."""

    module: str
    name: str
    op_names: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    calls: set[tuple[str, str]] = field(default_factory=set)  # (kind, name): "name" | "attr"
    lines: dict[str, int] = field(default_factory=dict)
    request_keys: set[str] = field(default_factory=set)  # string dict keys, subscripts and keyword names


class _Scanner(ast.NodeVisitor):
    def __init__(self, module: str, ops: dict, imports: dict[str, str]):
        self.module = module
        self.ops = ops
        self.imports = imports  # local name -> "module" or "module.attr" inside the core
        self.functions: dict[str, Function] = {}
        self.stack: list[Function] = []
        self.classes: list[str] = []
        self._enter("<module>")

    def _enter(self, name):
        qualified = ".".join([*self.classes, name]) if name != "<module>" else name
        function = self.functions.setdefault(qualified, Function(self.module, qualified))
        self.stack.append(function)
        return function

    @property
    def current(self) -> Function:
        return self.stack[-1]

    def visit_ClassDef(self, node):
        self.classes.append(node.name)
        self.generic_visit(node)
        self.classes.pop()

    def visit_FunctionDef(self, node):
        if len(self.stack) > 1:  # a nested function belongs to the function that defines it
            self.generic_visit(node)
            return
        self._enter(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Attribute(self, node):
        """A method or function named without being called (``handler = self._reverse``) may run later."""
        if isinstance(node.ctx, ast.Load) and isinstance(node.value, ast.Name):
            if node.value.id in ("self", "cls") and self.classes:
                self.current.calls.add(("method", f"{self.classes[-1]}.{node.attr}"))
            elif node.value.id in self.imports:
                self.current.calls.add(("qualified", f"{self.imports[node.value.id]}.{node.attr}"))
        self.generic_visit(node)

    def _passed_method(self, node):
        """A bound method of some object handed to a call (``write(self.tracking.record_command, ...)``)."""
        if isinstance(node, ast.Attribute) and not (
            isinstance(node.value, ast.Name) and (node.value.id in ("self", "cls") or node.value.id in self.imports)
        ):
            self.current.calls.add(("attr", node.attr))

    def visit_Name(self, node):
        """A function passed by name (``key=_order``, ``wait_for(poll, ...)``) may run later."""
        if isinstance(node.ctx, ast.Load):
            target = self.imports.get(node.id)
            self.current.calls.add(("qualified", target) if target else ("local", node.id))

    def visit_Dict(self, node):
        self.current.request_keys.update(k.value for k in node.keys if isinstance(k, ast.Constant))
        self.generic_visit(node)

    def visit_Subscript(self, node):
        if isinstance(node.ctx, ast.Store) and isinstance(node.slice, ast.Constant):
            self.current.request_keys.add(node.slice.value)
        self.generic_visit(node)

    def _attribute_op(self, node):
        if isinstance(node, ast.Attribute) and node.attr in self.ops:
            self.current.op_names.add(node.attr)
            self.current.lines.setdefault(node.attr, node.lineno)

    def visit_Call(self, node):
        func = node.func
        # ``client.send_command(...)``, or the bound method handed to a helper:
        # ``retry_throttled(writer.send_command, ...)``. Other attributes (``self.query``)
        # are data, not calls.
        self._attribute_op(func)
        self.current.request_keys.update(k.arg for k in node.keywords if k.arg)
        for argument in [*node.args, *(k.value for k in node.keywords)]:
            self._attribute_op(argument)
            self._passed_method(argument)
        literal = node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
        if isinstance(func, ast.Attribute):
            if func.attr in CLIENT_FACTORIES and literal and node.args[0].value in SERVICES:
                self.current.services.add(node.args[0].value)
            if func.attr == "get_paginator" and literal:
                self._literal_op(node.args[0])
            if isinstance(func.value, ast.Name) and func.value.id in self.imports:
                self.current.calls.add(("qualified", f"{self.imports[func.value.id]}.{func.attr}"))
            elif isinstance(func.value, ast.Name) and func.value.id in ("self", "cls") and self.classes:
                self.current.calls.add(("method", f"{self.classes[-1]}.{func.attr}"))
            else:
                self.current.calls.add(("attr", func.attr))
        elif isinstance(func, ast.Name):
            if func.id == "paginate" and len(node.args) > 1:
                arg = node.args[1]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    self._literal_op(arg)
            target = self.imports.get(func.id)
            self.current.calls.add(("qualified", target) if target else ("local", func.id))
        self.generic_visit(node)

    def _literal_op(self, node):
        if node.value in self.ops:
            self.current.op_names.add(node.value)
            self.current.lines.setdefault(node.value, node.lineno)


def _core_imports(tree: ast.Module, in_core: bool) -> dict[str, str]:
    """Local names bound to core modules or core objects: ``{name: "module[.attr]"}``."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 1 and in_core:
                for alias in node.names:
                    target = f"{module}.{alias.name}" if module else alias.name
                    names[alias.asname or alias.name] = target
            elif node.level == 0 and module == CORE_PACKAGE:
                for alias in node.names:
                    names[alias.asname or alias.name] = alias.name
            elif node.level == 0 and module.startswith(CORE_PACKAGE + "."):
                short = module[len(CORE_PACKAGE) + 1 :]
                for alias in node.names:
                    names[alias.asname or alias.name] = f"{short}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(CORE_PACKAGE + ".") and alias.asname:
                    names[alias.asname] = alias.name[len(CORE_PACKAGE) + 1 :]
    return names


def scan_file(path: Path, module: str, ops: dict, in_core: bool) -> dict[str, Function]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    scanner = _Scanner(module, ops, _core_imports(tree, in_core))
    scanner.visit(tree)
    return scanner.functions


class UnresolvedOperation(Exception):
    pass


@dataclass
class CodeBase:
    """The core's functions plus entry files, ready for reachability queries."""

    core_dir: Path
    ops: dict = field(default_factory=operation_index)

    def __post_init__(self):
        self.core: dict[tuple[str, str], Function] = {}
        for path in sorted(self.core_dir.glob("*.py")):
            if path.stem == "__init__":
                continue
            for name, function in scan_file(path, path.stem, self.ops, in_core=True).items():
                self.core[(path.stem, name)] = function
        self.file_services: dict[str, set[str]] = {}
        for (module, _), function in self.core.items():
            self.file_services.setdefault(module, set()).update(function.services)

    def _resolve(self, function: Function, file_services: set[str]) -> set[tuple[str, str]]:
        pairs = set()
        for name in function.op_names:
            candidates = self.ops[name]
            for evidence in (function.services, file_services):
                chosen = set(candidates) & evidence
                if chosen:
                    break
            else:
                chosen = set(candidates)
            if len(chosen) != 1:
                raise UnresolvedOperation(
                    f"{function.module}.{function.name} line {function.lines.get(name)}: `{name}` is an operation of "
                    f"{sorted(chosen)}; name the client's service in that function (clients.reader('<service>'))."
                )
            service = chosen.pop()
            pairs.add((service, candidates[service]))
        return pairs

    def _targets(self, caller_module: str, kind: str, name: str) -> list[tuple[str, str]]:
        """Core functions a call may reach."""
        if kind == "qualified":
            module, _, attr = name.partition(".")
            if not attr:  # ``from . import jobs`` then ``jobs(...)``: not a function
                return []
            if "." in attr:  # a class imported from a module, then a method
                return [(module, attr)] if (module, attr) in self.core else []
            return self._in_module(module, attr)
        if kind == "local":
            return self._in_module(caller_module, name)
        if kind == "method":  # ``self.x()``: this class's method (inherited ones are not followed)
            return [(caller_module, name)] if (caller_module, name) in self.core else []
        # A method called on some object: the caller's module's methods of that name when it
        # defines any (``run.act()`` next to ``class FailbackRun``), else every core method of that name.
        methods = [key for key in self.core if key[1].endswith(f".{name}")]
        return [key for key in methods if key[0] == caller_module] or methods

    def _in_module(self, module: str, name: str) -> list[tuple[str, str]]:
        if (module, name) in self.core:
            return [(module, name)]
        # A class: what runs when it is instantiated; its methods count when they are called.
        return [
            key for key in self.core if key[0] == module and key[1] in (f"{name}.__init__", f"{name}.__post_init__")
        ]

    def reachable(self, entries: list[Function]) -> set[tuple[str, str]]:
        seen: set[tuple[str, str]] = set()
        pending = [(entry, self._targets_of(entry)) for entry in entries]
        for _, targets in pending:
            for target in targets:
                self._walk(target, seen)
        return seen

    def _targets_of(self, function: Function) -> list[tuple[str, str]]:
        return [t for kind, name in function.calls for t in self._targets(function.module, kind, name)]

    def _walk(self, key, seen):
        stack = [key]
        while stack:
            key = stack.pop()
            if key in seen:
                continue
            seen.add(key)
            stack.extend(self._targets_of(self.core[key]))

    def operations(self, keys) -> set[tuple[str, str]]:
        pairs = set()
        for key in keys:
            function = self.core[key]
            pairs |= self._resolve(function, self.file_services.get(function.module, set()))
        return pairs

    def operations_from(self, entry_files, module_of) -> set[tuple[str, str]]:
        """Operations sent by ``entry_files`` themselves and by the core functions they reach."""
        entries: list[Function] = []
        pairs = set()
        for path in entry_files:
            functions = scan_file(Path(path), module_of(path), self.ops, in_core=False)
            entries.extend(functions.values())
            file_services = set().union(*(f.services for f in functions.values()))
            for function in functions.values():
                pairs |= self._resolve(function, file_services)
        return pairs | self.operations(self.reachable(entries))

    def all_operations(self) -> set[tuple[str, str]]:
        return self.operations(self.core)

    def tagged_operations_from(self, entry_files, module_of, member="tags") -> set[tuple[str, str]]:
        """Operations the core functions reached from ``entry_files`` may send with ``member``.

        An operation counts when a function sending it also builds a request key ``member``
        and the operation's request accepts that member (botocore model).
        """
        entries = [
            f for path in entry_files for f in scan_file(Path(path), module_of(path), self.ops, in_core=False).values()
        ]
        pairs = set()
        for key in self.reachable(entries):
            function = self.core[key]
            if member not in function.request_keys:
                continue
            for service, operation in self.operations([key]):
                if member in _input_members(service, operation):
                    pairs.add((service, operation))
        return pairs


def _input_members(service, operation):
    shape = _botocore_session().get_service_model(service).operation_model(operation).input_shape
    return set(shape.members) if shape is not None else set()
