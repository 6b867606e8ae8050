# OPA's own authorisation policy (opa run --authentication=token --authorization=basic):
# only the gateway, presenting its token, may use OPA, and only to read and to ask for decisions
# (GET, and POST queries): policy arrives only as the signed bundle OPA pulls, never through the API.
# The token lives in a secret file loaded as data: {"gateway_authz": {"token": "<token>"}},
# and the gateway reads the same token from /run/secrets/gateway_opa_token.
package system.authz

import rego.v1

default allow := false

allow if {
	input.identity == data.gateway_authz.token
	input.method in {"GET", "POST"}
}
