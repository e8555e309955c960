"""The Kubernetes manifests (k8s/): rendered without kustomize, validated against the Kubernetes
JSON schemas (kubernetes-validate, offline), and held to helved's rules.

The entrypoint scripts of the pipeline's containers are run here too, with `sh`: the main one with
a stand-in `python` that records its arguments, `init-recovery` with the real one.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from helved.cli import build_parser
from helved.config import Settings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "k8s"
# The oldest Kubernetes the manifests are meant for (kubernetes-validate bundles 1.25 and up).
K8S_VERSION = "1.30"
CREDENTIALS_SECRET = "helved-kafka-credentials"
CONSOLE_SECRET = "helved-console"
VARIANTS = {"base": K8S / "base", "test-cluster": K8S / "overlays" / "test-cluster"}


def _load_renderer() -> Any:
    spec = importlib.util.spec_from_file_location("helved_k8s_render", K8S / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _load_renderer()

Obj = dict[str, Any]


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> tuple[str, list[Obj]]:
    return request.param, render.render(VARIANTS[request.param])


def objects(variant: tuple[str, list[Obj]]) -> list[Obj]:
    return variant[1]


def one(objs: list[Obj], kind: str, name: str | None = None) -> Obj:
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_spec(obj: Obj) -> Obj:
    return obj["spec"]["template"]["spec"]


def workloads(objs: list[Obj]) -> list[Obj]:
    return [o for o in objs if o["kind"] in ("StatefulSet", "Deployment")]


def containers(obj: Obj, init: bool = True) -> list[Obj]:
    pod = pod_spec(obj)
    return (pod.get("initContainers") or [] if init else []) + pod["containers"]


def container(obj: Obj, name: str) -> Obj:
    (found,) = [c for c in containers(obj) if c["name"] == name]
    return found


def config(objs: list[Obj]) -> dict[str, str]:
    return one(objs, "ConfigMap", "helved-kafka")["data"]


def env_of(c: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in c.get("env") or []}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# ---------------------------------------------------------------------------------------------
# Rendering and schemas


def test_every_object_validates_against_the_kubernetes_schemas(variant):
    objs = objects(variant)
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == sorted(
        [
            "ConfigMap",
            "CronJob",
            "Deployment",
            "Deployment",
            "PersistentVolumeClaim",
            "PodDisruptionBudget",
            "PrometheusRule",
            "Service",
            "Service",
            "ServiceAccount",
            "StatefulSet",
        ]
    )
    for obj in objs:
        if obj["kind"] == "PrometheusRule":
            continue  # a CRD, not in Kubernetes' schemas: tests/ops/test_alert_rules.py checks it
        # strict: unknown fields (typos) fail too.
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_the_validator_does_catch_mistakes(variant):
    sts = one(objects(variant), "StatefulSet")
    broken = yaml.safe_load(yaml.safe_dump(sts))
    pod_spec(broken)["containers"][0]["resources"]["requets"] = {"cpu": "1"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_the_overlay_sets_its_namespace_and_the_common_labels():
    objs = render.render(VARIANTS["test-cluster"])
    assert {o["metadata"].get("namespace") for o in objs} == {"helved-test"}
    for obj in objs:
        assert obj["metadata"]["labels"]["app.kubernetes.io/name"] == "helved"
    assert all("namespace" not in o["metadata"] for o in render.render(VARIANTS["base"]))


def test_workload_selectors_match_their_pods(variant):
    for w in workloads(objects(variant)):
        assert selects(w["spec"]["selector"]["matchLabels"], w["spec"]["template"]["metadata"]["labels"])
    pipeline = one(objects(variant), "StatefulSet", "helved-pipeline")
    bridge = one(objects(variant), "Deployment", "helved-os-bridge")
    console = one(objects(variant), "Deployment", "helved-console")
    # The workloads' selectors must not overlap, or the controllers fight over pods.
    for a, b in ((pipeline, bridge), (pipeline, console), (bridge, console)):
        assert not selects(a["spec"]["selector"]["matchLabels"], b["spec"]["template"]["metadata"]["labels"])
        assert not selects(b["spec"]["selector"]["matchLabels"], a["spec"]["template"]["metadata"]["labels"])


# ---------------------------------------------------------------------------------------------
# Secrets and settings


def test_sasl_credentials_only_from_a_secret(variant):
    objs = objects(variant)
    assert not [o for o in objs if o["kind"] == "Secret"], "credentials never live in the repository"
    for cm in (o for o in objs if o["kind"] == "ConfigMap"):
        for key in cm.get("data") or {}:
            assert not any(word in key.upper() for word in ("PASSWORD", "USERNAME", "SECRET", "TOKEN")), key
    sasl = config(objs)["HELVED_SECURITY_PROTOCOL"] == "SASL_SSL"
    for w in workloads(objs):
        for c in containers(w):
            env = env_of(c)
            for name, key in (("HELVED_SASL_USERNAME", "username"), ("HELVED_SASL_PASSWORD", "password")):
                if name not in env:
                    # Without SASL the credentials are not needed; with it, every container
                    # that talks to Kafka gets them.
                    assert not sasl or c["name"] == "init-recovery", f"{c['name']} lacks {name}"
                    continue
                assert "value" not in env[name], f"{c['name']}: {name} as a literal value"
                assert env[name]["valueFrom"] == {"secretKeyRef": {"name": CREDENTIALS_SECRET, "key": key}}
            for source in c.get("envFrom") or []:
                assert set(source) == {"configMapRef"}, "environment from ConfigMaps only; secrets key by key"


def test_settings_read_from_the_configmap_are_valid(variant):
    data = config(objects(variant))
    env = dict(data)
    if data["HELVED_SECURITY_PROTOCOL"] == "SASL_SSL":
        env |= {"HELVED_SASL_USERNAME": "user", "HELVED_SASL_PASSWORD": "from-the-secret"}
    settings = Settings.from_env(env)
    assert not settings.embedded_broker
    # bytewax.run takes whole seconds for -s and -b.
    assert data["HELVED_SNAPSHOT_S"].isdigit() and data["HELVED_BACKUP_S"].isdigit()
    assert int(data["HELVED_RECOVERY_PARTS"]) >= 1
    assert settings.recovery_dir == Path(data["HELVED_RECOVERY_DIR"])


def test_every_reference_resolves(variant):
    objs = objects(variant)
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    for w in workloads(objs):
        pod = pod_spec(w)
        assert ("ServiceAccount", pod["serviceAccountName"]) in names
        volumes = {v["name"] for v in pod.get("volumes") or []}
        volumes |= {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates") or []}
        for v in pod.get("volumes") or []:
            if "persistentVolumeClaim" in v:
                assert ("PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"]) in names
        for c in containers(w):
            for mount in c.get("volumeMounts") or []:
                assert mount["name"] in volumes, f"{c['name']} mounts unknown volume {mount['name']}"
            for source in c.get("envFrom") or []:
                assert ("ConfigMap", source["configMapRef"]["name"]) in names
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    # The Kafka credentials, and the console's own Secret for the console only.
                    allowed = {CREDENTIALS_SECRET} | ({CONSOLE_SECRET} if c["name"] == "console" else set())
                    assert ref["name"] in allowed, f"{c['name']}: {e['name']} from Secret {ref['name']}"


# ---------------------------------------------------------------------------------------------
# Containers


def test_every_container_has_resources_and_probes(variant):
    for w in workloads(objects(variant)):
        for c in containers(w):
            requests = c["resources"]["requests"]
            assert requests.get("cpu") and requests.get("memory"), f"{c['name']}: requests"
            assert c["resources"]["limits"].get("memory"), f"{c['name']}: memory limit"
        for c in containers(w, init=False):
            assert c.get("livenessProbe") and c.get("readinessProbe"), f"{c['name']}: probes"


def test_pods_run_as_non_root_on_a_read_only_root_filesystem(variant):
    for w in workloads(objects(variant)):
        pod = pod_spec(w)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        for c in containers(w):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            mounts = {m["mountPath"] for m in c.get("volumeMounts") or []}
            assert "/tmp" in mounts, f"{c['name']}: a writable /tmp"


def test_the_pipeline_api_serves_the_probes_from_a_writable_cache(variant):
    sts = one(objects(variant), "StatefulSet", "helved-pipeline")
    main = container(sts, "pipeline")
    env = env_of(main)
    assert env["BYTEWAX_DATAFLOW_API_ENABLED"]["value"] == "true"
    port = int(env["BYTEWAX_DATAFLOW_API_PORT"]["value"])
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports["api"] == port
    probe = main["livenessProbe"]
    assert probe["httpGet"]["port"] == "api" and probe["httpGet"]["path"] == "/dataflow"
    # The API writes dataflow.json there at start and dies if it cannot.
    cache = env["BYTEWAX_DATAFLOW_API_CACHE_PATH"]["value"]
    assert cache in {m["mountPath"] for m in main["volumeMounts"]}


def test_the_pipeline_is_ready_when_it_has_resumed_and_polled(variant, tmp_path):
    """Readiness is helved's ready file (helved.kafka.progress; tests/ops/test_progress.py runs
    it in a real cluster), not Bytewax's API, which answers before the cluster has formed."""
    objs = objects(variant)
    sts = one(objs, "StatefulSet", "helved-pipeline")
    main = container(sts, "pipeline")
    ready_file = env_of(main)["HELVED_READY_FILE"]["value"]
    assert main["readinessProbe"]["exec"]["command"] == ["test", "-f", ready_file]
    assert "httpGet" not in main["readinessProbe"]
    # On a writable volume of the container (an emptyDir: it outlives a restart) ...
    mounts = {m["mountPath"]: m["name"] for m in main["volumeMounts"]}
    (mount,) = [path for path in mounts if ready_file.startswith(path.rstrip("/") + "/")]
    volumes = {v["name"]: v for v in pod_spec(sts)["volumes"]}
    assert "emptyDir" in volumes[mounts[mount]]
    # ... so the script removes the last life's file before Bytewax starts.
    stale = tmp_path / "ready"
    stale.write_text("ready\n")
    run_main_script(objs, "helved-pipeline-0", tmp_path, HELVED_READY_FILE=str(stale))
    assert not stale.exists()


def test_the_console_runs_as_written_behind_its_service(variant):
    objs = objects(variant)
    console = one(objs, "Deployment", "helved-console")
    (c,) = pod_spec(console)["containers"]
    args = parse_helved(expand(c, c["command"] + (c.get("args") or []), config(objs)))
    assert args.command == "console" and args.host == "0.0.0.0" and not args.sample
    # The DSN holds a password: from the Secret through HELVED_CONSOLE_DSN, never on the command line.
    assert args.dsn is None
    env = env_of(c)
    for name, key in (
        ("HELVED_CONSOLE_DSN", "dsn"),
        ("HELVED_CONSOLE_VIEWER_TOKEN", "viewer-token"),
        ("HELVED_CONSOLE_OPERATOR_TOKEN", "operator-token"),
    ):
        assert env[name]["valueFrom"] == {"secretKeyRef": {"name": CONSOLE_SECRET, "key": key}}, name
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["http"] == args.port
    for probe in (c["readinessProbe"], c["livenessProbe"]):
        assert probe["tcpSocket"]["port"] == "http"
    service = one(objs, "Service", "helved-console")
    assert selects(service["spec"]["selector"], console["spec"]["template"]["metadata"]["labels"])
    assert not selects(service["spec"]["selector"], one(objs, "StatefulSet")["spec"]["template"]["metadata"]["labels"])
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] in ("http", args.port)
    assert console["spec"]["replicas"] == 1  # sign-in sessions live in the process


def test_the_console_check_catches_a_dsn_on_the_command_line(variant):
    """The parse above sees flags: a `--dsn` would show up (and so would a flag that does not exist)."""
    objs = objects(variant)
    (c,) = pod_spec(one(objs, "Deployment", "helved-console"))["containers"]
    assert parse_helved([*c["command"], "--dsn", "postgresql://u:p@db/helved"]).dsn is not None
    with pytest.raises(DoesNotParse):
        parse_helved([*c["command"], "--listen", "0.0.0.0"])


# ---------------------------------------------------------------------------------------------
# The pipeline's cluster: recovery volume, replicas and addresses, disruption budget


def test_recovery_partitions_live_on_a_volume_claim_template(variant):
    objs = objects(variant)
    sts = one(objs, "StatefulSet", "helved-pipeline")
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    recovery_dir = config(objs)["HELVED_RECOVERY_DIR"]
    for name in ("init-recovery", "pipeline"):
        mounts = {m["mountPath"]: m["name"] for m in container(sts, name)["volumeMounts"]}
        assert mounts.get(recovery_dir) == claim["metadata"]["name"], f"{name} must mount the claim at {recovery_dir}"
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def test_replicas_and_the_address_list_agree(variant, tmp_path):
    objs = objects(variant)
    sts = one(objs, "StatefulSet", "helved-pipeline")
    service = one(objs, "Service", sts["spec"]["serviceName"])
    replicas = sts["spec"]["replicas"]
    main = container(sts, "pipeline")
    assert env_of(main)["HELVED_PROCESSES"]["value"] == str(replicas)
    assert env_of(main)["HELVED_PIPELINE_SERVICE"]["value"] == service["metadata"]["name"]
    worker_port = {p["name"]: p["containerPort"] for p in main["ports"]}["worker"]
    assert env_of(main)["BYTEWAX_PORT"]["value"] == str(worker_port)
    # A headless Service that publishes the peers before they are ready, over the pipeline pods.
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    assert selects(service["spec"]["selector"], sts["spec"]["template"]["metadata"]["labels"])
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]}["worker"] == worker_port
    assert sts["spec"]["podManagementPolicy"] == "Parallel"

    data = config(objs)
    name = sts["metadata"]["name"]
    expected = ";".join(
        f"{name}-{i}.{service['metadata']['name']}.helved-ns.svc.cluster.local:{worker_port}" for i in range(replicas)
    )
    for ordinal in range(replicas):
        args = run_main_script(objs, f"{name}-{ordinal}", tmp_path)
        assert args == [
            "-m",
            "bytewax.run",
            "dataflows.helved_flow:get_flow()",
            "-r",
            data["HELVED_RECOVERY_DIR"],
            "-s",
            data["HELVED_SNAPSHOT_S"],
            "-b",
            data["HELVED_BACKUP_S"],
            "-w",
            data["HELVED_WORKERS"],
            "-i",
            str(ordinal),
            "-a",
            expected,
        ]


def test_the_disruption_budget_selects_the_pipeline_pods(variant):
    objs = objects(variant)
    pdb = one(objs, "PodDisruptionBudget", "helved-pipeline")
    selector = pdb["spec"]["selector"]["matchLabels"]
    pipeline = one(objs, "StatefulSet", "helved-pipeline")
    bridge = one(objs, "Deployment", "helved-os-bridge")
    console = one(objs, "Deployment", "helved-console")
    assert selects(selector, pipeline["spec"]["template"]["metadata"]["labels"])
    assert not selects(selector, bridge["spec"]["template"]["metadata"]["labels"])
    assert not selects(selector, console["spec"]["template"]["metadata"]["labels"])
    assert pdb["spec"]["maxUnavailable"] == 1


def test_the_bridge_is_a_singleton_with_its_journal_on_a_volume(variant):
    objs = objects(variant)
    bridge = one(objs, "Deployment", "helved-os-bridge")
    assert bridge["spec"]["replicas"] == 1
    assert bridge["spec"]["strategy"] == {"type": "Recreate"}
    (c,) = pod_spec(bridge)["containers"]
    state_dir = env_of(c)["HELVED_OS_STATE_DIR"]["value"]
    # The bridge with the emulator as OS, its state (both journals) on the volume.
    args = build_parser().parse_args(expand(c, c["command"][1:] + (c.get("args") or [])))
    assert c["command"][0] == "helved" and args.command == "os-emulator"
    assert args.state_dir == state_dir
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(bridge)["volumes"]}
    assert volumes[mounts[state_dir]]["persistentVolumeClaim"]["claimName"] == "helved-os-bridge"


def test_the_test_cluster_runs_two_processes_over_plaintext():
    objs = render.render(VARIANTS["test-cluster"])
    assert one(objs, "StatefulSet")["spec"]["replicas"] == 2
    assert config(objs)["HELVED_SECURITY_PROTOCOL"] == "PLAINTEXT"
    for w in workloads(objs):
        for c in containers(w):
            assert not {"HELVED_SASL_USERNAME", "HELVED_SASL_PASSWORD"} & set(env_of(c))
    base = one(render.render(VARIANTS["base"]), "StatefulSet")
    assert container(one(objs, "StatefulSet"), "pipeline")["resources"] != container(base, "pipeline")["resources"]


# ---------------------------------------------------------------------------------------------
# Every command in k8s/ is one that exists: parsed with helved's own CLI parser (and Bytewax's)


_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(c: Obj, argv: list[str], configmap: dict[str, str] | None = None) -> list[str]:
    """`argv` with `$(VAR)` expanded as Kubernetes does, from the container's environment (its
    literal `env` and the ConfigMap); a reference to nothing fails the test."""
    env = dict(configmap or {}) | {e["name"]: e["value"] for e in c.get("env") or [] if "value" in e}

    def one(match: re.Match[str]) -> str:
        assert match.group(1) in env, f"{c['name']}: $({match.group(1)}) is not in the container's environment"
        return env[match.group(1)]

    return [_VAR.sub(one, a) for a in argv]


class DoesNotParse(AssertionError):
    pass


def parse_helved(argv: list[str]) -> Any:
    """`helved ARGV...` parsed by helved's own parser; DoesNotParse when argparse refuses it."""
    assert argv and argv[0] == "helved", argv
    try:
        return build_parser().parse_args(argv[1:])
    except SystemExit as exc:  # argparse reports unknown commands by exiting
        raise DoesNotParse(f"`{shlex.join(argv)}` does not parse (exit {exc.code})") from None


def parse_bytewax_run(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """`python -m bytewax.run ARGV...` parsed by bytewax.run's own parser (it reads sys.argv)."""
    from bytewax import run as bytewax_run

    assert argv[:2] == ["-m", "bytewax.run"], argv
    monkeypatch.setattr(sys, "argv", ["bytewax.run", *argv[2:]])
    try:
        return bytewax_run._parse_args()
    except SystemExit as exc:
        raise DoesNotParse(f"`python {shlex.join(argv)}` does not parse (exit {exc.code})") from None


_SCRIPT_HELVED = re.compile(r"^\s*(?:exec\s+)?(helved\s.*)$", re.M)


def helved_commands(objs: list[Obj]) -> list[tuple[str, list[str]]]:
    """Every `helved ...` command line in the workloads: each container's command + args, and
    each `helved` line of the shell scripts they run, `$(VAR)` expanded. Fails on a container
    that runs anything else than helved, a shell script, or python."""
    found: list[tuple[str, list[str]]] = []
    for w in objs:
        if w["kind"] == "CronJob":
            pod = w["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        elif w["kind"] in ("StatefulSet", "Deployment", "Job", "DaemonSet"):
            pod = pod_spec(w)
        else:
            continue
        for c in (pod.get("initContainers") or []) + pod["containers"]:
            argv = expand(c, (c.get("command") or []) + (c.get("args") or []), config(objs))
            assert argv, f"{c['name']}: no command (the image's entrypoint is not relied on)"
            where = f"{w['metadata']['name']}/{c['name']}"
            if argv[0] == "helved":
                found.append((where, argv))
            elif argv[:2] == ["/bin/sh", "-ec"]:
                found.extend((where, shlex.split(m.group(1))) for m in _SCRIPT_HELVED.finditer(argv[2]))
            else:
                raise AssertionError(f"{where}: runs {argv[0]!r}, neither helved nor a shell script")
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                command = ((c.get(probe) or {}).get("exec") or {}).get("command")
                if not command:
                    continue
                if command[0] == "helved":
                    found.append((f"{where} {probe}", command))
                elif command[0] == "test":
                    assert command[1] == "-f" and len(command) == 3, f"{where} {probe}: {command}"
                else:
                    assert command[:2] == ["python", "-c"], f"{where} {probe}: {command}"
                    compile(command[2], f"{where} {probe}", "exec")
    return found


def test_every_helved_command_in_k8s_parses_with_helveds_own_parser(variant):
    commands = helved_commands(objects(variant))
    wheres = {where for where, _ in commands}
    assert wheres >= {"helved-os-bridge/os-bridge", "helved-pipeline/check-topics", "helved-console/console"}
    # Every container of every pod-running object is looked at (CronJobs too).
    kinds = {o["kind"] for o in objects(variant)}
    if "CronJob" in kinds:
        assert any(w.startswith("helved-avstemming/") for w in wheres)
    for where, argv in commands:
        try:
            parse_helved(argv)
        except DoesNotParse as exc:
            raise AssertionError(f"{where}: {exc}") from None


def test_the_pipeline_runs_what_bytewax_run_accepts(variant, tmp_path, monkeypatch):
    objs = objects(variant)
    sts = one(objs, "StatefulSet", "helved-pipeline")
    for ordinal in range(sts["spec"]["replicas"]):
        args = parse_bytewax_run(run_main_script(objs, f"helved-pipeline-{ordinal}", tmp_path), monkeypatch)
        assert args.import_str == "dataflows.helved_flow:get_flow()" and args.process_id == ordinal
        assert args.recovery_directory == Path(config(objs)["HELVED_RECOVERY_DIR"])
        assert len(args.addresses.split(";")) == sts["spec"]["replicas"]


def test_the_command_check_catches_a_command_that_does_not_exist(monkeypatch):
    objs = render.render(VARIANTS["base"])
    bridge = one(objs, "Deployment", "helved-os-bridge")
    pod_spec(bridge)["containers"][0]["command"] = ["helved", "bridge"]
    with pytest.raises(DoesNotParse):
        for _, argv in helved_commands(objs):
            parse_helved(argv)
    with pytest.raises(DoesNotParse):
        parse_helved(["helved", "os-emulator", "--state", "/x", "--no-such-flag"])
    with pytest.raises(DoesNotParse):
        parse_bytewax_run(
            ["-m", "bytewax.run", "dataflows.helved_flow:get_flow()", "-r", "/x", "-s", "10"], monkeypatch
        )
    pod_spec(bridge)["containers"][0]["command"] = ["helved", "os-emulator", "--state-dir", "$(NOT_SET)"]
    with pytest.raises(AssertionError, match="NOT_SET"):
        helved_commands(objs)


# ---------------------------------------------------------------------------------------------
# The container scripts, run with sh


def _script(c: Obj) -> str:
    command = c["command"]
    assert command[:2] == ["/bin/sh", "-ec"] and len(command) == 3
    return command[2]


def _shim(directory: Path, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "python"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return directory


def _script_env(c: Obj, hostname: str, shims: Path, objs: list[Obj], **extra: str) -> dict[str, str]:
    """What the container's environment holds: the ConfigMap, its literal env, the pod."""
    env = {"PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}", "HOSTNAME": hostname}
    env |= config(objs)
    for e in c.get("env") or []:
        if "value" in e:
            env[e["name"]] = e["value"]
    env["POD_NAMESPACE"] = "helved-ns"
    return env | extra


def run_main_script(objs: list[Obj], hostname: str, tmp: Path, **extra: str) -> list[str]:
    """The pipeline container's script on pod `hostname`: the arguments it gives python."""
    sts = one(objs, "StatefulSet")
    main = container(sts, "pipeline")
    out = tmp / f"args-{hostname}"
    shims = _shim(tmp / "fake-bin", f'printf "%s\\n" "$@" > "{tmp}/args-$HOSTNAME"\n')
    result = subprocess.run(
        ["/bin/sh", "-ec", _script(main)],
        env=_script_env(main, hostname, shims, objs, **extra),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return out.read_text().splitlines()


@pytest.mark.parametrize(
    ("hostname", "extra", "message"),
    [
        ("helved-pipeline-3", {}, "set the StatefulSet's replicas and HELVED_PROCESSES together"),
        ("helved-pipeline", {}, "no pod ordinal"),
        ("helved-pipeline-0", {"HELVED_SNAPSHOT_S": "2.5"}, "whole numbers"),
    ],
)
def test_the_main_script_refuses_what_bytewax_would_misread(tmp_path, hostname, extra, message):
    objs = render.render(VARIANTS["base"])
    sts = one(objs, "StatefulSet")
    main = container(sts, "pipeline")
    shims = _shim(tmp_path / "fake-bin", "exit 0\n")
    result = subprocess.run(
        ["/bin/sh", "-ec", _script(main)],
        env=_script_env(main, hostname, shims, objs, **extra),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 64 and message in result.stderr


def _run_init(objs: list[Obj], hostname: str, directory: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    sts = one(objs, "StatefulSet")
    init = container(sts, "init-recovery")
    shims = _shim(tmp / "real-bin", f'exec "{sys.executable}" "$@"\n')
    env = _script_env(init, hostname, shims, objs, HELVED_RECOVERY_DIR=str(directory))
    return subprocess.run(
        ["/bin/sh", "-ec", _script(init)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_init_recovery_creates_the_partitions_once_on_pod_0(tmp_path):
    objs = render.render(VARIANTS["base"])
    parts = int(config(objs)["HELVED_RECOVERY_PARTS"])
    pod0 = tmp_path / "pod-0"
    (pod0 / "lost+found").mkdir(parents=True)  # a fresh ext4 volume
    first = _run_init(objs, "helved-pipeline-0", pod0, tmp_path)
    assert first.returncode == 0, first.stderr
    created = sorted(p.name for p in pod0.glob("part-*.sqlite3"))
    assert created == sorted(f"part-{i}.sqlite3" for i in range(parts))
    assert sorted(p.name for p in pod0.iterdir()) == sorted([*created, "lost+found"])
    stamps = {p.name: p.stat().st_mtime_ns for p in pod0.glob("part-*")}
    again = _run_init(objs, "helved-pipeline-0", pod0, tmp_path)
    assert again.returncode == 0 and "resumes" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in pod0.glob("part-*")} == stamps

    # Other pods never hold partitions: a copy on two volumes breaks resuming after a rescale.
    pod1 = tmp_path / "pod-1"
    pod1.mkdir()
    other = _run_init(objs, "helved-pipeline-1", pod1, tmp_path)
    assert other.returncode == 0 and list(pod1.iterdir()) == []

    # A volume with something else on it is left alone.
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "notes.txt").write_text("x")
    refused = _run_init(objs, "helved-pipeline-0", odd, tmp_path)
    assert refused.returncode == 1 and "refusing" in refused.stderr
    assert [p.name for p in odd.iterdir()] == ["notes.txt"]


# ---------------------------------------------------------------------------------------------
# The renderer itself


def test_strategic_merge_rules():
    base = {
        "spec": {
            "replicas": 3,
            "containers": [
                {
                    "name": "a",
                    "image": "x",
                    "args": ["1", "2"],
                    "env": [{"name": "K", "value": "1"}, {"name": "S", "value": "s"}],
                },
                {"name": "b", "image": "y"},
            ],
        }
    }
    patch = {
        "spec": {
            "replicas": 2,
            "containers": [
                {
                    "name": "a",
                    "args": ["3"],
                    "env": [
                        {"name": "K", "value": "2"},
                        {"name": "S", "$patch": "delete"},
                        {"name": "N", "value": "n"},
                    ],
                },
            ],
        }
    }
    merged = render.strategic_merge(base, patch)
    assert merged == {
        "spec": {
            "replicas": 2,
            "containers": [
                {
                    "name": "a",
                    "image": "x",
                    "args": ["3"],
                    "env": [{"name": "K", "value": "2"}, {"name": "N", "value": "n"}],
                },
                {"name": "b", "image": "y"},
            ],
        }
    }
    assert base["spec"]["replicas"] == 3  # inputs untouched
    assert render.strategic_merge({"a": 1, "b": 2}, {"b": None}) == {"a": 1}


def test_the_renderer_refuses_what_it_does_not_implement(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("configMapGenerator:\n  - name: x\n    literals: [A=1]\n")
    with pytest.raises(render.Unsupported):
        render.render(tmp_path)
