# Where the request goes and with which credential. The policy only names a secret reference
# (env:NAME or file:/path); tollgate substitutes the value after evaluation.
package tollgate.upstream

import data.tollgate.identity

provider := input.llm.provider

tenant_cfg := data.gateway.tenants[identity.tenant]

name := tenant_cfg.upstream if is_string(tenant_cfg.upstream)

else := provider

config := data.gateway.upstreams[name]

credential := config.credential if is_string(config.credential)

# Each provider's own auth header, with the secret reference in place of the secret.
secret_headers := {"authorization": sprintf("Bearer ${%s}", [credential])} if {
	provider in {"openai", "mistral", "ollama"}
} else := {"api-key": sprintf("${%s}", [credential])} if {
	provider == "azure_openai"
} else := {"x-api-key": sprintf("${%s}", [credential])} if {
	provider == "anthropic"
} else := {"x-goog-api-key": sprintf("${%s}", [credential])} if {
	provider == "gemini"
}

headers_to_inject := secret_headers if credential

else := {}

plain_headers["anthropic-version"] := "2023-06-01" if {
	provider == "anthropic"
	not input.attributes.request.http.headers["anthropic-version"]
}

# Client credentials never travel upstream; a header tollgate sets is overwritten instead.
client_key_headers := {"authorization", "x-api-key", "api-key", "x-goog-api-key"}

remove_headers := [h |
	some h in client_key_headers
	input.attributes.request.http.headers[h]
	not headers_to_inject[h]
]

remove_query := ["key"] if input.parsed_query.key

else := []
