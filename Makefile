# zkd build and test entry points.  `make` with no target prints the list.

GO        ?= go
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0-dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null)
# RFC 3339 UTC; SOURCE_DATE_EPOCH (reproducible builds) wins over the clock.
BUILD_DATE ?= $(shell date -u -d "@$${SOURCE_DATE_EPOCH:-$$(date +%s)}" +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(BUILD_DATE)
TAGS      ?= invariants
TIMEOUT   ?= 40m
FUZZTIME  ?= 10s
SHARED    ?= ../shared

# make install: where the files go. PREFIX holds the binary and the docs; the unit,
# the sysusers entry and the default zoo.cfg go where systemd and Debian's
# ZooKeeper look for them whatever PREFIX is. DESTDIR stages it all (packaging).
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
DOCDIR      ?= $(PREFIX)/share/doc/zkd
CONFDIR     ?= /etc/zookeeper/conf
UNITDIR     ?= /etc/systemd/system
SYSUSERSDIR ?= /etc/sysusers.d
DESTDIR     ?=

# staticcheck, installed per version into bin/tools by `make lint` (never globally).
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK         := $(CURDIR)/bin/tools/staticcheck-$(STATICCHECK_VERSION)/staticcheck

.DEFAULT_GOAL := help
.PHONY: help build run deps test race lint fuzz bench bench-compare conformance difftest ensemble chaos soak install clean

help:
	@echo 'make              # prints this list'
	@echo 'make build        # go build -trimpath -o bin/zkd . (VERSION=$(VERSION))'
	@echo 'make run          # build, then ./bin/zkd: standalone on 127.0.0.1:2181, data in ./zkd-data'
	@echo 'make deps         # scripts/deps.sh: Debian ZooKeeper, kazoo, Curator, JDK; go mod download'
	@echo 'make test         # deps, then go test -p 1 -tags $(TAGS) -count=1 -timeout $(TIMEOUT) ./...'
	@echo 'make race         # go test -race -tags $(TAGS) -count=1 ./... (and zkd processes built -race)'
	@echo 'make lint         # gofmt -l . (must be empty), go vet ./..., staticcheck ./... ($(STATICCHECK_VERSION), into bin/tools)'
	@echo 'make fuzz         # each Fuzz target: go test -run=^$$ -fuzz=^FuzzX$$ -fuzztime=$(FUZZTIME) ./pkg'
	@echo 'make bench        # go test -run=^$$ -bench=. -benchmem ./...'
	@echo 'make bench-compare # bin/zkd vs Apache ZooKeeper 3.8 side by side: $(BENCH_WORKLOADS) (BENCH_FLAGS=...)'
	@echo 'make bench-perf   # the README performance table side by side: table,1m, $(BENCH_PERF_FLAGS) (slow: 1M znodes)'
	@echo 'make bench-ensemble # 3-server zkd vs 3-server Apache ZooKeeper: writes, reads, leader failover'
	@echo 'make conformance  # bin/zkd on a free loopback port + $(SHARED)/conformance/smoke-all.sh'
	@echo 'make difftest     # zkd vs Apache ZooKeeper 3.8 on $(DIFFTEST_SEEDS) seeded random op sequences (DIFFTEST_SEEDS=N)'
	@echo 'make ensemble     # build, then start a 3-server ensemble on 127.0.0.1:2181-2183 (scripts/ensemble.sh; ENSEMBLE_DIR=...)'
	@echo 'make install      # binary, systemd unit, sysusers entry, default zoo.cfg (if none), docs; PREFIX=$(PREFIX) DESTDIR='
	@echo 'make clean        # rm -rf bin (never touches ./zkd-data)'
	@echo 'make soak         # a 3-server ensemble under rotating workloads, a member killed each round, for $(SOAK_SECS) s: fails if a member keeps what clients held (scripts/soak.sh)'
	@echo 'make chaos        # linearizability campaign on a $(CHAOS_SERVERS)-server $(CHAOS_CLUSTER) ensemble under faults: $(CHAOS_SEEDS) seeds x $(CHAOS_DURATION) (CHAOS_CLUSTER=zookeeper|zkd, CHAOS_OBSERVERS=n of the servers, CHAOS_NETWORKS=n with multiAddress lines)'

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/zkd .

run: build
	./bin/zkd

deps:
	scripts/deps.sh

# -p 1: the real-client suites each run JVMs and servers; one package at a time
# keeps a 2-core machine from starving them (the whole run takes 11-14 min).
test: deps
	$(GO) test -p 1 -tags '$(TAGS)' -count=1 -timeout $(TIMEOUT) ./...

# The zkd that tests start as a process is built with -race too; a race it
# reports fails the test that started it.
race:
	ZKD_TEST_RACE=1 $(GO) test -race -tags '$(TAGS)' -count=1 -timeout $(TIMEOUT) ./...

lint: $(STATICCHECK)
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt -l: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

$(STATICCHECK):
	GOBIN=$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

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

# The README's performance table in one command: every workload of the table on
# the base tree, the open-loop run, and the 1M-znode preload, memory and restart
# figures, on bin/zkd and Apache ZooKeeper 3.8 (2 GiB G1 heap) alternately, 3
# repetitions, with the null-server and append+fdatasync limits. BENCH_PERF_FLAGS
# scales it (e.g. -znodes 100000 -duration 3s for a quick look).
.PHONY: bench-perf bench-ensemble
BENCH_PERF_FLAGS ?= -warmup 5s -duration 10s
bench-perf: build
	./bin/zkd bench compare -zkd bin/zkd -json bin/bench-perf.json -report bin/bench-perf.html $(BENCH_PERF_FLAGS) $(BENCH_FLAGS) table,1m

# 3-server ensembles from zoo.cfg files (server.N lines, myid): setData at 32 and 256
# sessions via the followers and via the leader, getData over every server, and the
# time from kill -9 of the leader to the next acknowledged write.
BENCH_ENSEMBLE_FLAGS ?= -ensemble 3 -warmup 5s -duration 10s
bench-ensemble: build
	./bin/zkd bench compare -zkd bin/zkd -json bin/bench-ensemble.json -report bin/bench-ensemble.html $(BENCH_ENSEMBLE_FLAGS) $(BENCH_FLAGS) ensemble

conformance: build
	SHARED='$(SHARED)' scripts/conformance.sh $(CLIENTS)

# Differential test: the same seeded op sequences on Apache ZooKeeper 3.8 and zkd in
# lock step; every divergence is printed as a shrunk reproducer. `go test ./...` runs
# 20 seeds; this runs many more.
DIFFTEST_SEEDS ?= 200
difftest:
	$(GO) test -count=1 -timeout $(TIMEOUT) -v -run '^TestDifferential$$' ./difftest/ -seeds=$(DIFFTEST_SEEDS)

SOAK_SECS ?= 1800
soak: build
	SOAK_SECS=$(SOAK_SECS) scripts/soak.sh

ENSEMBLE_DIR ?= $(CURDIR)/ensemble
ensemble: build
	scripts/ensemble.sh start $(ENSEMBLE_DIR)
# The unit is written with the paths of this install (packaging/zkd.service.in).
# A zoo.cfg already in CONFDIR (Debian's zookeeper package ships one) is kept.
install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(CONFDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	install -m 0755 bin/zkd $(DESTDIR)$(BINDIR)/zkd
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@CONFDIR@|$(CONFDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
		-e 's|@SYSUSERSDIR@|$(SYSUSERSDIR)|g' packaging/zkd.service.in > $(DESTDIR)$(UNITDIR)/zkd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/zkd.service
	install -m 0644 packaging/zkd.sysusers $(DESTDIR)$(SYSUSERSDIR)/zkd.conf
	[ -e $(DESTDIR)$(CONFDIR)/zoo.cfg ] || install -m 0644 packaging/zoo.cfg $(DESTDIR)$(CONFDIR)/zoo.cfg
	install -m 0644 README.md docs/operations.md docs/security.md $(DESTDIR)$(DOCDIR)/

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
CHAOS_CLUSTER    ?= zkd
CHAOS_SERVERS    ?= 3
CHAOS_OBSERVERS  ?= 0
CHAOS_NETWORKS   ?= 1
CHAOS_OUT        ?= $(CURDIR)/bin/chaos
chaos: build
	$(GO) test -v -count=1 -timeout 0 -run '^TestChaos$$' ./internal/zkcheck/ -chaos -cluster=$(CHAOS_CLUSTER) \
	  -zkd=$(CURDIR)/bin/zkd -seeds=$(CHAOS_SEEDS) -first-seed=$(CHAOS_FIRST_SEED) -duration=$(CHAOS_DURATION) -out=$(CHAOS_OUT) \
	  -servers=$(CHAOS_SERVERS) -observers=$(CHAOS_OBSERVERS) -networks=$(CHAOS_NETWORKS)
