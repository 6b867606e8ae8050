"""docker-compose.yml's production shape, run for real on loopback addresses.

No Docker engine runs here, so each service is started as the process it would run: Debian's
``caddy`` with ``deploy/Caddyfile`` (its internal CA terminates TLS on 127.0.0.2), two
``gateway serve`` replicas (127.0.0.3, 127.0.0.4) started with the compose file's own command and
environment, the ``migrate`` service's command, a throwaway PostgreSQL cluster, and the
OPA-compatible server (real OPA evaluation) with OPA's bundle plugin: it pulls the signed policy bundle
from the replica ``deploy/opa/config.yaml`` names and verifies it with the policy owner's public key.

One source of settings: the replicas' environment is the compose file's ``x-gateway``
environment, and Caddy's upstreams are the Caddyfile's own default, with only host names, paths
and the proxy's address translated to this machine (:func:`gateway_environment` fails if the
compose file grows a host name it does not know how to translate). Agencies reach the gateway
only through Caddy, over HTTPS, verifying Caddy's CA, from 127.0.0.5 (so the gateway can tell a
real client address from Caddy's, which is 127.0.0.1: the kernel's source address on loopback).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy.engine import make_url

from crypto.keys import generate_signing_seed, save_signing_seed
from gateway.keyring import KeyRing
from gateway.policy.bundle import PolicyBundle
from gateway.policy.signed import build_signed_bundle, generate_signing_key

from .postgres import restart as restart_postgres

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
CADDYFILE = ROOT / "deploy" / "Caddyfile"

SITE_NAME = "gateway.test"
"""The public host name (not an address: Authlib treats any loopback address as secure transport,
which would hide a proxy that forwards https as http). Agencies connect to it on PROXY_HOST."""
PROXY_HOST = "127.0.0.2"
REPLICA_HOSTS = {"gateway-1": "127.0.0.3", "gateway-2": "127.0.0.4"}
OPA_HOST = "127.0.0.6"
AGENCY_HOST = "127.0.0.5"
"""Where the agencies' (and the portal visitor's) connections come from."""
PROXY_SOURCE = "127.0.0.1"
"""Where Caddy's connections to the replicas come from (loopback's source address)."""


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text()))


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def gateway_environment(*, issuer: str, opa_url: str, data_dir: Path, secrets_dir: Path) -> dict[str, str]:
    """The compose file's gateway environment, translated to this machine."""
    spec = compose()
    proxy_address = spec["services"]["tls"]["networks"]["backend"]["ipv4_address"]
    translate = {
        "https://gateway.example.org": issuer,
        "http://opa:8181": opa_url,
        "/run/secrets": str(secrets_dir),
        "/var/lib/gateway": str(data_dir),
        proxy_address: PROXY_SOURCE,
    }
    env: dict[str, str] = {}
    for name, value in spec["x-gateway"]["environment"].items():
        text = str(value)
        for compose_value, here in translate.items():
            text = text.replace(compose_value, here)
        if re.search(r"example\.org|\bopa:|\bpostgres:|\bgateway-\d|172\.(28|30)\.", text):
            raise AssertionError(f"{name}={value} names a compose host that tests/support/topology.py cannot map")
        env[name] = text
    return env


def caddy_upstreams(replicas: dict[str, str]) -> str:
    """The Caddyfile's default upstreams (``gateway-1:8000 gateway-2:8000``) with each replica's address here."""
    found = re.search(r"\{\$GATEWAY_UPSTREAMS:([^}]*)\}", CADDYFILE.read_text())
    assert found, "deploy/Caddyfile must name its upstreams as {$GATEWAY_UPSTREAMS:...}"
    upstreams = []
    for upstream in found.group(1).split():
        name = upstream.rsplit(":", 1)[0]
        upstreams.append(replicas[name])
    return " ".join(upstreams)


RUNTIME_ROLE = "gateway_runtime"
"""The replicas' login role (a member of gateway_app), named in their database URL secret."""


def service_secrets(service: str, sources: dict[str, bytes], into: Path) -> Path:
    """A compose service's secrets as Docker mounts them (``/run/secrets/<target>``), from the compose file's
    own list (``x-gateway``'s, unless the service names its own): each file is ``sources[<source>]``. A secret
    the topology does not provide is left out (the OPA token: the OPA server runs without authentication
    here)."""
    spec = compose()
    entries = spec["services"][service].get("secrets") or spec["x-gateway"]["secrets"]
    into.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        source, target = (entry, entry) if isinstance(entry, str) else (entry["source"], entry.get("target",
                                                                                                 entry["source"]))
        assert source in spec["secrets"], f"{service} names an undeclared secret {source}"
        if source in sources:
            (into / target).write_bytes(sources[source])
            (into / target).chmod(0o600)
    return into


def _command(argv: list[str]) -> list[str]:
    assert argv[0] == "gateway"
    return [sys.executable, "-c", "from gateway.cli import main; main()", *argv[1:]]


class ProxyTransport(httpx.HTTPTransport):
    """Resolves SITE_NAME to PROXY_HOST (no DNS here) and keeps the name for SNI and certificate checks."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == SITE_NAME:  # a copy: cookies stay bound to the name
            request = httpx.Request(request.method, request.url.copy_with(host=PROXY_HOST), headers=request.headers,
                                    stream=request.stream,
                                    extensions={**request.extensions, "sni_hostname": SITE_NAME})
        return super().handle_request(request)


def agency_transport(ca_file: Path) -> httpx.HTTPTransport:
    """An agency's connection: verifies Caddy's CA, comes from the agency address."""
    return ProxyTransport(verify=ssl.create_default_context(cafile=str(ca_file)), local_address=AGENCY_HOST)


@dataclass
class Replica:
    name: str
    host: str
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    kills: int = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 120.0) -> None:
        argv = [str(a) for a in compose()["services"][self.name].get("command")
                or compose()["x-gateway"]["command"]]
        argv = [self.host if a == "0.0.0.0" else str(self.port) if a == "8000" else a for a in argv]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(_command(argv), env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: " + self.log.read_text()[-3000:])
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not become ready: " + self.log.read_text()[-3000:])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_OPA_MAIN = ("import signal, sys\n"
             "from pathlib import Path\n"
             "from tests.support.opa_bundles import BundleConfig, BundlePlugin\n"
             "from tests.support.opa_server import OpaServer\n"
             "server = OpaServer(host=sys.argv[1], port=int(sys.argv[2])).start()\n"
             "if len(sys.argv) > 3:  # OPA's bundle plugin: pull the signed bundle, as deploy/opa/config.yaml says\n"
             "    BundlePlugin(server.store, BundleConfig(url=sys.argv[3], key_pem=Path(sys.argv[4]).read_text(),\n"
             "                                            key_id=sys.argv[5])).start(0.2)\n"
             "signal.sigwait({signal.SIGTERM})\n")


def opa_bundle_source(replicas: dict[str, str], key_file: Path) -> list[str]:
    """deploy/opa/config.yaml's bundle source (service URL + resource, key id), with the replica it names here,
    as the OPA process's extra arguments."""
    config = yaml.safe_load((ROOT / "deploy" / "opa" / "config.yaml").read_text())
    bundle = config["bundles"]["gateway"]
    service = config["services"][bundle["service"]]["url"]
    host = re.fullmatch(r"http://(gateway-\d):8000", service)
    assert host, f"deploy/opa/config.yaml names a bundle service tests/support/topology.py cannot map: {service}"
    key_id = bundle["signing"]["keyid"]
    assert config["keys"][key_id]["algorithm"] == "ES256"
    return [f"http://{replicas[host.group(1)]}{bundle['resource']}", str(key_file), key_id]


class OpaProcess:
    """The OPA-compatible server in its own process (as the compose file's ``opa`` service), on a fixed port."""

    def __init__(self, host: str, port: int, log: Path, bundle_source: list[str] | None = None) -> None:
        self.host, self.port, self.log = host, port, log
        self.bundle_source = bundle_source or []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # inherited: sigwait receives it
        try:
            with self.log.open("ab") as out:
                self.proc = subprocess.Popen([sys.executable, "-c", _OPA_MAIN, self.host, str(self.port),
                                              *self.bundle_source],
                                             cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the OPA server exited: " + self.log.read_text()[-2000:])
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the OPA server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@dataclass
class Topology:
    url: str
    """Caddy's HTTPS address: the only one agencies use."""
    ca_file: Path
    database_url: str
    env: dict[str, str]
    replicas: list[Replica]
    opa: OpaProcess
    caddy: subprocess.Popen[bytes]
    faults: list[str] = field(default_factory=list)

    def transport(self) -> httpx.HTTPTransport:
        return agency_transport(self.ca_file)

    def stop_opa(self) -> None:
        self.opa.stop()
        self.faults.append("opa stopped")

    def start_opa(self) -> None:
        self.opa.start()
        self.faults.append("opa started")

    def restart_postgres(self) -> None:
        restart_postgres(self.database_url)
        self.faults.append("postgresql restarted")

    def logs(self) -> str:
        return "\n".join(f"--- {r.name}\n{r.log.read_text()[-3000:]}" for r in self.replicas if r.log.exists())


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _wait_for_proxy(url: str, ca_file: Path, caddy: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        if caddy.poll() is not None:
            raise RuntimeError("caddy exited: " + log.read_text()[-3000:])
        if ca_file.exists():
            try:
                with httpx.Client(transport=agency_transport(ca_file), timeout=2.0) as client:
                    response = client.get(f"{url}/readyz")
                if response.status_code == 200:
                    return
                last = response.status_code
            except (httpx.TransportError, ssl.SSLError) as exc:
                last = exc
        time.sleep(0.1)
    raise RuntimeError(f"caddy did not serve the gateway over https: {last!r}\n" + log.read_text()[-3000:])


@contextmanager
def production_shape(database_url: str, work: Path, signing_seed: bytes) -> Iterator[Topology]:
    """Start OPA, migrate, two replicas and Caddy as docker-compose.yml would; stop them all after."""
    caddy_bin = shutil.which("caddy")
    if caddy_bin is None:
        raise RuntimeError("caddy not found: install Debian's caddy package (./dev test does)")
    sources_dir, secrets_dir, migrate_secrets_dir = work / "secret-sources", work / "secrets", work / "secrets-migrate"
    data_dir, caddy_dir = work / "data", work / "caddy"
    for d in (sources_dir, data_dir, caddy_dir):
        d.mkdir(parents=True, exist_ok=True)
    # The compose file's secrets (its top-level names), then each service's as Docker would mount them: the
    # migration gets the owner's URL, the replicas their own login role's (made by the migration).
    owner_url = make_url(_libpq(database_url))
    runtime_url = owner_url.set(username=RUNTIME_ROLE, password=secrets.token_urlsafe(16))
    save_signing_seed(sources_dir / "gateway_signing_key", signing_seed)
    save_signing_seed(sources_dir / "gateway_checkpoint_key", generate_signing_seed())  # as `gateway init` makes
    KeyRing.generate(sources_dir / "gateway_keyring").save()
    # The policy owner signs the bundle on their own machine; the stack gets the bundle and the public key.
    policy_owner = generate_signing_key()
    sources = {
        "policy_bundle": build_signed_bundle(PolicyBundle.load(), policy_owner),
        "policy_verification_key": policy_owner.as_pem(private=False),
        "gateway_owner_database_url": owner_url.render_as_string(hide_password=False).encode(),
        "gateway_database_url": runtime_url.render_as_string(hide_password=False).encode(),
        **{name: (sources_dir / name).read_bytes()
           for name in ("gateway_signing_key", "gateway_checkpoint_key", "gateway_keyring")},
    }
    service_secrets("gateway-1", sources, secrets_dir)
    service_secrets("migrate", sources, migrate_secrets_dir)
    proxy_port = _free_port(PROXY_HOST)
    url = f"https://{SITE_NAME}:{proxy_port}"
    opa_port = _free_port(OPA_HOST)
    env = {**os.environ, **gateway_environment(issuer=url, opa_url=f"http://{OPA_HOST}:{opa_port}",
                                                data_dir=data_dir, secrets_dir=secrets_dir)}
    env.pop("GATEWAY_DATABASE_URL", None)  # from the secret file, as in compose
    # The OPA stub compiles every module with real OPA through Python bindings on each upload (real OPA is
    # faster); on a busy test machine one upload can take much longer than the production timeout of half a
    # second. Readiness never waits for a publication (gateway/policy/readiness.py), so this bounds only how
    # long one call to OPA may take.
    env["GATEWAY_OPA_TIMEOUT_S"] = "30"
    replicas = [Replica(name, host, _free_port(host), env, work / f"{name}.log")
                for name, host in REPLICA_HOSTS.items()]
    bundle_source = opa_bundle_source({r.name: f"{r.host}:{r.port}" for r in replicas},
                                      secrets_dir / "policy_verification_key")
    with ExitStack() as stack:
        opa = OpaProcess(OPA_HOST, opa_port, work / "opa.log", bundle_source)
        stack.callback(opa.stop)
        opa.start()
        migrate = [str(a).replace("/run/secrets", str(migrate_secrets_dir))
                   for a in compose()["services"]["migrate"]["command"]]
        migrate_env = {**env, "GATEWAY_SECRETS_DIR": str(migrate_secrets_dir)}
        done = subprocess.run(_command(migrate), env=migrate_env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        for replica in replicas:
            stack.callback(replica.stop)
            replica.start()
        caddy_env = {
            **os.environ,
            "XDG_DATA_HOME": str(caddy_dir), "XDG_CONFIG_HOME": str(caddy_dir), "HOME": str(caddy_dir),
            "GATEWAY_SITE": url,
            "GATEWAY_UPSTREAMS": caddy_upstreams({r.name: f"{r.host}:{r.port}" for r in replicas}),
            "GATEWAY_CADDY_STORAGE": f"storage file_system {caddy_dir / 'data'}",
            "GATEWAY_CADDY_BIND": f"default_bind {PROXY_HOST}",
            "GATEWAY_CADDY_TLS": "tls internal",
            "GATEWAY_CADDY_HEALTH_INTERVAL": "1s",
        }
        caddy_log = work / "caddy.log"
        with caddy_log.open("ab") as out:
            caddy = subprocess.Popen([caddy_bin, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
                                     env=caddy_env, stdout=out, stderr=subprocess.STDOUT)

        def stop_caddy() -> None:
            caddy.terminate()
            try:
                caddy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                caddy.kill()
                caddy.wait()

        stack.callback(stop_caddy)
        ca_file = caddy_dir / "data" / "pki" / "authorities" / "local" / "root.crt"
        _wait_for_proxy(url, ca_file, caddy, caddy_log)
        yield Topology(url=url, ca_file=ca_file, database_url=database_url, env=env, replicas=replicas, opa=opa,
                       caddy=caddy)
