// Package netloop owns the client port: a gnet event loop per core, length-prefixed
// framing, four-letter-word detection, and the flush of each connection's ordered
// output. It is the only package that imports gnet.
//
// Framing: every message is | len int32 BE | len bytes |. The length is checked
// against jute.maxbuffer before the frame is read or anything is allocated; a frame
// that is longer (or negative) closes the connection, as ZooKeeper does. Frames
// split across reads stay in gnet's inbound buffer until complete.
//
// Per wake of a connection (new bytes, or a Wake from the apply goroutine), OnTraffic
// hands every complete frame to session.Conn.HandleFrame, then writes everything
// the connection has queued in one Write. While the connection has MaxOutstanding
// requests unanswered, further frames are left unread (back-pressure); a client that
// does not read its replies is disconnected once its queued output passes the limit.
//
// A frame handed to session aliases gnet's buffer and is valid only during the
// call; session copies what it keeps.
//
// Listen serves a *session.Server; ListenHandler serves any Handler, whose Conn has
// the same methods netloop calls on a session.Conn. `zkd bench null-server` uses it
// to answer every request with a fixed reply over the very same framing, flushing
// and limits: the network and syscall ceiling the benchmarks compare zkd against.
package netloop
