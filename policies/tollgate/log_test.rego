package system.log_test

import data.system.log

llm_event := {"input": {
	"attributes": {"request": {"http": {"body": "{\"messages\":[]}"}}},
	"parsed_body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "system": "be brief"},
	"llm": {"provider": "openai", "texts": ["hi"]},
}}

test_prompt_text_masked_for_llm_calls if {
	log.mask == {
		"/input/llm/texts",
		"/input/attributes/request/http/body",
		"/input/parsed_body/messages",
		"/input/parsed_body/system",
	} with input as llm_event
}

test_model_and_other_fields_kept if {
	not "/input/parsed_body/model" in log.mask with input as llm_event
}

test_non_llm_requests_untouched if {
	count(log.mask) == 0 with input as {"input": {"parsed_body": {"messages": ["x"]}, "attributes": {"request": {"http": {"body": "x"}}}}}
}

test_operator_can_keep_prompt_text if {
	count(log.mask) == 0 with input as llm_event with data.gateway.logging.prompt_text as true
}
