# Decision-log masking for the LLM pack (OPA's data.system.log.mask): the prompt text of an LLM
# call is removed from every logged and uploaded decision input. tollgate's own masking applies on
# top (credentials by field name, secret patterns, and body text unless --log-decision-body), so
# these rules decide what is hidden even when an operator asks tollgate to keep body text.
#
# To log prompt text (still masked by tollgate's secret patterns), run with --log-decision-body and
# set data.gateway.logging.prompt_text to true.
package system.log

# Fields of the providers' request bodies that carry prompt text.
prompt_fields := {
	"messages", "prompt", "suffix", "input", "instructions", "system",
	"contents", "systemInstruction", "system_instruction",
}

keep_prompt_text if data.gateway.logging.prompt_text == true

llm_call if {
	input.input.llm
	not keep_prompt_text
}

mask contains "/input/llm/texts" if {
	llm_call
	input.input.llm.texts
}

mask contains "/input/attributes/request/http/body" if {
	llm_call
	input.input.attributes.request.http.body
}

mask contains "/input/attributes/request/http/rawBody" if {
	llm_call
	input.input.attributes.request.http.rawBody
}

mask contains sprintf("/input/parsed_body/%s", [field]) if {
	llm_call
	some field in prompt_fields
	input.input.parsed_body[field]
}
