# Telepathine: `make demo` runs a live cluster, `make test` runs every test.
# Each target installs what it lacks (Go modules; Debian packages when run as
# root), so a fresh machine needs nothing typed first.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO          ?= go
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
CAPNP_STD    = $(shell $(GO) list -m -f '{{.Dir}}' capnproto.org/go/capnp/v3)/std
BENCHTIME   ?= 1s

.PHONY: help
help:
	@echo "make demo      run a live demo cluster on this machine"
	@echo "make test      run every test (generation drift, lint, race, fuzz seeds)"
	@echo "make bench     run the benchmarks"
	@echo "make generate  regenerate gen/ from schema/"
	@echo "make lint      go vet + staticcheck"

# ---------------------------------------------------------------- set-up

# apt-install PKG BINARY: install a Debian package when its binary is missing
# and we are root; otherwise say what is missing.
define apt-install
	@if ! command -v $(2) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo ">> installing $(1)"; \
	    (apt-get install -y --no-install-recommends $(1) >/dev/null 2>&1 || \
	     (apt-get update >/dev/null && apt-get install -y --no-install-recommends $(1) >/dev/null)); \
	  else echo "missing $(2): install the Debian package $(1)"; exit 1; fi; \
	fi
endef

.PHONY: deps deps-go deps-capnp
deps: deps-go

deps-go:
	@$(GO) mod download

deps-capnp:
	$(call apt-install,capnproto,capnp)

# ---------------------------------------------------------------- generation

.PHONY: generate check-generate
generate: deps-go deps-capnp
	capnp compile -I "$(CAPNP_STD)" -o"$$($(GO) tool -n capnpc-go):gen/wire" \
	  --src-prefix=schema/capnp schema/capnp/*.capnp

# Regenerate into the work tree and fail if anything changed: gen/ must be
# exactly what the schema produces.
check-generate: generate
	@if [ -n "$$(git status --porcelain -- gen)" ]; then \
	  git status --short -- gen; git diff --stat -- gen; \
	  echo "gen/ drifted from schema/: run 'make generate' and commit"; exit 1; \
	fi
	@echo "gen/ matches schema/"

# ---------------------------------------------------------------- checks

.PHONY: lint vet
vet:
	$(GO) vet ./...

lint: vet
	$(STATICCHECK) ./...

.PHONY: test test-go
test: check-generate lint test-go

# The race detector on everything; fuzz targets run their committed seed
# corpora as ordinary tests.
test-go: deps-go
	$(GO) test -race -count=1 ./...

.PHONY: bench
bench: deps-go
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./engine/...

# ---------------------------------------------------------------- demo

.PHONY: demo
demo: deps-go
	$(GO) run ./cmd/telepathine demo
