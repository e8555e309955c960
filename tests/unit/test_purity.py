"""The functional core stays pure: no engine, no Kafka, no clock, no randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "helved" / "domain"
FORBIDDEN_MODULES = {"bytewax", "confluent_kafka", "lxml", "orjson", "random", "socket", "time"}
FORBIDDEN_CALLS = {"now", "today", "utcnow", "uuid1", "uuid4", "random", "time_ns"}


def _files():
    return sorted(DOMAIN.glob("*.py"))


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_domain_imports_only_the_standard_library_and_itself(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN_MODULES, f"{path.name} imports {name}"
            if name.split(".")[0] == "helved":
                assert name in ("helved.errors",) or name.startswith("helved.domain"), f"{path.name} imports {name}"


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_domain_reads_no_clock_and_draws_no_random_ids(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            assert name not in FORBIDDEN_CALLS, f"{path.name} calls {name}()"


def test_there_is_a_domain_to_check():
    assert len(_files()) >= 6
