// Package admin serves zkd's operator HTTP endpoints: ZooKeeper's AdminServer
// (GET /commands and /commands/<name>, every 3.8 command and alias, answered in
// Jackson's pretty-printed JSON) and the Prometheus endpoint (GET /metrics, text
// format 0.0.4, ZooKeeper's metric names plus zkd's own under zkd_).
//
// Both read their figures from session (the same accessors the four-letter words
// use), so a command and its four-letter word always agree. main starts them after
// the client port is bound and stops them first.
//
//	GET /commands            -> HTML list of the primary names, alphabetical
//	GET /commands/monitor    -> {"version" : ..., ..., "command" : "monitor", "error" : null}
//	GET /commands/nosuchcmd  -> {"command" : "nosuchcmd", "error" : "Unknown command: nosuchcmd"}
//	GET /metrics             -> znode_count 17\nfsynctime{quantile="0.5"} 0.25\n...
//
// The Prometheus text is written by hand rather than with a client library: one
// dependency less, and the format is a few lines of text per metric.
//
// Concurrency: handlers run on net/http's goroutines; every figure they read is
// either atomic or taken under session's own locks.
package admin
