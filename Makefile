# zkd build and test entry points.  `make` with no target prints the list.

GO        ?= go
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0-dev)
LDFLAGS   := -X main.version=$(VERSION)
TAGS      ?= invariants
TIMEOUT   ?= 40m
FUZZTIME  ?= 10s
SHARED    ?= ../shared

.DEFAULT_GOAL := help
.PHONY: help build run deps test race lint fuzz bench bench-compare conformance difftest clean
.PHONY: chaos

help:
	@echo 'make              # prints this list'
	@echo 'make build        # go build -trimpath -o bin/zkd . (VERSION=$(VERSION))'
	@echo 'make run          # build, then ./bin/zkd: standalone on 127.0.0.1:2181, data in ./zkd-data'
	@echo 'make deps         # scripts/deps.sh: Debian ZooKeeper, kazoo, Curator, JDK; go mod download'
	@echo 'make test         # deps, then go test -p 1 -tags $(TAGS) -count=1 -timeout $(TIMEOUT) ./...'
	@echo 'make race         # go test -race -tags $(TAGS) -count=1 ./...'
	@echo 'make lint         # gofmt -l . (must be empty), go vet ./...'
	@echo 'make fuzz         # each Fuzz target: go test -run=^$$ -fuzz=^FuzzX$$ -fuzztime=$(FUZZTIME) ./pkg'
	@echo 'make bench        # go test -run=^$$ -bench=. -benchmem ./...'
	@echo 'make bench-compare # bin/zkd vs Apache ZooKeeper 3.8 side by side: $(BENCH_WORKLOADS) (BENCH_FLAGS=...)'
	@echo 'make conformance  # bin/zkd on a free loopback port + $(SHARED)/conformance/smoke-all.sh'
	@echo 'make difftest     # zkd vs Apache ZooKeeper 3.8 on $(DIFFTEST_SEEDS) seeded random op sequences (DIFFTEST_SEEDS=N)'
	@echo 'make clean        # rm -rf bin (never touches ./zkd-data)'
	@echo 'make chaos        # linearizability campaign on a 3-server $(CHAOS_CLUSTER) ensemble under faults: $(CHAOS_SEEDS) seeds x $(CHAOS_DURATION) (CHAOS_CLUSTER=zookeeper|zkd)'

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/zkd .

run: build
	./bin/zkd

deps:
	scripts/deps.sh

# -p 1: the real-client suites each run JVMs and servers; one package at a time
# keeps a 2-core machine from starving them (the whole run stays under ~6 min).
test: deps
	$(GO) test -p 1 -tags '$(TAGS)' -count=1 -timeout $(TIMEOUT) ./...

race:
	$(GO) test -race -tags '$(TAGS)' -count=1 -timeout $(TIMEOUT) ./...

lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt -l: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Each Fuzz target runs on its own: `go test -fuzz` takes one target in one package.
fuzz:
	@set -e; found=0; \
	for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
	  pkg=./$$(dirname "$${f#./}"); \
	  for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$f"); do \
	    found=1; \
	    echo "$(GO) test -run='^\$$' -fuzz='^$$name\$$' -fuzztime=$(FUZZTIME) $$pkg"; \
	    $(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) "$$pkg"; \
	  done; \
	done; \
	[ "$$found" = 1 ] || echo "no Fuzz targets found"

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

# Side-by-side run of bin/zkd and Debian's Apache ZooKeeper (java run directly, own
# temp dirs, free 127.0.0.1 ports), alternating, 3 repetitions; prints medians, ranges
# and zkd/ZooKeeper ratios. Installs nothing: without the zookeeper package it prints
# the apt-get command (or run `make deps`).
BENCH_WORKLOADS ?= latency,create-c32,setdata-c32,getdata-pipe,kafka
BENCH_FLAGS     ?=
bench-compare: build
	./bin/zkd bench compare -zkd bin/zkd -json bin/bench-compare.json -report bin/bench-compare.html $(BENCH_FLAGS) $(BENCH_WORKLOADS)

conformance: build
	SHARED='$(SHARED)' scripts/conformance.sh $(CLIENTS)

# Differential test: the same seeded op sequences on Apache ZooKeeper 3.8 and zkd in
# lock step; every divergence is printed as a shrunk reproducer. `go test ./...` runs
# 20 seeds; this runs many more.
DIFFTEST_SEEDS ?= 200
difftest:
	$(GO) test -count=1 -timeout $(TIMEOUT) -v -run TestDifferential ./difftest/ -seeds=$(DIFFTEST_SEEDS)

clean:
	rm -rf bin

# Chaos campaign: for each seed, five clients record a history on one 3-server
# ensemble while a seeded nemesis kills, pauses, isolates and slows servers; each
# history is checked with porcupine against the ZooKeeper model (internal/zkcheck).
# Prints histories checked, operations, faults injected and violations found; a
# violation's shrunk history (JSON and HTML) lands in $(CHAOS_OUT).
CHAOS_SEEDS      ?= 10
CHAOS_FIRST_SEED ?= 1
CHAOS_DURATION   ?= 60s
CHAOS_CLUSTER    ?= zookeeper
CHAOS_OUT        ?= $(CURDIR)/bin/chaos
chaos: build
	$(GO) test -v -count=1 -timeout 0 -run '^TestChaos$$' ./internal/zkcheck/ -chaos -cluster=$(CHAOS_CLUSTER) \
	  -zkd=$(CURDIR)/bin/zkd -seeds=$(CHAOS_SEEDS) -first-seed=$(CHAOS_FIRST_SEED) -duration=$(CHAOS_DURATION) -out=$(CHAOS_OUT)
