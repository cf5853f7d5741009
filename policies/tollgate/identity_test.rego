package tollgate.identity_test

import data.tollgate.fixture
import data.tollgate.identity

# Test-only signing key; its public half is given to the policy below. Never use it elsewhere.
signing_key := {"kty": "EC", "x": "LJkykX4hI0GYFsOSJG5IXoeVLFbNI0Sm8k5KIzTFNgk", "y": "9kwvSQPo31KGqbuQ1QjiZ-3OSJ-H_XWKwS2TIcQgyuU", "crv": "P-256", "d": "QPrWDKcCY4-wjSqf2ZjaH42YTYQSzHCt4ajy7gG5Wyc", "kid": "starter-demo", "alg": "ES256"}

jwt_cfg := {"enabled": true, "jwks": "{\"keys\": [{\"kty\": \"EC\", \"x\": \"LJkykX4hI0GYFsOSJG5IXoeVLFbNI0Sm8k5KIzTFNgk\", \"y\": \"9kwvSQPo31KGqbuQ1QjiZ-3OSJ-H_XWKwS2TIcQgyuU\", \"crv\": \"P-256\", \"kid\": \"starter-demo\", \"alg\": \"ES256\", \"use\": \"sig\"}]}", "issuer": "https://auth.example.com", "audience": "tollgate", "tenant_claim": "tenant"}

token(claims) := io.jwt.encode_sign({"alg": "ES256", "kid": "starter-demo"}, claims, signing_key)

claims(tenant) := {"iss": "https://auth.example.com", "aud": "tollgate", "tenant": tenant, "exp": 4102444800}

req(headers) := {"attributes": {"request": {"http": {"headers": headers}}}, "parsed_query": {}}

test_key_hash_identifies_tenant if {
	identity.tenant == "fixture-co" with input as req({"authorization": concat(" ", ["Bearer", fixture.key])}) with data.gateway as fixture.gateway
}

test_each_sdk_header if {
	identity.tenant == "fixture-co" with input as req({"x-api-key": fixture.key}) with data.gateway as fixture.gateway
	identity.tenant == "fixture-co" with input as req({"api-key": fixture.key}) with data.gateway as fixture.gateway
	identity.tenant == "fixture-co" with input as req({"x-goog-api-key": fixture.key}) with data.gateway as fixture.gateway
	identity.tenant == "fixture-co" with input as object.union(req({}), {"parsed_query": {"key": [fixture.key]}}) with data.gateway as fixture.gateway
}

test_unknown_key_has_no_tenant if {
	not identity.tenant with input as req({"authorization": "Bearer nope"}) with data.gateway as fixture.gateway
}

test_jwt_bearer_identifies_tenant if {
	identity.tenant == "fixture-co" with input as req({"authorization": concat(" ", ["Bearer", token(claims("fixture-co"))])}) with data.gateway as fixture.with_changes({"jwt": jwt_cfg})
}

test_jwt_for_unknown_tenant_rejected if {
	not identity.tenant with input as req({"authorization": concat(" ", ["Bearer", token(claims("globex"))])}) with data.gateway as fixture.with_changes({"jwt": jwt_cfg})
}

test_jwt_ignored_when_disabled if {
	not identity.tenant with input as req({"authorization": concat(" ", ["Bearer", token(claims("fixture-co"))])}) with data.gateway as fixture.gateway
}

test_jwt_wrong_audience_rejected if {
	c := object.union(claims("fixture-co"), {"aud": "other"})
	not identity.tenant with input as req({"authorization": concat(" ", ["Bearer", token(c)])}) with data.gateway as fixture.with_changes({"jwt": jwt_cfg})
}
