// Package e2e holds the tests that run the built zkd binary, as an operator runs
// it: from zoo.cfg files (and myid files, for an ensemble), killed with SIGKILL,
// stalled with SIGSTOP, restarted on the same data directory, and through its
// subcommands (zkd bench, zkd bench null-server). The binary is built once per
// test run (testutil.BuildZkd) and every process is started with
// internal/zktest on 127.0.0.1 ports the kernel chose.
//
// The package has no code outside its tests.
package e2e
