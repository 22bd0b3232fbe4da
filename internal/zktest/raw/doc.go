// Package raw is the repository's one hand-built ZooKeeper client: length-prefixed
// jute frames over a TCP connection, with nothing a real client library would add
// (no reconnect, no pings, no watch bookkeeping). Tests use it to send what a real
// client never sends and to see every byte the server answers.
//
// Every method returns its error instead of failing a test, so that it may run
// off the test goroutine and so that a closed connection can be an observed
// result (difftest compares them between servers). internal/zktest wraps a Conn
// in a Client whose methods fail the test instead.
//
//	frame   = | length int32 (big-endian) | payload (length bytes) |
//	request = | RequestHeader{xid, op} | body |
//	reply   = | ReplyHeader{xid, zxid, err} | body |   xid -1: a notification
//
// A Conn belongs to one goroutine. Every blocking read or write is bounded by
// the Conn's timeout, a limit against hangs, never an assertion about speed.
package raw
