"""No import cycles between the packages (issue 21: "break the cycles").

Each package below is imported, with every submodule, in a fresh
interpreter (so an import that only works after another package was loaded
fails here). The graph is then read from the source: every ``import`` and
``from ... import`` statement of a module counts, at module level or inside
a function (a lazy import hides a cycle from the interpreter, not from the
design); registry targets written as strings (``"pkg.module:attr"``) do not.

Nodes are the packages below, and for any other module of ``egoimu_jax``
its top-level name (``egoimu_jax.config_lib``, ``egoimu_jax.models``, ...):
a cycle through such a module counts too (input_pipeline → config_lib →
training → input_pipeline). Modules outside the packages are read when one
of them imports them, so the graph holds every path between the packages.
"""

import ast
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("egoimu_jax.input_pipeline", "egoimu_jax.training",
            "egoimu_jax.evaluation", "egoimu_jax.teachers",
            "egoimu_jax.report", "egoimu_jax.scaling",
            "egoimu_jax.datasets")
TOP_LEVEL = ("egoimu_jax",)

_WALK = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
names = [package.__name__]
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
  importlib.import_module(info.name)
  names.append(info.name)
print(json.dumps(names))
"""


@pytest.fixture(scope="module")
def modules() -> dict[str, list[str]]:
  """Every module of each package, each package imported (with all its
  submodules) in a fresh interpreter; the interpreters run at once."""
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
  procs = {p: subprocess.Popen([sys.executable, "-c", _WALK, p], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
           for p in PACKAGES}
  found = {}
  for package, proc in procs.items():
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, f"import {package}:\n{err[-3000:]}"
    found[package] = json.loads(out.strip().splitlines()[-1])
  return found


def _file(module: str) -> pathlib.Path | None:
  """The source file of a module of this repository, else None."""
  base = ROOT.joinpath(*module.split("."))
  for path in (base.with_suffix(".py"), base / "__init__.py"):
    if path.is_file():
      return path
  return None


def _imports(module: str) -> set[str]:
  """Modules of this repository that ``module``'s source imports."""
  path = _file(module)
  package = module if path.name == "__init__.py" else module.rpartition(".")[0]
  found = set()
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      targets = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        parts = package.split(".")[:len(package.split(".")) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
      targets = [f"{base}.{a.name}" if _file(f"{base}.{a.name}") else base
                 for a in node.names]
    else:
      continue
    found.update(t for t in targets
                 if t.split(".")[0] in TOP_LEVEL and _file(t))
  return found


def _node(module: str) -> str:
  """The graph node a module belongs to (see the module doc)."""
  for package in PACKAGES:
    if module == package or module.startswith(package + "."):
      return package
  return ".".join(module.split(".")[:2])


def _module_edges(start: list[str]) -> dict[tuple[str, str], tuple[str, str]]:
  """(node, node) -> one (module, module) import behind it, over ``start``
  and every repository module they reach."""
  edges, seen, todo = {}, set(start), list(start)
  while todo:
    module = todo.pop()
    for target in sorted(_imports(module)):
      a, b = _node(module), _node(target)
      if a != b:
        edges.setdefault((a, b), (module, target))
      if target not in seen:
        seen.add(target)
        todo.append(target)
  return edges


def _components(edges) -> list[set[str]]:
  """The strongly connected components of more than one node (Tarjan): the
  nodes that sit on a cycle together."""
  graph: dict[str, list[str]] = {}
  for a, b in sorted(edges):
    graph.setdefault(a, []).append(b)
    graph.setdefault(b, [])
  index, low, stack, on_stack, components = {}, {}, [], set(), []

  def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in graph[v]:
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = set()
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.add(w)
        if w == v:
          break
      if len(component) > 1:
        components.append(component)

  for v in sorted(graph):
    if v not in index:
      visit(v)
  return components


def _describe(component, edges) -> str:
  """The component's nodes and every import between two of them."""
  return "\n    ".join(
      [f"cycle among {', '.join(sorted(component))}:"] +
      [f"{a} -> {b}: {m} imports {t}" for (a, b), (m, t) in sorted(edges.items())
       if a in component and b in component])


def test_cycle_finder_reports_the_cycle_and_its_imports():
  edges = {("a", "b"): ("a.x", "b.y"), ("b", "c"): ("b.y", "c.z"),
           ("c", "a"): ("c.z", "a.x"), ("c", "d"): ("c.z", "d.w")}
  [component] = _components(edges)
  assert component == {"a", "b", "c"}
  text = _describe(component, edges)
  assert "cycle among a, b, c:" in text and "c -> a: c.z imports a.x" in text
  assert "d.w" not in text
  assert not _components({("a", "b"): ("a.x", "b.y")})


def test_imports_are_read_at_any_depth():
  # prepare's command line imports the data config inside main() (lazily).
  assert "egoimu_jax.input_pipeline.data_config" in _imports(
      "egoimu_jax.input_pipeline.prepare.__main__")
  assert _imports("egoimu_jax.cli") == {"egoimu_jax.errors"}
  assert _node("egoimu_jax.training.tasks.base") == "egoimu_jax.training"
  assert _node("egoimu_jax.config_lib") == "egoimu_jax.config_lib"


def test_every_package_imports_in_a_fresh_interpreter(modules):
  assert set(modules) == set(PACKAGES)
  assert "egoimu_jax.training.trainer" in modules["egoimu_jax.training"]
  assert "egoimu_jax.scaling.power_law" in modules["egoimu_jax.scaling"]


def test_packages_import_without_cycles(modules):
  start = sorted({m for names in modules.values() for m in names})
  edges = _module_edges(start)
  components = _components(edges)
  assert not components, "import cycles:\n  " + "\n  ".join(
      _describe(c, edges) for c in components)
