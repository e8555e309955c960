"""The functional core stays pure: no engine, no Kafka, no clock, no randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HELVED = Path(__file__).resolve().parents[2] / "helved"
# The pure core: the domain, and the fagsystem registry with every sender's contract.
PURE = (HELVED / "domain", HELVED / "fagsystemer")
FORBIDDEN_MODULES = {"bytewax", "confluent_kafka", "lxml", "orjson", "random", "socket", "time"}
FORBIDDEN_CALLS = {"now", "today", "utcnow", "uuid1", "uuid4", "random", "time_ns"}


def _files():
    return sorted(p for d in PURE for p in d.glob("*.py"))


@pytest.mark.parametrize("path", _files(), ids=lambda p: f"{p.parent.name}/{p.name}")
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
                pure = name.startswith(("helved.domain", "helved.fagsystemer"))
                assert name in ("helved.errors",) or pure, f"{path.name} imports {name}"


@pytest.mark.parametrize("path", _files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_domain_reads_no_clock_and_draws_no_random_ids(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            assert name not in FORBIDDEN_CALLS, f"{path.name} calls {name}()"


def test_there_is_a_domain_to_check():
    assert len(_files()) >= 9
    assert any(p.parent.name == "fagsystemer" for p in _files())
