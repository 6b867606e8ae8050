"""Debian's Caddy as a reverse proxy on loopback, in front of a gateway served by uvicorn.

Caddy sets ``X-Forwarded-For`` to the address it saw and drops what the client wrote (no
``trusted_proxies`` in this Caddyfile, as in ``deploy/Caddyfile``): every visitor reaches the
gateway from Caddy's address. That is the shape in which a per-address counter closed the
portal for everyone, so the throttling tests run through it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CADDY = shutil.which("caddy") or "/usr/bin/caddy"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def caddy_in_front(upstream: str, workdir: Path, *, timeout_s: float = 15.0) -> Iterator[str]:
    """Yield Caddy's base URL (plain HTTP on 127.0.0.1) while it proxies to ``upstream``."""
    port = _free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "Caddyfile"
    config.write_text(
        "{\n\tadmin off\n\tauto_https off\n}\n"
        f"http://127.0.0.1:{port} {{\n\treverse_proxy {upstream.removeprefix('http://')}\n"
        "\tlog {\n\t\toutput discard\n\t}\n}\n")
    env = {**os.environ, "HOME": str(workdir), "XDG_DATA_HOME": str(workdir / "data"),
           "XDG_CONFIG_HOME": str(workdir / "config")}
    log = workdir / "caddy.log"
    with log.open("wb") as out:
        process = subprocess.Popen([CADDY, "run", "--config", str(config), "--adapter", "caddyfile"],
                                   env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError("caddy exited: " + log.read_text()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("caddy did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
