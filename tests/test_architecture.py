"""The shape of the package: imports go one way, and functions stay short enough to read."""

import ast
import pathlib

import lrscape

SRC = pathlib.Path(lrscape.__file__).parent


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: pathlib.Path) -> set[str]:
    """The lrscape modules ``path`` imports anywhere (function level too), except under
    ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text())
    checking = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                and getattr(node.test, "id", None) == "TYPE_CHECKING"
                for n in ast.walk(node)}
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in checking or not isinstance(node, ast.ImportFrom | ast.Import):
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("lrscape")}
            continue
        base = package
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        module = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
        if not module or not module.startswith("lrscape"):
            continue
        found.add(module)
        found |= {f"{module}.{a.name}" for a in node.names}  # `from . import plan`
    return found


def _find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """A cycle of ``graph`` (node -> successors) as a path that returns to its start, or []."""
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> list[str]:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return trail[trail.index(nxt):] + [node, nxt] if nxt in trail else [node, nxt]
            if nxt not in state and (found := visit(nxt, trail + [node])):
                return found
        state[node] = "done"
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node, [])):
            return found
    return []


def test_the_cycle_finder_finds_cycles():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_module_imports_one_that_imports_it():
    paths = {_module_name(p): p for p in SRC.rglob("*.py")}
    # the package itself re-exports every module: leave it out, and count modules alone
    graph = {name: {m for m in _imports(path) if m in paths and m not in (name, "lrscape")}
             for name, path in paths.items() if name != "lrscape"}
    cycle = _find_cycle(graph)
    assert not cycle, f"import cycle: {' -> '.join(cycle)}"


def test_no_function_runs_over_a_hundred_lines():
    long = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = node.body
                if (body and isinstance(body[0], ast.Expr)
                        and isinstance(body[0].value, ast.Constant)):
                    body = body[1:]  # the docstring
                if body and body[-1].end_lineno - body[0].lineno + 1 > 100:
                    long.append(f"{path.name}:{node.lineno} {node.name}")
    assert not long, long
