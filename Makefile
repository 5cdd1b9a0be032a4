# Rapport's tasks. `make help` lists them; `make run` and `make test` are all a
# newcomer needs. PostgreSQL is found or started by scripts/pg.sh.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO      ?= go
BIN     := bin/rapport
SECRET  := .tmp/dev-secret
# `make run` writes the address the server actually listens on here, so that
# `make tokens` (in another shell) prints examples for that address.
ADDR_FILE := .tmp/addr
# (A failing $(...) aborts a recipe only in a plain assignment, never inside
# export: hence VAR=$(...); export VAR below.)
# Go files we own: everything but dependencies and local state.
GOFILES = $(shell find . \( -path ./.git -o -path ./.pgdata -o -path ./.tmp -o -path ./bin \
	-o -name node_modules \) -prune -o -name '*.go' -print)

.PHONY: help
help: ## List the tasks
	@echo "Usage: make <task>"
	@echo
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | \
		awk 'BEGIN {FS = ":.*## "} {printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2}'
	@echo
	@echo "PostgreSQL: DATABASE_URL (TEST_DATABASE_URL for tests) if set, else 127.0.0.1:5432,"
	@echo "else a private cluster in .pgdata/ on port 54329 (see scripts/pg.sh help)."

.PHONY: build
build: ## Build bin/rapport
	$(GO) build -o $(BIN) ./cmd/rapport

$(SECRET):
	@mkdir -p $(dir $@)
	@umask 077; if command -v openssl >/dev/null 2>&1; then openssl rand -hex 32; \
		else head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; echo; fi > $@
	@echo "made a development HMAC secret in $@"

.PHONY: run
run: build $(SECRET) ## Run the server on :8080 with demo data (seeded on first run) and print tokens
	@DATABASE_URL="$$(scripts/pg.sh --db rapport)"; export DATABASE_URL; \
	export RAPPORT_JWT_HMAC_SECRET="$$(cat $(SECRET))"; \
	export RAPPORT_ADDR="$${RAPPORT_ADDR:-:8080}"; \
	echo "Starting Rapport: GraphiQL will be at http://localhost:$${RAPPORT_ADDR##*:}/graphql"; \
	rm -f $(ADDR_FILE); \
	exec $(BIN) serve --seed-demo --addr-file $(ADDR_FILE)

.PHONY: tokens
tokens: build $(SECRET) ## Print fresh demo tokens and a curl example for the running `make run`
	@addr="$${RAPPORT_ADDR:-}"; \
	if [[ -z $$addr && -s $(ADDR_FILE) ]]; then addr="$$(cat $(ADDR_FILE))"; fi; \
	RAPPORT_ADDR="$$addr" RAPPORT_JWT_HMAC_SECRET="$$(cat $(SECRET))" $(BIN) token --demo

# What `make test` runs, in order; .ci/run times each one.
TEST_STEPS := fmt vet staticcheck check-generate test-go

.PHONY: test
test: $(TEST_STEPS) ## Everything CI checks: format, vet, staticcheck, generated code, tests

.PHONY: test-steps
test-steps:
	@echo $(TEST_STEPS)

.PHONY: lint
lint: fmt vet staticcheck ## gofmt, go vet and staticcheck

.PHONY: fmt
fmt: ## Fail if any Go file is not gofmt-formatted
	@echo "gofmt -l"
	@out="$$(gofmt -l $(GOFILES) </dev/null)"; if [[ -n $$out ]]; then \
		echo "these files need gofmt -w:"; echo "$$out"; exit 1; fi

.PHONY: vet
vet: ## go vet ./...
	$(GO) vet ./...

.PHONY: staticcheck
staticcheck: ## staticcheck ./... (pinned in go.mod as a tool)
	$(GO) tool staticcheck ./...

.PHONY: generate
generate: ## Regenerate code: gqlgen from schema.graphql and gqlgen.yml (go:generate in graph/resolver.go)
	$(GO) generate ./...

.PHONY: check-generate
check-generate: ## Fail if regenerating gqlgen code would change anything
	scripts/check-generate.sh

.PHONY: test-go
test-go: ## go test -race against real PostgreSQL
	@TEST_DATABASE_URL="$$(scripts/pg.sh --test)"; export TEST_DATABASE_URL; \
	echo "TEST_DATABASE_URL=$$TEST_DATABASE_URL go test -race -count=1 ./..."; \
	$(GO) test -race -count=1 ./...

.PHONY: bench
bench: ## Run the benchmarks against real PostgreSQL, one package at a time (each prints its baseline and ratio)
	@if [[ ! -d bench/postgraphile/node_modules ]]; then npm ci --prefix bench/postgraphile --no-audit --no-fund; fi
	@TEST_DATABASE_URL="$$(scripts/pg.sh --test)"; export TEST_DATABASE_URL; \
	$(GO) test -p 1 -run '^$$' -bench . -benchmem -timeout 30m ./...

.PHONY: soak
soak: ## The randomized sync test at full size: 50 devices, about 10,000 changes, lossy network, stale replays, a restart
	@TEST_DATABASE_URL="$$(scripts/pg.sh --test)"; export TEST_DATABASE_URL; \
	$(GO) test -count=1 -run '^TestJepsen$$' -v -timeout 30m ./sync/jepsen -jepsen.devices=50 -jepsen.rounds=140

.PHONY: db-url
db-url: ## Print the database URL scripts/pg.sh would use
	@scripts/pg.sh

.PHONY: db-stop
db-stop: ## Stop the private PostgreSQL cluster (never a system server)
	@scripts/pg.sh stop

.PHONY: clean
clean: ## Remove bin/ (keeps .pgdata and the dev secret)
	rm -rf bin
