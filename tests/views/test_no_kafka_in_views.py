"""The read side is pure: no Kafka client, no Bytewax, no OS emulator in `helved.views`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

VIEWS = Path(__file__).resolve().parents[2] / "helved" / "views"
FORBIDDEN = ("confluent_kafka", "bytewax", "helved.kafka", "helved.emulator", "helved.devstack", "helved.startup")


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


@pytest.mark.parametrize("path", sorted(VIEWS.glob("*.py")), ids=lambda p: p.name)
def test_a_view_module_imports_no_kafka_client(path: Path) -> None:
    bad = sorted(n for n in imported(path) if any(n == f or n.startswith(f + ".") for f in FORBIDDEN))
    assert not bad, f"helved/views/{path.name} imports {', '.join(bad)}"
