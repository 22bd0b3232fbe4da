// Package lint holds repository rules written as Go tests; it has no non-test code.
//
// `go test ./internal/lint` (part of `make test`) checks:
//
//   - TestImportGraph: the package graph of ../shared/STYLE.md §0 and DESIGN.md.
//     Each top-level package may import only the module packages and third-party
//     modules listed for it in lint_test.go; packages inside one tree (quorum and
//     quorum/quorumtest) may import each other; only netloop imports gnet and only
//     quorum imports etcd raft. A new top-level package fails the test until it is
//     given a row in the table: the graph is the architecture, so adding to it is a
//     decision, not a side effect. Test-only imports are not checked.
//   - TestNoRawAtomics: no function-style sync/atomic calls (atomic.AddInt64,
//     atomic.LoadUint32, ...) in non-test files; use the typed atomics
//     (atomic.Int64, atomic.Bool, atomic.Pointer[T]) [STYLE rule 24].
//   - TestNoFmtPrintOutsideMain: no fmt.Print, fmt.Printf or fmt.Println in non-test
//     files except the root main.go and package main commands in subdirectories;
//     everything else logs through log/slog [STYLE rule 39].
//   - TestBuiltZkdIsRemoved: a test package that builds the zkd binary
//     (testutil.BuildZkd, zktest.StartProcess, zktest.StartProcessCluster) has a
//     TestMain that runs the tests through testutil.Main, which removes the binary,
//     so that no run leaves it in the temporary directory.
//
// The tests read the source with go/parser and `go list`; they need the go tool on
// PATH and nothing outside the standard library.
package lint
