// Package tests holds the tests that run whole zkd servers in-process: through
// go-zookeeper and through the raw client of internal/zktest, against the wire
// and semantics references (spec/wire.md, spec/semantics.md), with bad input,
// across restarts, on the operator surface (four-letter words, AdminServer,
// metrics, compared with Apache ZooKeeper 3.8's captured and live output), as
// ensembles, and under the load generator. Tests of the built binary (kill -9,
// signals, subcommands) are in tests/e2e.
//
// Every server is started with internal/zktest and listens on 127.0.0.1 only.
// The package has no code outside its tests.
package tests
