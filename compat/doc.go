// Package compat proves that real, unmodified ZooKeeper clients work against zkd.
//
// Its tests build bin/zkd from the repository root, start it as a process from a
// zoo.cfg on a free 127.0.0.1 port (internal/zktest.StartProcess), and drive it
// with four independently written clients, each exercising far more than a smoke
// test:
//
//   - Java zkCli (ZooKeeperMain 3.8): every command of the CLI that talks to the
//     server, fed one JVM a script of commands (testdata/zkcli.script), each
//     command's output checked;
//   - Apache Curator 5.4 (testdata/CuratorCompat.java, compiled with javac against
//     Debian's jars): locks, leader election with a killed leader, caches, queues,
//     barriers, counters, persistent nodes and watchers, transactions, TTL and
//     container nodes;
//   - kazoo 2.8 (testdata/kazoo_compat.py, Debian's /usr/bin/python3): its recipes,
//     watches, transactions, and session loss and expiry through a TCP proxy the test
//     cuts on the script's request;
//   - the C client's cli_mt (testdata/cli_mt.script): basic operations and watches
//     across two sessions.
//
// Each suite runs twice in the same test run: against Apache ZooKeeper 3.8 (Debian's
// package, java run directly by zktest.StartZooKeeper) and against zkd, as subtests
// server=zookeeper and server=zkd, with one subtest per check. A check that passes
// against ZooKeeper and fails against zkd is a zkd divergence, and the parent test
// logs it as one; a check that fails against both is a test or client problem. Set
// ZKD_COMPAT_REFERENCE=0 to skip the ZooKeeper runs.
//
// TestReferenceClients runs the four suites one after another against a single
// zkd, without the reference runs: the clients an operator's server meets.
//
// The package has no non-test code. Its tests skip under -short, and skip when a
// client or the JDK is missing unless the environment variable CI is set, in which
// case they fail (scripts/deps.sh installs everything).
package compat
