# syntax=docker/dockerfile:1
# Images for tollgate and the mock LLM used by docker-compose.yml.
#   docker build -t tollgate .                     (default target: tollgate)
#   docker build --target mock-llm -t mock-llm .
# Checked by test/deploy/dockerfile.test.ts (stages, pins, COPY sources vs .dockerignore).

# Node.js 24 (LTS; package.json engines: 22 or newer), the release .ci/run fetches when the
# system node is older.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# tollgate compiles Rego to WebAssembly with the opa CLI at runtime (and on every policy
# edit), so the image carries the same opa release the tests use. CGO off gives a static
# binary that runs on the Debian-based node image.
FROM golang:1.26.8-alpine AS opa
ENV CGO_ENABLED=0
RUN go install -trimpath -ldflags="-s -w" github.com/open-policy-agent/opa@v1.22.3 \
 && /go/bin/opa version

# Full install (TypeScript is a dev dependency), compile, then drop dev dependencies.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p . \
 && npm prune --omit=dev --no-audit --no-fund

# The stand-in provider: one file, Node built-ins only.
FROM ${NODE_IMAGE} AS mock-llm
WORKDIR /app
COPY mock-llm/server.mjs ./mock-llm/server.mjs
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080
USER node
EXPOSE 8080
CMD ["node", "mock-llm/server.mjs"]

# Last stage = default target.
FROM ${NODE_IMAGE} AS tollgate
WORKDIR /app
ENV NODE_ENV=production \
    OPA_BIN=/usr/local/bin/opa \
    TOLLGATE_GRPC_ADDR=0.0.0.0:9191
COPY --from=opa /go/bin/opa /usr/local/bin/opa
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# src/ stays: the server reads non-code files from it at runtime (descriptors.binpb,
# capabilities.json), located relative to the package root.
COPY --from=build /app/src ./src
COPY bin ./bin
USER node
EXPOSE 9191
ENTRYPOINT ["node", "bin/tollgate.mjs"]
CMD ["serve", "--policies", "/policies"]
