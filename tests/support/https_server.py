"""A real HTTPS endpoint on 127.0.0.1 for webhook tests: a throwaway CA, uvicorn with TLS, recorded requests.

It behaves like an agency's receiving endpoint: it answers 2xx, or fails the first N pushes
with 503 to exercise retries.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.live_server import serve


def make_ca_and_cert(directory: Path) -> tuple[Path, Path, Path]:
    """Return (ca.pem, cert.pem, key.pem) for 127.0.0.1, valid for a day."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = (directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@dataclass
class Receiver:
    url: str
    ca_file: Path
    fail_first: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    calls: int = 0


@contextmanager
def https_receiver(directory: Path, *, fail_first: int = 0) -> Iterator[Receiver]:
    ca, cert, key = make_ca_and_cert(directory)
    receiver = Receiver(url="", ca_file=ca, fail_first=fail_first)

    async def hook(request: Request) -> JSONResponse:
        receiver.calls += 1
        if receiver.calls <= receiver.fail_first:
            return JSONResponse({"error": "busy"}, status_code=503)
        receiver.received.append(({k.lower(): v for k, v in request.headers.items()}, await request.body()))
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    with serve(app, scheme="https", ssl_certfile=str(cert), ssl_keyfile=str(key)) as base:
        receiver.url = f"{base}/hook"
        yield receiver
