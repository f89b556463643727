"""The shape of the product code, read from its source (AST, no third-party tool).

- no import cycle between product modules (imports inside functions count: they are how a
  cycle hides until run time; ``if TYPE_CHECKING:`` blocks do not);
- a package uses another package only through its public face: the package (or a sub-package)
  itself, never one of its modules, and never an underscore module;
- the list of domain names is written in one file (the registry);
- product modules stay short, and no product folder holds more than a reader can take in at once;
- the settings kernel every command shares imports without the curation pipeline.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("curation", "verifiers", "training", "merge", "evaluation", "data_cards")
REGISTRY_FILE = "curation/domains.py"
MAX_LINES = 420
MAX_MODULES_PER_FOLDER = 16


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()
PACKAGE_NAMES = {name for name, path in MODULES.items() if path.name == "__init__.py"}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """``(imported product module, line)`` for every import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    found.append((sub if sub in MODULES else base, child.lineno))
            visit(child)

    visit(tree)
    return [(name, line) for name, line in found if name.split(".")[0] in PACKAGES and name in MODULES]


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def test_no_import_cycle_between_product_modules():
    edges = {m: sorted({t for t, _ in deps if t != m}) for m, deps in GRAPH.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def dfs(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in edges[node]:
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for m in sorted(edges):
        if m not in state:
            dfs(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_packages_use_each_other_only_through_their_public_face():
    bad = []
    for module, deps in GRAPH.items():
        home = module.split(".")[0]
        for target, line in deps:
            if target.split(".")[0] == home:
                continue
            if any(part.startswith("_") for part in target.split(".")) or target not in PACKAGE_NAMES:
                bad.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {target}")
    assert not bad, "imports of another package's modules (use its __init__):\n" + "\n".join(bad)


def _domain_names() -> set[str]:
    from curation import DOMAINS

    return set(DOMAINS)


def test_the_list_of_domain_names_is_written_in_one_file():
    names = _domain_names()
    offenders = []
    for path in [*MODULES.values(), *ROOT.glob("*/presets/*.yaml"), *ROOT.glob("*/recipes/*.yaml")]:
        rel = str(path.relative_to(ROOT))
        if rel == REGISTRY_FILE or path.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                consts = {e.value for e in node.elts if isinstance(e, ast.Constant)}
            elif isinstance(node, ast.Dict):
                consts = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                # an enumeration in prose: "math, code or science"
                words = {w.strip(" ,.:;()'\"") for w in node.value.replace("/", " ").split()}
                consts = names & words if len(names & words) >= len(names) else set()
            else:
                continue
            if len(consts & names) >= 2:
                offenders.append(f"{rel}:{node.lineno} lists {sorted(consts & names)}")
    assert not offenders, f"domain names listed outside {REGISTRY_FILE}:\n" + "\n".join(offenders)


def test_product_modules_are_short():
    long = {str(p.relative_to(ROOT)): n for p in MODULES.values() if (n := p.read_text().count("\n")) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them along their seams): {long}"


def test_product_folders_hold_at_most_sixteen_modules():
    folders = {path.parent for path in MODULES.values()}
    wide = {str(f.relative_to(ROOT)): n for f in folders if (n := len(list(f.glob("*.py")))) > MAX_MODULES_PER_FOLDER}
    assert not wide, f"folders over {MAX_MODULES_PER_FOLDER} modules (group them by role into sub-packages): {wide}"


def test_the_settings_kernel_imports_without_the_pipeline():
    """``train``, ``merge`` and ``evaluate`` read the settings kernel and the domain registry from
    ``curation``; that must not load the data frame libraries, the pipeline or the teacher clients."""
    heavy = ("polars", "pyarrow", "rich", "numpy", "aiohttp", "curation.run", "curation.stages", "curation.teachers",
             "curation.output", "curation.sources", "curation.dedup")
    code = ("import sys\n"
            "from curation import DOMAINS, ConfigError, Flags, MissingExtra, fail, get_domain, ref_problem, setting\n"
            f"print([m for m in {heavy!r} if m in sys.modules])")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout
