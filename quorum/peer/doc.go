// Package peer is zkd's peer transport: how the members of an ensemble talk to
// each other over TCP on the quorum port. It carries raft's messages
// (quorum.Transport) and the layer above's own messages (SendApp: forwarded
// writes, touch batches) on one ordered stream per peer, and streams snapshots on
// connections of their own. It knows nothing of ZooKeeper.
//
// # Streams
//
// Every member dials each peer once for everything it sends to it, and reads
// what the peer sends on the connection the peer dialed: a pair of members has
// two connections, one per direction. Raft and app messages to a peer share its
// stream and arrive in the order they were passed to Send and SendApp.
//
// A member may have several addresses (ZooKeeper's multiAddress, one per
// network: host:port|host:port, see Alternatives). Its transport listens on
// each; a dial tries the address that answered last first, then the others in
// turn, so a member stays reachable while one of its networks is down. Every
// peer connection has TCP_USER_TIMEOUT set to WriteTimeout (Linux): data left
// unacknowledged that long ends the connection, so a stream over a network that
// silently stopped delivering is redialed rather than kept for as long as TCP
// would retransmit.
//
// Each peer has a bounded queue (MaxQueueMsgs, MaxQueueBytes, counting the batch
// being written) and a writer goroutine. Send encodes the messages on the
// caller's goroutine (raft's, as raft requires), queues them and returns at once.
// The writer takes everything queued, writes it into one buffer and flushes when
// the queue is empty, so a burst of messages costs a few writes. When the queue
// is full, or the stream is down, a raft message is dropped and its peer
// reported unreachable (raft then probes it instead of pipelining into the
// void), and SendApp returns false. A slow peer costs at most the queue's bound.
//
// # Connection lifecycle
//
//	dialer                                      acceptor
//	  dial ------------------------------------> accept
//	  [TLS handshake, when ClientTLS/ServerTLS are set]
//	  hello: magic, version, kind, from, to --->  check: version, to == own id,
//	                                              from is a known peer
//	  <------------------------------------------ reply: status (ok or why not)
//	  [authentication exchange, when asked for and Config.Auth is set]
//	  frames ----------------------------------->  frames -> Handler, in order
//	  ... until a write fails (WriteTimeout), the peer closes or resets the
//	  connection (noticed at once by a read on the dialing side), the peer's
//	  address changes, the peer is removed (SetPeers) or Stop.
//	  then: queued messages dropped; ReportUnreachable; PeerLost if the other end
//	  closed or reset it; redial after a backoff doubling from BackoffMin up to
//	  BackoffMax, jittered by a source seeded with Config.Seed.
//
// An acceptor keeps one inbound stream per peer: a new one replaces the old,
// whose reader is finished before the new one starts, so no two streams from a
// peer are ever delivered interleaved.
//
// # Wire format
//
// All integers are big-endian.
//
//	hello (dialer -> acceptor), 24 bytes:
//	+--------------+-------------+---------+----------+------------+------------+
//	| magic "zkdp" | version u16 | kind u8 | flags u8 | from id u64| to id u64  |
//	+--------------+-------------+---------+----------+------------+------------+
//	kind: 1 stream, 2 snapshot, 3 ask (one question, one answer, from any
//	server: see ask.go).  flags: 0x01 an authentication exchange follows.
//
//	reply (acceptor -> dialer), 8 bytes:
//	+--------------+-------------+-----------+----------+
//	| magic "zkdp" | version u16 | status u8 | flags u8 |
//	+--------------+-------------+-----------+----------+
//	status: 0 ok, 1 bad version, 2 unknown sender, 3 wrong receiver, 4 bad kind,
//	        5 busy (a snapshot from this sender is already being received),
//	        6 authentication required, 7 authentication asked for and not possible.
//	flags: 0x01 the acceptor runs the authentication exchange.
//
//	frame:
//	+---------+---------+---------------------+
//	| type u8 | len u32 | payload (len bytes) |      len <= MaxFrameSize
//	+---------+---------+---------------------+
//
//	type  payload                                     where
//	1     raftpb.Message, protobuf                    stream
//	2     app message bytes                           stream
//	3     | size u64 | raftpb.Message MsgSnap |       snapshot, first
//	4     | crc32c u32 | data |                       snapshot, 0..n chunks
//	5     | size u64 | crc32c of the file u32 |       snapshot, last
//	6     | status u8 | reason text |                 snapshot, receiver's answer
//	7     | token |                                   handshake, authentication
//	8     | question or answer |                      ask, once each way
//
// # Authentication
//
// With an Authenticator (auth.go), a dialer whose Dials is true sets the hello's
// flag and requires the exchange; an acceptor runs it when asked, refuses a dialer
// that did not ask when its Required is true, and refuses one that asked when it
// has no Authenticator. The exchange's tokens (frame type 7, at most
// MaxAuthToken bytes) are the Authenticator's, under the handshake's deadline;
// no frame of the stream or the snapshot crosses before it succeeded.
//
// # Snapshots
//
// raft's MsgSnap carries only the snapshot's metadata. When Send sees one, a
// goroutine opens the file (Handler.OpenSnapshot), dials a snapshot connection
// and sends the MsgSnap, the file in chunks of SnapshotChunkSize with a CRC-32C
// each, and a trailer with the size and the whole file's CRC-32C, then waits for
// the answer. The receiver hands Handler.ReceiveSnapshot a reader that returns a
// chunk only after its checksum matched and io.EOF only after the trailer
// matched; once ReceiveSnapshot has stored it, the MsgSnap is stepped and the
// sender told. One chunk is in memory on each side, whatever the size. The
// sender calls Handler.ReportSnapshot once per MsgSnap, whatever happened
// (success, refusal, corruption, timeout, a lost connection, removal, Stop).
// One transfer per peer and direction runs at a time.
//
// # Concurrency
//
// Every exported method of Transport is safe from any goroutine. Send, SendApp
// and Stats never block on the network. Goroutines: one accept loop; per peer a
// writer (plus a reader watching its connection for the peer's close) and the
// reader of the peer's stream to us; one per snapshot transfer. Handler methods
// are called from those goroutines (see Handler for which may overlap) and, for
// ReportUnreachable and ReportSnapshot, from inside Send; never with a lock of
// the transport held, and never after Stop returns.
//
// Locks: Transport.mu (accepted connections; serializes SetPeers and Stop) is
// taken before a peer's mu, never after; no lock is held across IO or a Handler
// call.
package peer
