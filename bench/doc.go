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
// CodeConnectionLoss, so every request gets exactly one answer.
//
// # Runs
//
// Every run is bounded by Config.Duration and Config.Count and uses its own root
// znode, deleted afterwards. Closed loop: Clients sessions x InFlight requests, a
// reply triggers the next request. Open loop (Config.Rate > 0): requests are issued
// at fixed intended times and latency is measured from the intended time, so a
// stalled server shows as latency, not as fewer samples (no coordinated omission).
// Scenario workloads (latency, fanout, storm, lock) have their own shape.
//
// Latencies go into Histogram, a log-linear histogram (< 0.8% relative error).
// A Result holds per op kind the requests issued, ok, errors by ZooKeeper code and
// the latency histogram; derived measurements (watch delivery, lock handoff, storm
// cleanup) are "event" ops without an issued count. With Config.ServerPID the
// server's CPU time and RSS come from /proc; the generator's CPU from getrusage.
//
// # Comparison
//
// Compare starts Apache ZooKeeper 3.8 (Debian's jars, java run directly, fixed heap,
// forceSync=yes) and a zkd binary on free loopback ports with their own temporary
// data directories, runs the workloads alternately on each, and summarises medians,
// ranges and zkd/ZooKeeper ratios. Both servers fdatasync each group commit, so write
// figures are like for like (DurabilityNote says so in every output).
//
// # Limits
//
// In the same run and rotation, Compare measures what the machine allows:
//
//	null server   `zkd bench null-server`: zkd's netloop (same framing, flushing,
//	              limits) with a handler that answers every request at once with a
//	              fixed reply of the right shape (NullReply): no state, no disk, so
//	              its requests/s are what the network and syscalls allow. It runs the
//	              workloads that need no state (NullWorkload).
//	disk          DiskLimit: one write + one fdatasync per batch into a zero-filled
//	              file beside the servers' logs, batch = the write workload's
//	              sessions (the most zkd can group into one fdatasync), entry = its
//	              data and path plus ~64 B of framing (DiskShape).
//
// SummarizeLimits gives, per workload, each limit's median and range and every
// server's median requests/s as a fraction of it.
//
// Concurrency: Conn is safe for concurrent use; Histogram and Result are not.
package bench
