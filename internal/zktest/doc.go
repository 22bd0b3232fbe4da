// Package zktest is how tests start servers and talk to them: the one raw test
// client, zkd in-process and as a built binary, alone and as an ensemble, and
// Apache ZooKeeper beside it. It is test support: only tests import it, and it may
// import any package of the module.
//
//	Client          raw.Conn (hand-built jute frames) whose methods fail the test
//	StartServer     standalone zkd in-process: 127.0.0.1:0, a temporary data
//	                directory, a 200 ms tick, its log in a buffer; Restart keeps
//	                the directory and the port
//	StartCluster    in-process ensemble from zoo.cfg text (server.N lines, myid
//	                files) on free ports; Leader, Stop(i), Restart(i)
//	StartProcess    the zkd binary (built once, testutil.BuildZkd) from a zoo.cfg
//	                in a temporary directory; Kill (SIGKILL), Pause/Resume
//	                (SIGSTOP/SIGCONT), Restart; its log printed when the test fails
//	StartProcessCluster  the same, as an ensemble (its last members observers
//	                if asked)
//	StartZooKeeper  Apache ZooKeeper 3.8 from Debian's jars, java run directly
//	StartZooKeeperEnsemble  the same, as an ensemble (server.N lines, myid files)
//	CheckFor        poll a condition instead of sleeping
//	ConnectZK       a go-zookeeper session, with its session events recorded
//
// Every server listens on 127.0.0.1 only, on a port the kernel chose, and stops
// in the test's Cleanup. Every wait is bounded; the bounds guard against hangs
// and are never assertions about speed. Helpers that take a testing.TB belong to
// the test's goroutine; raw.Conn is the form to use off it.
//
// Tests that start servers live in tests/ (in-process) and tests/e2e (the built
// binary); packages whose own tests need a running server use the same helpers.
package zktest
