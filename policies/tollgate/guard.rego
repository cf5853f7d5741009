# Prompt guard: deny-listed patterns applied to the message text tollgate extracts into
# input.llm.texts. Only pattern names leave this package, never the matched text.
package tollgate.guard

patterns := array.concat(data.gateway.guard.patterns, data.gateway.guard.extra_patterns)

hits contains p.name if {
	some p in patterns
	some text in input.llm.texts
	regex.match(p.pattern, text)
}
