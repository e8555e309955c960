"""Fixtures of the console's tests: real helved output (an in-process replay of the sample
saker), archives on SQLite and on a throwaway PostgreSQL cluster on loopback, an app.

PostgreSQL: Debian's `postgresql` package (initdb/pg_ctl under /usr/lib/postgresql/*/bin), one
cluster per test session, run as the `postgres` (or `nobody`) user when the tests run as root,
one fresh database per test. Skipped only when it is not installed and HELVED_REQUIRE_POSTGRES
is unset (CI sets it once it has installed the package).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from helved.console import sample
from helved.console.archive import Archive, ingest_all, open_archive
from helved.records import InRecord


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def scenario() -> sample.Scenario:
    """The sample saker, with SAK-MANGE at 100 decisions."""
    return sample.standard(decisions=100)


@pytest.fixture(scope="session")
def topic_records(scenario: sample.Scenario) -> list[InRecord]:
    """What helved's topics hold after the scenario (requests, every output, avstemming)."""
    return sample.archive_records(scenario)


# ---------------------------------------------------------------------------------------------
# PostgreSQL


def _pg_bindir() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL cluster on 127.0.0.1 for this session: its server URL (no database)."""
    bindir = _pg_bindir()
    if bindir is None:
        if os.environ.get("HELVED_REQUIRE_POSTGRES"):
            pytest.fail("HELVED_REQUIRE_POSTGRES is set but PostgreSQL (initdb) is not installed")
        pytest.skip("PostgreSQL is not installed (Debian's postgresql package)")
    root = Path(tempfile.mkdtemp(prefix="helved-console-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        user = next((u for u in ("postgres", "nobody") if _has_user(u)), None)
        if user is None:
            pytest.fail("running as root and there is no postgres or nobody user to run PostgreSQL as")
        pw = pwd.getpwnam(user)
        os.chown(root, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", user, "--"]
    data, port = root / "data", free_port()
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    try:
        subprocess.run(
            [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "helved", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"],
            check=True, capture_output=True, env=env, timeout=120,
        )  # fmt: skip
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        )
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "-t", "60", "start"],
            check=True, capture_output=True, env=env, timeout=90,
        )  # fmt: skip
    except subprocess.CalledProcessError as exc:
        log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')}\n{log}")
    try:
        yield f"postgresql+psycopg://helved@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True, env=env, timeout=60,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


_db_numbers = itertools.count(1)


@pytest.fixture
def postgres_dsn(postgres_server: str) -> str:
    """A fresh, empty database on the session's cluster."""
    name = f"console_{os.getpid()}_{next(_db_numbers)}"
    admin = sa.create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{postgres_server}/{name}"


# ---------------------------------------------------------------------------------------------
# Archives


@pytest.fixture(params=["sqlite", "postgresql"])
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty archive database: a SQLite file, and a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'archive.sqlite'}"
    return request.getfixturevalue("postgres_dsn")


@pytest.fixture
def archive(dsn: str) -> Iterator[Archive]:
    a = open_archive(dsn)
    yield a
    a.close()


@pytest.fixture
def filled(tmp_path: Path, topic_records: list[InRecord]) -> Iterator[Archive]:
    """A SQLite archive holding the scenario's records."""
    a = open_archive(f"sqlite:///{tmp_path / 'filled.sqlite'}")
    ingest_all(a, topic_records)
    yield a
    a.close()
