# Per-tenant limits, declared for tollgate to apply in one Redis round trip after evaluation.
package tollgate.limits

import data.tollgate.access
import data.tollgate.identity

tenant := identity.tenant

configured := data.gateway.tenants[tenant].limits

failure_mode := object.get(configured, "failure_mode", "allow")

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
	}
]

specs := [
	{"field": "requests_per_minute", "unit": "minute", "cost": 1},
	{"field": "tokens_per_minute", "unit": "minute", "cost": access.reserved_tokens},
	{"field": "tokens_per_day", "unit": "day", "cost": access.reserved_tokens},
]
