// Package bench is zkd's load generator and side-by-side comparison: a real TCP
// ZooKeeper client written on jute (it imports no server package, so it measures any
// server the same way), a set of workloads, and reports.
//
// # Client
//
// Conn is one session on one connection, pipelined:
//
//	Submit --encode--> out buffer --(one write per batch)--> socket
//	   |                                                        |
//	   +--> FIFO of calls {xid, op, sent, tag, cb}   <--match-- reader: reply xid must be the head's
//	                                                            xid -1: notification -> EventFunc
//	                                                            xid -2: ping reply (dropped)
//
// A pinger sends a ping every third of the negotiated timeout. Callbacks run on the
// reader goroutine; requests they submit go out in one write when the batch of
// replies already read is handled. A broken connection fails every pending call with
// CodeConnectionLoss, so every request gets exactly one answer. A connection the
// server drops during the handshake (its per-IP limit, maxClientCnxns) fails with
// ErrHandshakeDropped, whose text names that limit and the flags to change.
//
// # Runs
//
// Every run uses its own root znode, deleted afterwards, and has the same shape in
// time:
//
//	|<-- set-up -->|<-- Warmup -->|<------- Duration: the measured window ------->|<- drain ->|
//	   znodes,        load, recorded                requests sent (open loop:          replies of
//	   sessions       nowhere                       intended) here are measured        the window
//
// A loop workload's window is Duration exactly, so two servers are always measured
// over equal windows; only a Count cap (off by default; Compare refuses one) or
// cancellation cuts it, and the Result says so in its Notes. Closed loop: Clients
// sessions x InFlight requests, a reply triggers the next request. Open loop
// (Config.Rate, or a workload's own rate such as getdata-open): requests are issued
// at fixed intended times and latency is measured from the intended time, so a
// stalled server shows as latency, not as fewer samples (no coordinated omission).
// Scenario workloads (latency, fanout, watch-500, storm, sessions-16, lock,
// failover, the 1M group) have their own shape and the same warm-up rule.
//
// Config.Addr may be a connect string: session i goes to server i mod n, and a
// loop run reports each server's share (Result.PerServer). A route suffix picks
// servers by their `srvr` mode: getdata-64x16@followers, setdata-32x8@leader, @all.
//
// Sessions stay within Config.MaxConns per server (default 60, ZooKeeper's
// maxClientCnxns): a workload's default shape is reduced to fit, with a note; an
// explicit -clients (or similar) that cannot fit fails before connecting
// (ErrTooManySessions).
//
// While a run is under way, Config.Progress gets a live line (elapsed, requests/s,
// p99 so far, errors): rewritten in place on a terminal, periodic lines otherwise.
//
// Latencies go into Histogram, a log-linear histogram (< 0.8% relative error).
// A Result holds per op kind the requests issued, ok, errors by ZooKeeper code and
// the latency histogram; derived measurements (watch delivery, lock handoff, a
// session cycle) are "event" ops without an issued count. With Config.ServerPID or
// a Controller the servers' CPU time and RSS come from /proc (summed over an
// ensemble); the generator's CPU from getrusage.
//
// # Workload groups
//
//	all        every workload below except the 1m and ensemble groups
//	table      the README's performance table on the base tree (/zkbench-tree:
//	           TreeZnodes x 100 B, 1000 children per parent, created once per server
//	           and marked complete last): getdata-64x16, getdata-16x1, setdata-32x8,
//	           setdata-256x1, createseq-32x8, mix-64x8, watch-500, sessions-16,
//	           getdata-open (open loop at OpenRate)
//	1m         preload-1m, mem-1m, restart-1m: one shared pipelined preload of
//	           Znodes x 100 B, bytes on disk (du), RSS loaded and after a kill -9 and
//	           restart, and the time until getData answers again (RunMillion)
//	ensemble   setdata-32x8 and setdata-256x1 via followers and via the leader,
//	           getdata-64x16 over all servers, failover (kill -9 of the leader:
//	           time to the next acknowledged write)
//
// Workloads that kill or restart a server use Config.Control (a Controller);
// Compare provides one for the servers it starts.
//
// # Comparison
//
// Compare starts Apache ZooKeeper 3.8 (Debian's jars, java run directly, fixed 2 GiB
// G1 heap, forceSync=yes) and a zkd binary on free loopback ports with their own
// temporary data directories and the same zoo.cfg keys, runs the workloads
// alternately on each, and summarises medians, ranges and zkd/ZooKeeper ratios
// (per repetition, with their spread). Both servers fdatasync each group commit, so
// write figures are like for like (DurabilityNote says so in every output). The 1m
// group runs on a fresh server of each kind per repetition. With Ensemble > 0 both
// sides are ensembles started from zoo.cfg files with server.N lines and a myid each
// (PlanEnsemble, WriteEnsemble, ZooCfg): `bin/zkd zoo.cfg` per zkd server.
//
// # Limits
//
// In the same run and rotation (standalone), Compare measures what the machine allows:
//
//	null server   `zkd bench null-server`: zkd's netloop (same framing, flushing,
//	              limits) with a handler that answers every request at once with a
//	              fixed reply of the right shape (NullReply): no state, no disk, so
//	              its requests/s are what the network and syscalls allow. It runs the
//	              workloads that need no state (NullWorkload).
//	disk          DiskLimit: one write + one fdatasync per batch into a zero-filled
//	              file beside the servers' logs, batch = the write workload's
//	              sessions x requests in flight (the most zkd can group into one
//	              fdatasync), entry = its data and path plus ~64 B of framing (DiskShape).
//
// SummarizeLimits gives, per workload, each limit's median and range and every
// server's median as a fraction of it (1 at the limit): the null server's limit
// is of the workload's first headline figure (requests/s, watch-500's
// all-delivered p50, sessions-16's sessions/s).
//
// # Reports
//
// WriteHTML puts the summary first (Headlines: each workload's headline figures
// with ratios and limits), then notes, problems, every figure, the limits and one
// table per run, all as HTML tables, and the charts (WriteSVG: per workload a
// latency CDF, one colour per operation within a server's hue, and throughput over
// time).
//
// Concurrency: Conn is safe for concurrent use; Histogram and Result are not.
package bench
