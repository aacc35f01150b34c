"""The layers: the lower ones never import the presentation libraries, the import-linter
contracts of pyproject.toml hold, and no new import cycle appears between kamtool's modules."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import kamtool
from tests.support.require import need_module, unavailable

LOWER = ["kamtool.sip", "kamtool.db", "kamtool.core", "kamtool.rpc", "kamtool.proxy", "kamtool.ua"]
FORBIDDEN = ("typer", "rich", "textual", "click")


def _modules(package: str) -> list[str]:
    mod = __import__(package, fromlist=["__path__"])
    names = [package]
    for info in pkgutil.walk_packages(mod.__path__, prefix=package + "."):
        names.append(info.name)
    return names


@pytest.mark.parametrize("package", LOWER)
def test_lower_layers_do_not_import_ui_libraries(package):
    code = (
        "import importlib, sys\n"
        f"for name in {_modules(package)!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "", f"{package} pulls in {proc.stdout.strip()}"


def test_help_does_not_import_textual():
    code = (
        "import sys\n"
        "from kamtool.cli.main import main\n"
        "main(['--help'])\n"
        "sys.stdout.flush()\n"
        "sys.stderr.write(','.join(m for m in sys.modules if m.split('.')[0] == 'textual'))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stderr.strip() == ""


def test_version_matches_package():
    from tests.support.cli import invoke

    r = invoke("--version")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0] == f"kamtool {kamtool.__version__}"


# Today's import cycles between kamtool modules (the strongly connected components of the
# import graph, imports inside functions included, ``if TYPE_CHECKING:`` ones not). This list
# may only shrink: a new or larger cycle fails, and so does an entry that no longer exists
# as written (then write the smaller cycle here, or delete the entry). The route work of
# issue 11 removes both.
ALLOWED_CYCLES: list[set[str]] = []  # none today: keep it that way


def import_cycles(graph) -> list[set[str]]:
    """The strongly connected components of more than one module in ``graph`` (a grimp
    ImportGraph), by Tarjan's algorithm without recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        while work:
            node, targets = work[-1]
            for nxt in targets:
                if nxt not in graph.modules:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.find_modules_directly_imported_by(nxt)))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
    return found


def test_cycle_finder_finds_cycles():
    grimp = need_module("grimp", "import-linter's graph library: pip install .[test]")
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d"),
                               ("p.d", "p.e"), ("p.e", "p.d"), ("p.f", "p.a")]:  # fmt: skip
        graph.add_import(importer=importer, imported=imported)
    assert sorted(map(sorted, import_cycles(graph))) == [["p.a", "p.b", "p.c"], ["p.d", "p.e"]]


def test_no_new_import_cycles():
    try:
        import grimp
    except ImportError:
        unavailable("grimp is not installed (pip install -e .[test])")
    graph = grimp.build_graph("kamtool", exclude_type_checking_imports=True)
    cycles = import_cycles(graph)
    new = [sorted(c) for c in cycles if not any(c <= allowed for allowed in ALLOWED_CYCLES)]
    assert not new, f"new import cycles: {new}"
    stale = [sorted(a) for a in ALLOWED_CYCLES if a not in cycles]
    assert not stale, (
        f"cycles in ALLOWED_CYCLES that shrank or are gone: {stale}; today's: "
        f"{sorted(map(sorted, cycles))}: write those in ALLOWED_CYCLES"
    )


def test_import_linter_contracts_hold():
    """pyproject.toml's [tool.importlinter] contracts (scripts/test also runs lint-imports)."""
    exe = shutil.which("lint-imports")
    if exe is None:
        unavailable("import-linter is not installed (pip install -e .[test])")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([exe, "--no-cache"], capture_output=True, text=True, cwd=root,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
