// Package admin serves zkd's operator HTTP endpoints: ZooKeeper's AdminServer
// (GET /commands and /commands/<name>, every 3.8 command and alias, answered in
// Jackson's pretty-printed JSON) and the Prometheus endpoint (GET /metrics).
//
// Both read their figures from session (the same accessors the four-letter words
// use), so a command and its four-letter word always agree. main starts them after
// the client port is bound and stops them first.
//
//	GET /commands            -> HTML list of the primary names, alphabetical
//	GET /commands/monitor    -> {"version" : ..., ..., "command" : "monitor", "error" : null}
//	GET /commands/nosuchcmd  -> {"command" : "nosuchcmd", "error" : "Unknown command: nosuchcmd"}
//	GET /commands/snapshot   -> (Authorization: digest u:p) the snapshot file, last_zxid: 0x5a2
//	GET /metrics             -> znode_count 17\nfsynctime{quantile="0.5"} 0.25\n...
//
// The one 3.9 command zkd serves is snapshot (snapshot.go): with
// admin.snapshot.enabled and the caller authorised as in ZooKeeper 3.9, it takes
// a consistent snapshot through the replica and streams the file, in zkd's own
// snapshot format, for `zkd export --server`. Its transfer holds no lock and no
// tree image: the image is written to the snapshot directory first.
//
// /metrics is served by the Prometheus client library (client_golang) from one
// registry per endpoint: ZooKeeper's metrics under the names and types of its
// PrometheusMetricsProvider (session.ZooKeeperMetrics: gauges, counters, and
// summaries in ms whose quantiles cover the last ten minutes), zkd's own under
// zkd_ (histograms by opcode and of the log's fdatasyncs, back-pressure), and the
// Go runtime and process collectors where ZooKeeper exports the JVM's.
//
// Concurrency: handlers and collectors run on net/http's goroutines; every figure
// they read is either atomic or taken under session's own locks.
package admin
