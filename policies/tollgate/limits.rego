# Per-tenant limits, declared for tollgate to apply in one Redis round trip after evaluation.
# Partitioned by tenant: on Redis Cluster each tenant's counters share a slot and tenants spread over the nodes.
package tollgate.limits

import data.tollgate.access
import data.tollgate.identity

tenant := identity.tenant

configured := data.gateway.tenants[tenant].limits

failure_mode := object.get(configured, "failure_mode", "allow")

# Token limits are charged at admission with what the request may use (access.reserved_tokens),
# then corrected to what it used: reconcile asks tollgate's ext_proc server to do that at the end of
# the response, and stream_stop lets it end a stream that crosses the limit. A tenant's
# "stream_stop": false keeps its streams running to the end (still reconciled).
stream_stop := object.get(configured, "stream_stop", true)

default may_stop(_) := false

may_stop(spec) if {
	spec.tokens
	stream_stop
}

declared := [l |
	some spec in specs
	configured[spec.field]
	l := {
		"name": spec.field,
		"key": sprintf("tenant:%s:%s", [tenant, spec.field]),
		"limit": configured[spec.field],
		"unit": spec.unit,
		"cost": spec.cost,
		"failure_mode": failure_mode,
		"reconcile": spec.tokens,
		"stream_stop": may_stop(spec),
		"partition": tenant,
	}
]

specs := [
	{"field": "requests_per_minute", "unit": "minute", "cost": 1, "tokens": false},
	{"field": "tokens_per_minute", "unit": "minute", "cost": access.reserved_tokens, "tokens": true},
	{"field": "tokens_per_day", "unit": "day", "cost": access.reserved_tokens, "tokens": true},
]
