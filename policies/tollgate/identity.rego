# Who is calling: a client API key (stored only as a SHA-256 hash in data.gateway.tenants)
# or, when data.gateway.jwt.enabled, a JWT bearer verified against the JWKS in data.
package tollgate.identity

headers := input.attributes.request.http.headers

bearer := t if {
	auth := headers.authorization
	lower(substring(auth, 0, 7)) == "bearer "
	t := trim_space(substring(auth, 7, -1))
}

looks_like_jwt(t) if count(split(t, ".")) == 3

# The header each provider's SDK sends its key in; the first one present wins.
client_key := bearer if {
	not looks_like_jwt(bearer)
} else := headers["x-api-key"] if {
	headers["x-api-key"]
} else := headers["api-key"] if {
	headers["api-key"]
} else := headers["x-goog-api-key"] if {
	headers["x-goog-api-key"]
} else := input.parsed_query.key[0] if {
	input.parsed_query.key[0]
}

presented if client_key
presented if jwt_claims

key_tenant := id if {
	digest := crypto.sha256(client_key)
	some id, tenant in data.gateway.tenants
	digest in tenant.api_key_sha256
}

jwt_claims := claims if {
	data.gateway.jwt.enabled
	looks_like_jwt(bearer)
	[valid, _, claims] := io.jwt.decode_verify(bearer, {
		"cert": data.gateway.jwt.jwks,
		"iss": data.gateway.jwt.issuer,
		"aud": data.gateway.jwt.audience,
	})
	valid
}

jwt_tenant := id if {
	id := jwt_claims[data.gateway.jwt.tenant_claim]
	data.gateway.tenants[id]
}

tenant := key_tenant if key_tenant

else := jwt_tenant

role := data.gateway.roles[data.gateway.tenants[tenant].role]
