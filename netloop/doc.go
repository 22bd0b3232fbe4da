// Package netloop owns the client port: accept loops, gnet event loops (one per
// core), length-prefixed framing, four-letter-word detection, the flush of each
// connection's ordered output, and the limits that keep a hostile or unlucky
// client from hurting the others. It is the only package that imports gnet.
//
//	net.TCPListener --accept loops (accept.go)--> gnet.Client.EnrollContext
//	                                                  |
//	            event loop: OnOpen / OnTraffic / OnClose (server.go)
//	                                                  |
//	handshake sweeper (handshake.go) --Wake--> event loop closes the late
//
// Accepting. gnet shuts its whole engine down when accept fails (see Server), so
// the port is accepted in netloop's own goroutines and each connection is handed
// to a listener-less gnet engine, which places it on the event loop with the
// fewest connections. A handover waits for the event loop to register the
// connection, so several goroutines (plainAcceptors) accept at once. Out of file
// descriptors, an accept loop counts the failure, logs it once per burst ("Error
// accepting new connection: Too many open files", as ZooKeeper does; one burst
// for all the port's accept loops), pauses (5 ms doubling to 100 ms) and tries
// again; established connections are untouched and waiting ones stay in the
// backlog. Each accept loop accepts only while it holds one reserve descriptor,
// because handing a connection to gnet duplicates its descriptor for a moment:
// the reserve becomes a second descriptor of the socket, and a handover that
// finds no descriptor free is tried again from it after a pause.
//
// The TLS port (Config.TLSAddr, ZooKeeper's secureClientPort) has its own accept
// loop and serves each connection with goroutines over crypto/tls (tls.go), since
// gnet does no TLS; every wake of such a connection runs the same serve as
// OnTraffic, over a link (a gnet.Conn or a *tlsLink): the same framing,
// four-letter words, limits and handshake deadline, and the same handler, so
// maxClientCnxns counts both ports together. Unlike gnet it stops reading a
// throttled connection.
//
// Framing: every message is | len int32 BE | len bytes |. The length is checked
// against jute.maxbuffer before the frame is read or anything is allocated; a frame
// that is longer (or negative) closes the connection, as ZooKeeper does. Frames
// split across reads stay in gnet's inbound buffer until complete.
//
// Per wake of a connection (new bytes, or a Wake from the apply goroutine), OnTraffic
// hands every complete frame to session.Conn.HandleFrame, then writes everything
// the connection has queued in one Write.
//
// Limits:
//   - Handshake: a connection that has not completed its ConnectRequest within
//     Config.HandshakeTimeout of being accepted is closed and counted
//     (ZooKeeper's sessionless_connections_expired; see handshake.go).
//   - In flight: while the connection has MaxOutstanding requests unanswered, or
//     more than ThrottleBytes of output unsent, further frames are left unhandled
//     (back-pressure); reading resumes as replies drain. A reply wakes the loop
//     unless a wake is already pending, so serve asks again after its flush
//     whether a pause it met has ended, and reads on in the same wake if so.
//   - Output: a client whose unsent output passes MaxOutboundBytes is disconnected.
//   - Input: gnet v2.10.0 cannot stop reading a socket. Its event loop reads on
//     every EPOLLIN and appends what OnTraffic leaves to the connection's inbound
//     buffer, which grows without bound (eventloop_unix.go, read); interest in
//     EPOLLIN is changed only inside gnet, and gnet.Conn has no method to pause
//     it. So a paused connection keeps filling its inbound buffer, and one that
//     has more than MaxInboundBytes waiting is disconnected and counted. ZooKeeper
//     instead stops reading (TCP then pushes back on the client); zkd's bound is
//     about what the kernel would hold for it.
//
// After a connection that buffered a lot goes, netloop asks the runtime to hand
// the memory back to the OS (memory.go), at most once per 10 s.
//
// A frame handed to session aliases gnet's buffer and is valid only during the
// call; session copies what it keeps.
//
// Listen serves a *session.Server; ListenHandler serves any Handler, whose Conn has
// the same methods netloop calls on a session.Conn. `zkd bench null-server` uses it
// to answer every request with a fixed reply over the very same framing, flushing
// and limits: the network and syscall ceiling the benchmarks compare zkd against.
//
// Concurrency: OnOpen, OnTraffic and OnClose of one connection run on its event
// loop; the accept loops and the sweeper reach a connection only through gnet's
// goroutine-safe Wake. Stop ends the accept loops and the sweeper before the
// event loops.
package netloop
