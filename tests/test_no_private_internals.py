"""No code of the portal reaches into private names (leading underscore) of Django, psycopg,
Channels, channels_redis, uvicorn or redis-py: they change in any release, without notice.

Checked statically with `ast` over the project's own packages:
- an import of a private module or name from those libraries;
- an attribute access of a private name on something imported from them
  (`connection._x`, `psycopg.Pipeline._x`);
- a class deriving from one of their classes that overrides, calls or reads one of the base's
  private names (`def _clone(self)` in a QuerySet, `super()._fetch_gen()`, `self._conn`);
- the private names the portal once used, wherever they appear, even through an alias or as a
  string given to getattr/hasattr (DENIED_ATTRIBUTES);
- `sys.setswitchinterval`: the interpreter's scheduling is not the portal's to tune.

Documented private-looking Django API is allowed: `_meta`, `_default_manager`, `_base_manager`,
`_state.adding`, `_state.db`.
"""

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("scm_portal", "messaging", "inventory", "orders", "finance", "alerts", "audit", "realtime", "bench")
LIBRARIES = ("django", "psycopg", "psycopg_pool", "channels", "channels_redis", "uvicorn", "redis")
DOCUMENTED = {"_meta", "_default_manager", "_base_manager", "_state", "adding", "db"}

# Private names of those libraries that the portal used (and no longer does), on any object.
DENIED_ATTRIBUTES = {
    # psycopg's pipeline and connection internals (a Pipeline subclass saving round trips)
    "_pipeline", "_enter_gen", "_fetch_gen", "_exit_gen", "_process_results", "_communicate_gen",
    "_enqueue_sync", "_exec_command", "_get_tx_start_command", "_check_connection_ok", "_conn",
    # channels_redis' pub/sub layer and redis-py's connection (PUBLISH written per shard)
    "_get_layer", "_get_shard", "_ensure_redis", "_get_group_channel_name", "_redis",
    # Django's LazyObject, QuerySet and ASGI handler internals
    "_wrapped", "_iterable_class", "_clone", "_chain", "_fields", "_hints", "_result_cache",
    "_middleware_chain", "_handler_class", "_resource_closers",
}


def _is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_library(module):
    return bool(module) and module.split(".")[0] in LIBRARIES


def _chain_root(node):
    """The Name an attribute chain starts from (`a` in `a.b.c`), or None."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


class Checker(ast.NodeVisitor):
    def __init__(self, path):
        self.path = path
        self.problems = []
        self.library_names = {}  # local name -> dotted path in a library
        self.private_bases = []  # stack: for each enclosing class, the private names of its library bases

    def problem(self, node, text):
        self.problems.append(f"{self.path}:{node.lineno}: {text}")

    # --- what names come from the libraries ----------------------------------------------------
    def collect_imports(self, tree):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if _is_library(alias.name):
                        local = alias.asname or alias.name.split(".")[0]
                        self.library_names[local] = alias.name if alias.asname else alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and _is_library(node.module):
                for alias in node.names:
                    self.library_names[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def visit_Import(self, node):
        for alias in node.names:
            if _is_library(alias.name) and any(_is_private(part) for part in alias.name.split(".")):
                self.problem(node, f"imports the private module {alias.name}")

    def visit_ImportFrom(self, node):
        if any(alias.name == "setswitchinterval" for alias in node.names):
            self.problem(node, "imports setswitchinterval")
        if node.level == 0 and _is_library(node.module):
            if any(_is_private(part) for part in node.module.split(".")):
                self.problem(node, f"imports from the private module {node.module}")
            for alias in node.names:
                if _is_private(alias.name):
                    self.problem(node, f"imports the private name {alias.name} from {node.module}")

    # --- attribute access ----------------------------------------------------------------------
    def visit_Attribute(self, node):
        name = node.attr
        if name == "setswitchinterval":
            self.problem(node, "sets the interpreter's switch interval")
        elif name in DENIED_ATTRIBUTES:
            self.problem(node, f"uses the private name {name}")
        elif _is_private(name) and name not in DOCUMENTED:
            root = _chain_root(node.value)
            if root in self.library_names:
                self.problem(node, f"reads the private name {name} of {self.library_names[root]}")
            elif self.private_bases and self._reaches_base(node.value) and name in self.private_bases[-1]:
                self.problem(node, f"uses the private name {name} of a library base class")
        self.generic_visit(node)

    @staticmethod
    def _reaches_base(value):
        if isinstance(value, ast.Name):
            return value.id in ("self", "cls")
        return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super"

    def visit_Name(self, node):
        if node.id == "setswitchinterval":
            self.problem(node, "sets the interpreter's switch interval")

    def visit_Constant(self, node):
        if isinstance(node.value, str) and (node.value in DENIED_ATTRIBUTES or node.value == "setswitchinterval"):
            self.problem(node, f"names the private name {node.value}")

    # --- subclasses of library classes -------------------------------------------------------------
    def visit_ClassDef(self, node):
        private = set()
        for base in node.bases:
            resolved = self._resolve(base)
            if resolved is not None:
                private |= {name for name in dir(resolved) if _is_private(name)} - DOCUMENTED
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in private:
                self.problem(item, f"overrides the private method {item.name} of a library base class")
        self.private_bases.append(private)
        self.generic_visit(node)
        self.private_bases.pop()

    def _resolve(self, base):
        dotted = _dotted(base)
        if dotted is None:
            return None
        root, _, rest = dotted.partition(".")
        if root not in self.library_names:
            return None
        target = self.library_names[root] + (f".{rest}" if rest else "")
        module_name, _, attr = target.rpartition(".")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            try:
                return importlib.import_module(target)
            except ImportError:
                return None


def problems_in(source, path="<string>"):
    tree = ast.parse(source, filename=str(path))
    checker = Checker(path)
    checker.collect_imports(tree)
    checker.visit(tree)
    return checker.problems


def project_files():
    for package in PACKAGES:
        root = REPO / package
        if root.is_dir():
            yield from sorted(p for p in root.rglob("*.py") if ".venv" not in p.parts)


def test_the_project_uses_no_private_internals_of_its_libraries():
    files = list(project_files())
    assert len(files) > 50  # the walk really found the project
    problems = [p for path in files for p in problems_in(path.read_text(), path.relative_to(REPO))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("source", [
    "from django.core.handlers.asgi import _private",
    "from channels_redis._internal import thing",
    "import uvicorn._types",
    "from django.db import connection\nconnection._something",
    "from django.db import connection\nconnection.connection._pipeline = None",
    "import psycopg\npsycopg.Pipeline._x",
    "def f(layer):\n    return layer._get_layer()._get_shard('c')",
    "def f(scope, user):\n    scope['user']._wrapped = user",
    "def f(qs):\n    return qs._iterable_class",
    "def f(pg):\n    return hasattr(pg, '_exec_command')",
    "import sys\nsys.setswitchinterval(0.001)",
    "from sys import setswitchinterval",
    "from django.db import models\nclass Q(models.QuerySet):\n    def _clone(self):\n        return super()._clone()",
    "from django.db import models\nclass Q(models.QuerySet):\n    def f(self):\n        return self._fetch_all()",
    "import psycopg\nclass P(psycopg.Pipeline):\n    def g(self):\n        yield from super()._fetch_gen(flush=False)",
    "from channels.generic.websocket import AsyncWebsocketConsumer\n"
    "class C(AsyncWebsocketConsumer):\n    def f(self):\n        return self.channel_layer_alias and self._sync",
])
def test_each_kind_of_reach_is_found(source):
    assert problems_in(source)


@pytest.mark.parametrize("source", [
    "def f(model):\n    return [f.attname for f in model._meta.concrete_fields], model._default_manager",
    "def f(obj):\n    obj._state.adding, obj._state.db = False, 'default'",
    "class Mine:\n    def _writer(self):\n        return self._queue",
    "from channels.generic.websocket import AsyncWebsocketConsumer\n"
    "class C(AsyncWebsocketConsumer):\n    async def _writer(self):\n        await self._send_text('x')",
    "from django.db import connection\nconnection.connection.pipeline()",
])
def test_public_and_own_names_pass(source):
    assert problems_in(source) == []
