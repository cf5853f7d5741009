# Prompt guard: deny-listed patterns applied to the message text tollgate extracts into
# input.llm.texts. Only pattern names leave this package, never the matched text.
#
# tollgate matches data.gateway.guard's patterns itself (same RE2 syntax, compiled once per
# revision) and passes the names in input.llm.guard_hits; regex.match here is the fallback for
# inputs without it, such as opa test and opa-envoy-plugin.
package tollgate.guard

patterns := array.concat(data.gateway.guard.patterns, data.gateway.guard.extra_patterns)

hits contains name if {
	some name in input.llm.guard_hits
}

hits contains p.name if {
	not input.llm.guard_hits
	some p in patterns
	some text in input.llm.texts
	regex.match(p.pattern, text)
}
