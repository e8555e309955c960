"""Render a Kustomize directory without the kustomize binary: the subset helved's manifests use.

    python k8s/render.py k8s/overlays/test-cluster            # YAML on stdout
    python k8s/render.py k8s/base | kubectl apply -f - --dry-run=server

`kubectl apply -k` (or `kustomize build`) remains the way to deploy; this renderer exists so
that CI can check the manifests where kustomize cannot be installed (tests/test_k8s_manifests.py).
It supports these kustomization fields, in kustomize's order:

- `resources`: YAML files (several documents each) and directories holding a kustomization;
- `patches`: strategic merge patches, from `path:` or inline `patch:`, aimed at the object the
  patch names (`kind` + `metadata.name`) or at `target: {kind, name}`;
- `commonLabels`: added to every object's labels, to label selectors and to pod and volume
  claim templates (as kustomize does, so selectors change too: set them once, before the first
  deployment, since a StatefulSet's selector is immutable);
- `namespace`: set on every namespaced object;
- `images`: `name` -> `newName` / `newTag` / `digest` on containers and init containers.

Strategic merge: maps merge recursively, `null` deletes a key, lists of named things merge by
their key (containers and env by `name`, volume mounts by `mountPath`, ports by `containerPort`
or `port`), an item `{"$patch": "delete", name: ...}` removes one, and every other list is
replaced. Any other kustomization field raises `Unsupported`: extend this file, or keep the
kustomization simple.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = frozenset({"apiVersion", "kind", "resources", "patches", "commonLabels", "namespace", "images"})

# List fields merged item by item, and the key that identifies an item.
MERGE_KEYS = {
    "containers": ("name",),
    "initContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "imagePullSecrets": ("name",),
    "ports": ("containerPort", "port"),
}

CLUSTER_SCOPED = frozenset(
    {
        "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
        "PersistentVolume", "StorageClass", "PriorityClass", "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)

WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})


class Unsupported(ValueError):
    """A kustomization uses something this renderer does not implement."""


def render(directory: str | Path) -> list[dict[str, Any]]:
    """The objects `kustomize build directory` would produce (for the supported subset)."""
    directory = Path(directory)
    kustomization = _load_kustomization(directory)
    objects: list[dict[str, Any]] = []
    for entry in kustomization.get("resources") or []:
        path = directory / entry
        if path.is_dir():
            objects.extend(render(path))
        elif path.is_file():
            objects.extend(_load_documents(path))
        else:
            raise FileNotFoundError(f"{directory}/kustomization.yaml: resource {entry} does not exist")
    _check_unique(objects, directory)
    for patch in kustomization.get("patches") or []:
        _apply_patch(objects, patch, directory)
    if kustomization.get("commonLabels"):
        for obj in objects:
            _add_labels(obj, kustomization["commonLabels"])
    if kustomization.get("namespace"):
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images") or []:
        for obj in objects:
            _set_image(obj, image)
    return objects


def _load_kustomization(directory: Path) -> dict[str, Any]:
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{directory} holds no kustomization.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(data) - SUPPORTED
    if unknown:
        raise Unsupported(f"{path}: k8s/render.py does not implement {sorted(unknown)}")
    return data


def _load_documents(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    for d in docs:
        if not isinstance(d, dict) or "kind" not in d or "metadata" not in d:
            raise ValueError(f"{path}: every document must be a Kubernetes object")
    return docs


def _ident(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def _check_unique(objects: list[dict[str, Any]], directory: Path) -> None:
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        ident = _ident(obj)
        if ident in seen:
            raise ValueError(f"{directory}: {ident[0]} {ident[1]} is defined twice")
        seen.add(ident)


def _apply_patch(objects: list[dict[str, Any]], entry: dict[str, Any], directory: Path) -> None:
    if set(entry) - {"path", "patch", "target"}:
        raise Unsupported(f"{directory}: patch fields {sorted(set(entry) - {'path', 'patch', 'target'})}")
    if "path" in entry:
        patch = yaml.safe_load((directory / entry["path"]).read_text(encoding="utf-8"))
    elif "patch" in entry:
        patch = yaml.safe_load(entry["patch"])
    else:
        raise Unsupported(f"{directory}: a patch needs `path` or `patch`")
    if not isinstance(patch, dict) or "op" in patch:
        raise Unsupported(f"{directory}: only strategic merge patches are supported (no JSON 6902)")
    target = entry.get("target") or {}
    if set(target) - {"kind", "name"}:
        raise Unsupported(f"{directory}: patch targets by {sorted(set(target) - {'kind', 'name'})}")
    kind = target.get("kind", patch.get("kind"))
    name = target.get("name", (patch.get("metadata") or {}).get("name"))
    matches = [o for o in objects if _ident(o) == (kind, name)]
    if len(matches) != 1:
        raise ValueError(f"{directory}: patch {entry} matches {len(matches)} objects, not one")
    merged = strategic_merge(matches[0], patch)
    matches[0].clear()
    matches[0].update(merged)


def strategic_merge(base: Any, patch: Any, field: str = "") -> Any:
    """`patch` applied to `base` (both left unchanged) with the rules of the module docstring."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = strategic_merge(out[key], value, key)
            else:
                out[key] = _strip_directives(copy.deepcopy(value))
        return out
    if isinstance(base, list) and isinstance(patch, list) and field in MERGE_KEYS:
        return _merge_list(base, patch, MERGE_KEYS[field], field)
    return _strip_directives(copy.deepcopy(patch))


def _item_key(item: Any, keys: tuple[str, ...]) -> tuple[str, Any] | None:
    if isinstance(item, dict):
        for k in keys:
            if k in item:
                return k, item[k]
    return None


def _merge_list(base: list[Any], patch: list[Any], keys: tuple[str, ...], field: str) -> list[Any]:
    out = copy.deepcopy(base)
    for item in patch:
        key = _item_key(item, keys)
        if key is None:
            raise Unsupported(f"a patch item of `{field}` has none of the merge keys {keys}: {item}")
        index = next((i for i, existing in enumerate(out) if _item_key(existing, keys) == key), None)
        if isinstance(item, dict) and item.get("$patch") == "delete":
            if index is not None:
                del out[index]
            continue
        if index is None:
            out.append(_strip_directives(copy.deepcopy(item)))
        else:
            out[index] = strategic_merge(out[index], item)
    return out


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        if "$patch" in value:
            raise Unsupported(f"patch directive {value['$patch']!r} where nothing is merged")
        return {k: _strip_directives(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _add_labels(obj: dict[str, Any], labels: dict[str, str]) -> None:
    obj["metadata"].setdefault("labels", {}).update(labels)
    spec = obj.get("spec") or {}
    kind = obj["kind"]
    if kind == "Service" and "selector" in spec:
        spec["selector"].update(labels)
    if (kind in WORKLOADS or kind == "PodDisruptionBudget") and kind != "Job":
        spec.setdefault("selector", {}).setdefault("matchLabels", {}).update(labels)
    if kind in WORKLOADS:
        template = spec.setdefault("template", {})
        template.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    if kind == "StatefulSet":
        for claim in spec.get("volumeClaimTemplates") or []:
            claim.setdefault("metadata", {}).setdefault("labels", {}).update(labels)


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj["kind"] in WORKLOADS:
        return obj["spec"]["template"]["spec"]
    if obj["kind"] == "Pod":
        return obj["spec"]
    return None


def _set_image(obj: dict[str, Any], image: dict[str, str]) -> None:
    pod = _pod_spec(obj)
    if pod is None:
        return
    for container in (pod.get("initContainers") or []) + (pod.get("containers") or []):
        current = container.get("image", "")
        name, tag = _split_image(current)
        if name != image["name"]:
            continue
        new_name = image.get("newName", name)
        if "digest" in image:
            container["image"] = f"{new_name}@{image['digest']}"
        else:
            new_tag = image.get("newTag", tag)
            container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def _split_image(image: str) -> tuple[str, str | None]:
    if "@" in image:
        return image.split("@", 1)[0], None
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = image.rsplit(":", 1)
        return name, tag
    return image, None


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python k8s/render.py DIRECTORY", file=sys.stderr)
        return 2
    yaml.safe_dump_all(render(argv[0]), sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
