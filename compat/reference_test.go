package compat

import "testing"

// TestReferenceClients runs every client of this package (zkCli, Curator, kazoo
// and the C client's cli_mt), one after another, against one zkd binary started
// from a zoo.cfg, as an operator's server meets them: no reference run against
// Apache ZooKeeper and no fresh server per client, so each client also finds the
// tree the ones before it left. (go-zookeeper, the fifth client of the
// conformance kit, drives the tests in ../tests.)
func TestReferenceClients(t *testing.T) {
	long(t)
	clients := []struct {
		name  string
		suite func(*testing.T) func(*suite)
	}{{"zkcli", zkCliSuite}, {"curator", curatorSuite}, {"kazoo", kazooSuite}, {"cli_mt", cClientSuite}}
	// Every client is looked for before the server starts: a missing one fails
	// under CI and skips the test elsewhere.
	bodies := make([]func(*suite), len(clients))
	for i, c := range clients {
		bodies[i] = c.suite(t)
	}
	srv := startZkd(t)
	rec := &record{}
	for i, c := range clients {
		t.Run("client="+c.name, func(t *testing.T) {
			bodies[i](&suite{t: t, server: srv, rec: rec})
		})
	}
}
