"""Import rules: dependencies point inward, and production code never imports the OS emulator.

    helved.domain, helved.fagsystemer, helved.oppdrag   the core: never imports helved.os
    helved.os (port, bridge, dryrun, avstemming relay)   speaks the port, imports no adapter
    helved.emulator (and its adapter, .gateway)          a development and test stand-in for OS

Read from the source (AST), like `test_purity.py`: `import helved.emulator…`, `from
helved.emulator… import`, `from helved import emulator`, relative imports resolved against the
importing module, and `importlib.import_module("helved.emulator…")` all count, at module level
or inside a function. A last test imports the production entry points in a fresh interpreter and
checks that no emulator module was loaded on the way (what the source rules cannot see).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_TREES = ("helved", "dataflows")
EMULATOR = "helved.emulator"

# The modules that may import helved.emulator: development and test stand-ins, never production
# (paths from the repository root; a trailing "/" takes a package). Each entry says why. Keep it
# minimal: an entry that no longer imports the emulator must leave (`test_the_allow_list_is_minimal`).
EMULATOR_ALLOWED: dict[str, str] = {
    "helved/emulator/": "the emulator itself, and its adapter to the OS port (`gateway.py`)",
    "helved/devstack.py": "the development stack: runs `EmulatedOs` as OS beside the pipeline",
    "helved/replay.py": "`helved replay`'s OS stand-in: the emulator's verdicts and simulations",
    "helved/sim/": "the deterministic simulator: the emulator is its OS",
    "helved/bench/": "the benchmarks: the emulator answers Oppdrag in-process",
    "helved/demo.py": "the demo: runs the emulator as OS and shows what it pays",
    "helved/commands/os_emulator.py": "`helved os-emulator`: the OS bridge with the emulator as OS",
    "helved/commands/sak.py": "`helved sak --os-state`: what the OS emulator service pays, read "
    "from its state directory (a production OS offers no such read)",
}
# Entries allowed only a function-level (lazy) import: the command's production path never
# loads the emulator.
LAZY_ONLY = {"helved/commands/sak.py"}

# The core: pure values and XML; it knows nothing of OS's port or its adapters.
CORE = ("helved/domain/", "helved/fagsystemer/", "helved/oppdrag/")
# What the OS package must not import: an adapter, or a development module that runs one.
NOT_FROM_OS = (EMULATOR, "helved.devstack", "helved.replay", "helved.sim", "helved.bench", "helved.demo")

# Production entry points (those that exist): importing them loads no emulator module.
ENTRY_POINTS = (
    "helved.cli",
    "helved.os",
    "helved.os.bridge",
    "helved.os.dryrun",
    "helved.os.avstemming_relay",
    "helved.os.payments",
    "helved.startup",
    "helved.commands.run",
    "helved.views",
    "dataflows.helved_flow",
)


@dataclass(frozen=True, slots=True)
class Import:
    module: str  # the absolute module named (for `from X import y`: X, and X.y)
    line: int
    lazy: bool  # inside a function


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(path: Path) -> str:
    name = _module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _resolve(path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = _package_of(path).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path) -> list[Import]:
    """Every module `path` imports, with its line and whether the import is inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(a.name, node.lineno, lazy) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(path, node)
            found.append(Import(base, node.lineno, lazy))
            found.extend(Import(f"{base}.{a.name}", node.lineno, lazy) for a in node.names if a.name != "*")
        elif isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            arg = node.args[0] if node.args else None
            if name in ("import_module", "__import__") and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append(Import(arg.value, node.lineno, lazy))
        inner = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return found


def _names(imports: list[Import], prefixes: tuple[str, ...] | str) -> list[Import]:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return [i for i in imports if any(i.module == p or i.module.startswith(p + ".") for p in prefixes)]


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _sources(*trees: str) -> list[Path]:
    return sorted(p for t in trees for p in (ROOT / t).rglob("*.py"))


def _allowed(rel: str) -> str | None:
    for entry in EMULATOR_ALLOWED:
        if rel == entry or (entry.endswith("/") and rel.startswith(entry)):
            return entry
    return None


def test_production_code_never_imports_the_emulator():
    offences = [
        f"{_rel(path)}:{i.line} imports {i.module}"
        for path in _sources(*PRODUCTION_TREES)
        if _allowed(_rel(path)) is None
        for i in _names(imports_of(path), EMULATOR)
    ]
    assert not offences, (
        "production code imports the OS emulator; speak the port (helved.os.port) instead, or, "
        "for a development module, add it to EMULATOR_ALLOWED with the reason:\n" + "\n".join(offences)
    )


@pytest.mark.parametrize("rel", sorted(LAZY_ONLY))
def test_a_lazy_only_entry_imports_the_emulator_only_inside_a_function(rel):
    eager = [i for i in _names(imports_of(ROOT / rel), EMULATOR) if not i.lazy]
    assert not eager, f"{rel} imports the emulator at module level: " + ", ".join(
        f"line {i.line} ({i.module})" for i in eager
    )


def test_the_allow_list_is_minimal():
    for entry, why in EMULATOR_ALLOWED.items():
        assert why.strip(), f"{entry}: say why it may import the emulator"
        paths = _sources(entry) if entry.endswith("/") else [ROOT / entry]
        assert all(p.exists() for p in paths) and paths, f"{entry} is allow-listed but does not exist"
        users = [p for p in paths if _names(imports_of(p), EMULATOR)]
        assert users, f"{entry} no longer imports the emulator: take it off EMULATOR_ALLOWED"
    assert LAZY_ONLY <= set(EMULATOR_ALLOWED)


@pytest.mark.parametrize("path", _sources("helved/os"), ids=_rel)
def test_the_os_package_imports_no_adapter_and_no_development_module(path):
    bad = _names(imports_of(path), NOT_FROM_OS)
    assert not bad, f"{_rel(path)} imports " + ", ".join(f"{i.module} (line {i.line})" for i in bad)


def test_the_os_port_imports_only_the_standard_library():
    path = ROOT / "helved/os/port.py"
    stdlib = sys.stdlib_module_names | {"__future__"}
    foreign = [i for i in imports_of(path) if i.module.split(".")[0] not in stdlib]
    assert not foreign, "helved/os/port.py imports " + ", ".join(i.module for i in foreign)


@pytest.mark.parametrize("path", _sources(*CORE), ids=_rel)
def test_the_core_never_imports_the_os_package(path):
    bad = _names(imports_of(path), "helved.os")
    assert not bad, f"{_rel(path)} imports " + ", ".join(f"{i.module} (line {i.line})" for i in bad)


def test_the_rules_see_every_kind_of_import(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    pkg = tmp_path / "helved" / "commands"
    pkg.mkdir(parents=True)
    src = pkg / "x.py"
    src.write_text(
        "import helved.emulator.xml\n"
        "from helved import emulator\n"
        "from ..emulator.gateway import EmulatedOs\n"
        "from .. import emulator as e\n"
        "def f():\n"
        "    import importlib\n"
        "    importlib.import_module('helved.emulator.replay')\n"
        "from helved.os import port\n"
    )
    found = _names(imports_of(src), EMULATOR)
    assert {(i.line, i.lazy) for i in found} == {(1, False), (2, False), (3, False), (4, False), (7, True)}
    assert [i.line for i in _names(imports_of(src), "helved.os")] == [8, 8]


def test_importing_production_loads_no_emulator_module():
    """In a fresh interpreter: import every production entry point there is and build the CLI's
    parser (which imports every command module); no emulator module may have been loaded."""
    code = (
        "import importlib, importlib.util, sys\n"
        f"names = {ENTRY_POINTS!r}\n"
        "missing = [n for n in names if importlib.util.find_spec(n) is None]\n"
        "for n in names:\n"
        "    if n not in missing:\n"
        "        importlib.import_module(n)\n"
        "importlib.import_module('helved.cli').build_parser()\n"
        f"loaded = sorted(m for m in sys.modules if m == {EMULATOR!r} or m.startswith({EMULATOR + '.'!r}))\n"
        "print(','.join(loaded))\n"
        "print(','.join(missing))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    loaded, missing = (proc.stdout.splitlines() + ["", ""])[:2]
    assert not loaded, f"importing production code loads {loaded}"
    assert not {"helved.cli", "helved.os.bridge", "helved.os.dryrun", "dataflows.helved_flow"} & set(
        filter(None, missing.split(","))
    ), f"entry points missing: {missing}"
