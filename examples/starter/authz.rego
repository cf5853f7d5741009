# Starter policy: deny by default, let health probes through, and grant routes by JWT role.
# Tokens are verified against the JWKS in data.starter (policies/data.json).
package envoy.authz

default allow := false

http := input.attributes.request.http

# parsed_path is already split and percent-decoded, so "//admin" cannot dodge the rules below.
path := concat("/", ["", concat("/", input.parsed_path)])

allow if {
	http.method == "GET"
	path in data.starter.health_paths
}

allow if {
	some route in data.starter.routes
	http.method in route.methods
	glob.match(route.path, ["/"], path)
	some role in claims.roles
	role in route.roles
}

bearer_token := t if {
	auth := http.headers.authorization
	startswith(auth, "Bearer ")
	t := substring(auth, count("Bearer "), -1)
}

claims := payload if {
	[valid, _, payload] := io.jwt.decode_verify(bearer_token, {
		"cert": data.starter.jwks,
		"iss": data.starter.issuer,
		"aud": data.starter.audience,
	})
	valid
}
