"""A throwaway PostgreSQL cluster for the test session: initdb + pg_ctl on a free port.

Used when ``GATEWAY_TEST_POSTGRES_URL`` is not set. The server refuses to run as root, so
as root the cluster is owned by and run as the ``postgres`` user.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg


def _bindir() -> Path:
    for version in ("17", "16", "15", "14"):
        candidate = Path(f"/usr/lib/postgresql/{version}/bin")
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError(
        "PostgreSQL server binaries not found: install Debian's postgresql package "
        "(./dev test and .ci/run do), or set GATEWAY_TEST_POSTGRES_URL."
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


_CLUSTERS: dict[str, tuple[Path, Path, str, Path]] = {}
"""URL -> (bindir, datadir, server options, root) of each running throwaway cluster."""


def restart(url: str) -> None:
    """Restart the throwaway cluster behind ``url`` (fast shutdown: connections are cut, as in a failover)."""
    bindir, datadir, opts, root = _CLUSTERS[url]
    subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(datadir), "-o", opts, "-l", str(root / "log"),
                              "-m", "fast", "-w", "restart"]), check=True, capture_output=True)


def stop(url: str) -> None:
    """Stop the throwaway cluster behind ``url`` (fast shutdown: every connection is cut) until :func:`start`."""
    bindir, datadir, _opts, _root = _CLUSTERS[url]
    subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "stop"]),
                   check=True, capture_output=True)


def start(url: str) -> None:
    """Start the throwaway cluster behind ``url`` again after :func:`stop`."""
    bindir, datadir, opts, root = _CLUSTERS[url]
    subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(datadir), "-o", opts, "-l", str(root / "log"),
                              "-w", "start"]), check=True, capture_output=True)


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a cluster, create database ``gateway_test``, yield its URL, then remove everything."""
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="gw-pg-"))
    datadir = root / "data"
    port = _free_port()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    root.chmod(0o755)
    subprocess.run(
        _as_owner([str(bindir / "initdb"), "-D", str(datadir), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                   "--no-sync"]),
        check=True, capture_output=True,
    )
    # fsync stays on: durability is part of what the crash tests check.
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=100"
    subprocess.run(
        _as_owner([str(bindir / "pg_ctl"), "-D", str(datadir), "-o", opts, "-l", str(root / "log"), "-w",
                   "start"]),
        check=True, capture_output=True,
    )
    try:
        admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 20
        while True:
            try:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute("CREATE DATABASE gateway_test")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/gateway_test"
        _CLUSTERS[url] = (bindir, datadir, opts, root)
        yield url
    finally:
        subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
