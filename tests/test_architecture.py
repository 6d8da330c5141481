"""The import contract of ARCHITECTURE.md, checked over the source with stdlib `ast`.

- Layers: eval -> agent -> finetune -> numeric. A package imports only the
  packages below it (function-level imports count; `if TYPE_CHECKING:` blocks,
  which never run, do not).
- No import cycles between modules of these packages.
- `shelfcast eval` joins the command line through an entry point, so agent
  never imports eval.
"""

from __future__ import annotations

import ast
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import typer
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["numeric", "finetune", "agent", "eval"]  # each may import only those before it


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _files() -> dict[str, Path]:
    return {_module_name(p): p for layer in LAYERS if (ROOT / layer).is_dir() for p in (ROOT / layer).rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Project modules `module` imports (a `from package import name` names the submodule when there is one)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.orelse:
                    visit_one(stmt)
            else:
                visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names)
        else:
            visit(node)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found = set()
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    known = _files()
    return {module: _imported(module, path, known) for module, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_real_imports() -> None:
    graph = import_graph()
    assert "agent.forecast.context" in graph["agent.forecast.chain"]
    assert "finetune.regression.artifact" in graph["agent.pipeline"]  # a function-level import counts
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_flow_down_the_layers() -> None:
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    upward = [f"{module} -> {target}" for module, targets in import_graph().items() for target in targets
              if rank[target.split(".")[0]] > rank[module.split(".")[0]]]
    assert upward == [], "imports against eval -> agent -> finetune -> numeric:\n" + "\n".join(sorted(upward))


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_eval_command_is_registered_from_the_eval_side() -> None:
    from agent.cli import COMMANDS_GROUP, add_registered_commands

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][COMMANDS_GROUP]
    assert declared == {"eval": "eval.cli:app"}
    app = typer.Typer()
    app.command("noop")(lambda: None)  # a group with one command would run it directly
    add_registered_commands(app, [EntryPoint(name, value, COMMANDS_GROUP) for name, value in declared.items()])
    result = CliRunner().invoke(app, ["eval", "--help"])
    assert result.exit_code == 0 and "--max-series" in result.output
