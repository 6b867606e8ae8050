"""deploy/k8s: the compose file's shape for Kubernetes, validated offline against the API schemas
(kubernetes-validate) and checked to say what docker-compose.yml says."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30"


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend((path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [doc for _, doc in _documents() if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}"
    return found[0]


@pytest.mark.parametrize(("file", "doc"), _documents(), ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_every_manifest_is_valid_against_the_kubernetes_schema(file: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    broken = copy.deepcopy(_one("Deployment", "gateway"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_two_gateway_replicas_with_probes_and_secrets_from_a_kubernetes_secret() -> None:
    gateway = _one("Deployment", "gateway")
    assert gateway["spec"]["replicas"] == 2
    pod = gateway["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    secret_volumes = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert secret_volumes == {"secrets": "gateway-secrets"} and mounts["secrets"] == "/run/secrets"
    for _, doc in _documents():  # no secret value anywhere in the manifests
        assert doc["kind"] != "Secret"


def test_the_migration_is_a_job_with_the_compose_command() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    job = _one("Job", "gateway-migrate")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == compose["services"]["migrate"]["command"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_the_gateway_settings_are_the_compose_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    config = _one("ConfigMap", "gateway-config")["data"]
    environment = {k: str(v) for k, v in compose["x-gateway"]["environment"].items()}
    # Only the proxy's address differs: a pod network instead of the compose network's fixed address.
    assert set(config) == set(environment)
    assert {k: v for k, v in config.items() if k != "GATEWAY_TRUSTED_PROXIES"} == \
        {k: v for k, v in environment.items() if k != "GATEWAY_TRUSTED_PROXIES"}
    container = _one("Deployment", "gateway")["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == compose["x-gateway"]["command"]


def test_the_tls_proxy_runs_deploy_caddyfile_verbatim() -> None:
    caddyfile = _one("ConfigMap", "caddyfile")["data"]["Caddyfile"]
    assert caddyfile == (ROOT / "deploy" / "Caddyfile").read_text()


def test_the_migration_runs_as_the_owner_and_the_replicas_as_their_own_role() -> None:
    """As docker-compose.yml: the Job's database URL is the owner's, the replicas' URL is handed to it as the
    runtime URL (whose role it makes a member of gateway_app), and the replicas get only their own URL."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    migrate = {s["target"]: s["source"] for s in compose["services"]["migrate"]["secrets"]}
    assert migrate == {"gateway_database_url": "gateway_owner_database_url",
                       "gateway_runtime_database_url": "gateway_database_url"}
    assert "--runtime-url-file" in compose["services"]["migrate"]["command"]
    assert "gateway_owner_database_url" not in compose["x-gateway"]["secrets"]
    job = _one("Job", "gateway-migrate")["spec"]["template"]["spec"]
    items = {i["path"]: i["key"] for v in job["volumes"] if "secret" in v for i in v["secret"]["items"]}
    assert items == migrate
    pod = _one("Deployment", "gateway")["spec"]["template"]["spec"]
    keys = {i["key"] for v in pod["volumes"] if "secret" in v for i in v["secret"]["items"]}
    assert "gateway_database_url" in keys and "gateway_owner_database_url" not in keys


def test_opa_runs_with_the_compose_authentication_and_only_the_gateway_may_reach_it() -> None:
    """As docker-compose.yml: token authentication and deploy/opa/authz.rego verbatim; and a NetworkPolicy
    that admits only the gateway's pods (a review found any pod could query or write to OPA)."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["opa"]["command"]
    args = _one("Deployment", "opa")["spec"]["template"]["spec"]["containers"][0]["args"]
    for flag in ("--authentication=token", "--authorization=basic"):
        assert flag in compose and flag in args
    assert "/authz/authz.rego" in args
    assert _one("ConfigMap", "opa-authz")["data"]["authz.rego"] == (ROOT / "deploy" / "opa" / "authz.rego").read_text()
    policy = _one("NetworkPolicy", "opa-only-from-gateway")["spec"]
    assert policy["podSelector"]["matchLabels"] == {"app": "opa"}
    gateway_labels = _one("Deployment", "gateway")["spec"]["template"]["metadata"]["labels"]
    assert [f["podSelector"]["matchLabels"] for f in policy["ingress"][0]["from"]] == [{"app": gateway_labels["app"]}]
