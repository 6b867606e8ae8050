"""The signed policy bundle, served read-only for OPA to pull: ``GET /v1/policy/bundle.tar.gz``.

What is served is exactly the bundle the gateway verified at start (``gateway/policy/provenance.py``),
byte for byte as the policy owner signed it; OPA verifies the signature again with the owner's public
key before activating it, so neither this route nor whoever runs the gateway can change the policy OPA
decides with. No token: a bundle is policy, not secrets. ``ETag`` is the revision, so OPA's polling
(``If-None-Match``) costs a 304.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .deps import ContextDep
from .errors import NotFound
from .policy.signed import VerifiedBundle

__all__ = ["BUNDLE_PATH", "router"]

BUNDLE_PATH = "/v1/policy/bundle.tar.gz"

router = APIRouter(tags=["policy"])


@router.get(BUNDLE_PATH, response_class=Response, responses={
    200: {"content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}}},
    304: {"description": "Not modified: the bundle's revision is the ``If-None-Match`` tag"}})
def policy_bundle(request: Request, ctx: ContextDep) -> Response:
    """The verified signed policy bundle (OPA's bundle format, ``.signatures.json`` inside)."""
    signed = ctx.extras.get("signed_policy")
    if not isinstance(signed, VerifiedBundle):
        raise NotFound("policy_bundle_not_served", "This gateway serves no signed policy bundle.")
    etag = f'"{signed.revision}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(signed.raw, media_type="application/gzip", headers=headers)
