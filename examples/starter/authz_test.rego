package envoy.authz_test

import data.envoy.authz

# Test-only signing key; its public half is data.starter.jwks. Never use it outside tests.
signing_key := {"kty": "EC", "x": "LJkykX4hI0GYFsOSJG5IXoeVLFbNI0Sm8k5KIzTFNgk", "y": "9kwvSQPo31KGqbuQ1QjiZ-3OSJ-H_XWKwS2TIcQgyuU", "crv": "P-256", "d": "QPrWDKcCY4-wjSqf2ZjaH42YTYQSzHCt4ajy7gG5Wyc", "kid": "starter-demo", "alg": "ES256"}

token(claims) := io.jwt.encode_sign({"alg": "ES256", "kid": "starter-demo"}, claims, signing_key)

claims(roles) := {"iss": "https://auth.example.com", "aud": "tollgate", "sub": "alice", "roles": roles, "exp": 4102444800}

request(method, path, headers) := {
	"attributes": {"request": {"http": {"method": method, "path": path, "headers": headers}}},
	"parsed_path": split(trim_left(split(path, "?")[0], "/"), "/"),
}

bearer(c) := {"authorization": concat(" ", ["Bearer", token(c)])}

test_health_probe_needs_no_token if {
	authz.allow with input as request("GET", "/healthz", {})
}

test_no_token_is_denied if {
	not authz.allow with input as request("GET", "/v1/models", {})
}

test_reader_lists_models if {
	authz.allow with input as request("GET", "/v1/models", bearer(claims(["reader"])))
}

test_reader_cannot_post if {
	not authz.allow with input as request("POST", "/v1/chat/completions", bearer(claims(["reader"])))
}

test_writer_posts if {
	authz.allow with input as request("POST", "/v1/chat/completions", bearer(claims(["writer"])))
}

test_admin_route_needs_admin if {
	not authz.allow with input as request("GET", "/admin/users", bearer(claims(["writer"])))
	authz.allow with input as request("GET", "/admin/users", bearer(claims(["admin"])))
}

test_double_slash_cannot_bypass if {
	not authz.allow with input as request("GET", "//admin/users", bearer(claims(["writer"])))
}

test_wrong_issuer_is_denied if {
	not authz.allow with input as request("GET", "/v1/models", bearer(object.union(claims(["admin"]), {"iss": "https://evil.example.com"})))
}

test_expired_token_is_denied if {
	not authz.allow with input as request("GET", "/v1/models", bearer(object.union(claims(["admin"]), {"exp": 1000})))
}
