#!/usr/bin/env bash
# Build, type-check, policy tests and the runtime-sensitive part of the suite under each supported
# Node.js line (package.json engines: 22 and 24), each fetched by scripts/fetch-node.sh. The part
# run is what changes between Node releases: V8 running the policy's WebAssembly, node:crypto under
# the policy built-ins, worker threads (opa is spawned from one), http/http2 (admin server, gRPC),
# cluster workers, TLS, the Redis client. Needs `npm ci` done and Redis on 127.0.0.1:6379, like
# `npm test`.
#   npm run test:node-versions                 that subset under 22, then 24
#   npm run test:node-versions -- test/chaos   other test paths instead
set -euo pipefail
cd "$(dirname "$0")/.."

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  tests=(test/policy test/bundle test/authz test/server test/admin test/cluster test/tls test/limits/redis-store.test.ts test/cli/cli.test.ts)
fi

for major in 22 24; do
  bin="$(scripts/fetch-node.sh "$major")"
  echo "== Node.js $("$bin/node" --version)"
  PATH="$bin:$PATH" npm run --silent build
  PATH="$bin:$PATH" npm run --silent typecheck
  PATH="$bin:$PATH" node scripts/opa.mjs test policies
  PATH="$bin:$PATH" npx vitest run "${tests[@]}"
done
