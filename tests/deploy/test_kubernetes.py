"""The Kubernetes manifests (deploy/k8s): every overlay, rendered the way kustomize does for the features it
uses, validates against the schemas of a current Kubernetes (kubernetes-validate, offline), and keeps the
rules the deployment promises: no root, read-only root filesystem, requests and limits, probes, secrets
only from Secrets, a persistent outbox per edge, a PDB and an HPA for the cloud."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

kubernetes_validate = pytest.importorskip("kubernetes_validate")

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
#: The newest Kubernetes whose schemas the installed kubernetes-validate ships.
VERSION = kubernetes_validate.utils.latest_version()


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge, the subset used here: maps merge key by key, lists of named maps merge by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list) and all(isinstance(i, dict) and "name" in i
                                                                  for i in base + patch):
        by_name = {item["name"]: item for item in base}
        merged = [_merge(by_name[i["name"]], i) if i["name"] in by_name else i for i in patch]
        return merged + [item for item in base if item["name"] not in {i["name"] for i in patch}]
    return copy.deepcopy(patch)


def render(folder: Path) -> list[dict[str, Any]]:
    """Render a kustomization (resources, namespace, images, replicas, patches)."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = (folder / resource).resolve()
        if path.is_dir():
            docs += render(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch_ref in kustomization.get("patches", []):
        patch = yaml.safe_load((folder / patch_ref["path"]).read_text())
        targets = [i for i, d in enumerate(docs)
                   if (d["kind"], d["metadata"]["name"]) == (patch["kind"], patch["metadata"]["name"])]
        assert len(targets) == 1, f"patch {patch_ref['path']} matches {len(targets)} resources"
        docs[targets[0]] = _merge(docs[targets[0]], patch)
    for item in kustomization.get("replicas", []):
        hits = [d for d in docs if d["metadata"]["name"] == item["name"] and "replicas" in d.get("spec", {})]
        assert hits, f"replicas: no workload {item['name']}"
        for doc in hits:
            doc["spec"]["replicas"] = item["count"]
    images = {i["name"]: i for i in kustomization.get("images", [])}
    for doc in docs:
        if "namespace" in kustomization:
            doc["metadata"]["namespace"] = kustomization["namespace"]
        for container in _containers(doc):
            image = images.get(container["image"])
            if image:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    return docs


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    pod = doc.get("spec", {}).get("template", {}).get("spec", {})
    return pod.get("containers", []) + pod.get("initContainers", [])


OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))


@pytest.mark.parametrize("folder", [K8S / "base", *OVERLAYS], ids=lambda p: p.name)
def test_every_resource_validates_against_the_kubernetes_schemas(folder: Path) -> None:
    docs = render(folder)
    assert {d["kind"] for d in docs} >= {"Deployment", "StatefulSet", "Service", "PodDisruptionBudget",
                                         "HorizontalPodAutoscaler"}
    for doc in docs:
        kubernetes_validate.validate(doc, VERSION, strict=True)  # raises with the field on any error


@pytest.mark.parametrize("folder", [K8S / "base", *OVERLAYS], ids=lambda p: p.name)
def test_workloads_run_unprivileged_with_budgets_and_probes(folder: Path) -> None:
    for doc in render(folder):
        if doc["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = doc["spec"]["template"]["spec"]
        name = doc["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in _containers(doc):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"], name
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"} == set(resources["limits"]), name
            assert "livenessProbe" in container, name
            for env in container.get("env", []):
                # secrets only by reference, never a literal value in a manifest
                secretish = any(word in env["name"] for word in ("TOKEN", "PASSWORD", "DB_URL", "SECRET"))
                assert not (secretish and "value" in env), f"{name}: {env['name']} must come from a Secret"


def test_cloud_scales_and_edges_keep_their_outbox() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in render(K8S / "overlays" / "production")}
    cloud = docs[("Deployment", "edgewatch-cloud")]
    assert cloud["spec"]["replicas"] == 3
    assert cloud["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "1536Mi"
    probe = cloud["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["httpGet"]["path"] == "/readyz"
    hpa = docs[("HorizontalPodAutoscaler", "edgewatch-cloud")]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "edgewatch-cloud" and hpa["spec"]["minReplicas"] == 3
    pdb = docs[("PodDisruptionBudget", "edgewatch-cloud")]
    assert pdb["spec"]["selector"]["matchLabels"] == cloud["spec"]["selector"]["matchLabels"]
    edge = docs[("StatefulSet", "edgewatch-edge")]
    assert edge["spec"]["replicas"] == 1  # one writer per outbox
    claim = edge["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
    mounts = {m["name"]: m["mountPath"] for m in edge["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    env = {e["name"]: e.get("value") for e in edge["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["EDGEWATCH_ALARM_DB"].startswith(mounts[claim] + "/")
    assert all(d["metadata"].get("namespace") == "edgewatch" for d in docs.values())
    assert cloud["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/edgewatch/cloud:0.1.0"
