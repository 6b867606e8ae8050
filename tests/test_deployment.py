"""docker-compose.yml describes the production shape; no Docker engine runs here, so check its structure."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def test_services_and_images() -> None:
    services = _compose()["services"]
    assert {"tls", "gateway-1", "gateway-2", "postgres", "opa"} <= set(services)
    assert services["opa"]["image"].startswith("openpolicyagent/opa:")
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["gateway-1"]["image"] == services["gateway-2"]["image"]


def test_opa_runs_a_server_with_the_project_policies_mounted() -> None:
    opa = _compose()["services"]["opa"]
    assert opa["command"][:2] == ["run", "--server"]
    mounts = [v.split(":") for v in opa["volumes"]]
    host_paths = [ROOT / m[0] for m in mounts]
    assert any(p.resolve() == (ROOT / "policies").resolve() for p in host_paths)
    assert all(p.exists() for p in host_paths), "a mounted policy path does not exist"
    gateway_env = _compose()["services"]["gateway-1"]["environment"]
    assert gateway_env["GATEWAY_POLICY_ENGINE"] == "opa"
    assert gateway_env["GATEWAY_OPA_URL"] == "http://opa:8181"


def test_every_long_running_service_has_a_health_check() -> None:
    for name, service in _compose()["services"].items():
        if name == "migrate":
            continue
        assert "healthcheck" in service and service["healthcheck"].get("test"), f"{name} lacks a health check"


def test_no_secret_is_inline() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        env = service.get("environment", {})
        for key, value in env.items():
            if re.search(r"(?i)password|secret|key|token|database_url", key):
                assert str(value).startswith("/run/secrets"), f"{name}.{key} is set inline"
        assert not re.search(r"postgres(ql)?://\S+:\S+@", str(env)), f"{name} has credentials in a URL"
    for secret in _compose()["secrets"].values():
        assert secret["file"].startswith("./deploy/secrets/")


def test_replicas_are_production_mode_behind_tls() -> None:
    services = _compose()["services"]
    for replica in ("gateway-1", "gateway-2"):
        env = services[replica]["environment"]
        assert env["GATEWAY_ENV"] == "production"
        assert env["GATEWAY_ISSUER"].startswith("https://")
        assert "ports" not in services[replica], "replicas are reachable only through the TLS proxy"
    assert services["tls"]["ports"] == ["443:443"]
    caddy = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "gateway-1:8000" in caddy and "gateway-2:8000" in caddy
    assert (ROOT / "Dockerfile").exists()
