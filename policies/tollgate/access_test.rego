package tollgate.access_test

import data.tollgate.access
import data.tollgate.fixture

headers := {"authorization": concat(" ", ["Bearer", fixture.key])}

# input.llm without model_roles: the policy matches the role's globs with glob.match.
allowed(model) if {
	access.model_allowed with input as {"attributes": {"request": {"http": {"headers": headers}}}, "llm": {"model": model}}
		with data.gateway as fixture.gateway
}

# input.llm with model_roles, as tollgate sends it: the policy reads the matches from it.
allowed_given(model, roles) if {
	access.model_allowed with input as {"attributes": {"request": {"http": {"headers": headers}}}, "llm": {"model": model, "model_roles": roles}}
		with data.gateway as fixture.gateway
}

test_globs_matched_by_the_policy if {
	allowed("gpt-4o-mini")
	allowed("claude-3-5-haiku-20241022")
	allowed("claude-3-5-haiku")
	not allowed("gpt-4o")
	not allowed("claude-3-5-haiku/latest") # "*" stops at "/"
	not allowed("x-gpt-4o-mini")
	not allowed(null)
}

test_model_roles_decide_when_given if {
	allowed_given("gpt-4o", ["tester"])
	allowed_given("anything", ["other", "tester"])
	not allowed_given("gpt-4o-mini", [])
	not allowed_given("gpt-4o-mini", ["other"])
	not allowed_given(null, ["tester"])
}

test_role_name if {
	n := access.role_name with input as {"attributes": {"request": {"http": {"headers": headers}}}} with data.gateway as fixture.gateway
	n == "tester"
}
