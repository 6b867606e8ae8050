# OPA's own authorisation policy (opa run --authentication=token --authorization=basic):
# only the gateway, presenting its token, may read or change anything, health included.
# The token lives in a secret file loaded as data: {"gateway_authz": {"token": "<token>"}},
# and the gateway reads the same token from /run/secrets/gateway_opa_token.
package system.authz

import rego.v1

default allow := false

allow if {
	input.identity == data.gateway_authz.token
}
