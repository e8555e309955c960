"""`dataflows/helved_flow.py` is only the entry point Bytewax and waxctl load: the flow lives in
`helved.flow`, and `helved` never imports `dataflows`."""

from __future__ import annotations

import ast
from pathlib import Path

import dataflows.helved_flow as entry
import helved.flow

ROOT = Path(__file__).resolve().parents[2]


def test_the_entry_point_exposes_the_flow_of_helved_flow() -> None:
    for name in ("get_flow", "build_flow", "wire", "IntakeLink", "Restored", "SakLogic", "FLOW_ID"):
        assert getattr(entry, name) is getattr(helved.flow, name), name


def test_helved_never_imports_dataflows() -> None:
    offences = []
    for path in sorted((ROOT / "helved").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            offences += [
                f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names if n.split(".")[0] == "dataflows"
            ]
    assert offences == []


def test_dataflows_holds_nothing_but_the_entry_point() -> None:
    assert sorted(p.name for p in (ROOT / "dataflows").glob("*.py")) == ["__init__.py", "helved_flow.py"]
