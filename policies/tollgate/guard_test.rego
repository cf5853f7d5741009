package tollgate.guard_test

import data.tollgate.fixture
import data.tollgate.guard

hits(text) := h if {
	h := guard.hits with input as {"llm": {"texts": [text]}} with data.gateway as fixture.gateway
}

test_patterns if {
	hits("-----BEGIN RSA PRIVATE KEY-----\nMIIB") == {"private_key"}
	hits("-----BEGIN PRIVATE KEY-----") == {"private_key"}
	hits("id AKIAIOSFODNN7EXAMPLE here") == {"aws_access_key"}
	hits("key=AIzaSyA1234567890abcdefghijklmnopqrstuv") == {"gcp_api_key"}
	hits("use sk-proj-abcdefghijklmnopqrstuvwxyz123456") == {"openai_api_key"}
	hits("ghp_abcdefghijklmnopqrstuvwxyz0123456789AB") == {"github_token"}
	hits("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig") == {"bearer_token"}
}

test_clean_text_passes if {
	count(hits("Please summarise the quarterly report about skiing.")) == 0
}

test_anthropic_key_also_matches_generic_sk if {
	hits("sk-ant-api03-abcdefghijklmnopqrstuvwxyz") == {"anthropic_api_key", "openai_api_key"}
}

test_precomputed_hits_are_used_as_given if {
	h := guard.hits with input as {"llm": {"texts": ["AKIAIOSFODNN7EXAMPLE"], "guard_hits": []}} with data.gateway as fixture.gateway
	count(h) == 0
	h2 := guard.hits with input as {"llm": {"texts": [], "guard_hits": ["private_key"]}} with data.gateway as fixture.gateway
	h2 == {"private_key"}
}
