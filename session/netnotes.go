package session

import "sync/atomic"

// netNotes counts what the client port's socket layer (netloop) sees below the
// protocol, for mntr and Prometheus. netloop calls the Note methods from its accept
// goroutine, its handshake sweeper and its event loops: atomics only.
type netNotes struct {
	acceptErrors      atomic.Int64 // failed accept() calls: EMFILE and the like
	handshakeTimeouts atomic.Int64 // connections closed before their ConnectRequest
	inputLimit        atomic.Int64 // connections closed for holding too much unread input
	unread            atomic.Int64 // gauge: bytes read from sockets, not yet handled
	tlsFailures       atomic.Int64 // TLS connections refused at their handshake
	tlsHandshaking    atomic.Int64 // gauge: TLS handshakes under way
}

// NetStats are the socket layer's figures.
type NetStats struct {
	// AcceptErrors counts failed accepts of the client port (out of file
	// descriptors, most often); the port backs off and accepts again by itself.
	AcceptErrors int64
	// HandshakeTimeouts counts connections closed because they had not completed
	// their ConnectRequest in time (ZooKeeper's sessionless_connections_expired).
	HandshakeTimeouts int64
	// InputLimitCloses counts connections closed because, while paused, they kept
	// sending past the bound on unread input.
	InputLimitCloses int64
	// UnreadBytes is what the socket layer holds read but not yet handled, over all
	// connections.
	UnreadBytes int64
	// TLSFailures counts TLS connections refused at their handshake: a failed
	// handshake or a client certificate that did not authenticate (ZooKeeper's
	// auth_failed_count, which its TLS port counts the same way).
	TLSFailures int64
	// TLSHandshaking is the number of TLS handshakes under way
	// (outstanding_tls_handshake).
	TLSHandshaking int64
}

// NoteAcceptError counts one failed accept of the client port.
func (s *Server) NoteAcceptError() { s.ops().net.acceptErrors.Add(1) }

// NoteHandshakeTimeout counts one connection closed before its handshake.
func (s *Server) NoteHandshakeTimeout() { s.ops().net.handshakeTimeouts.Add(1) }

// NoteInputLimit counts one connection closed for holding too much unread input.
func (s *Server) NoteInputLimit() { s.ops().net.inputLimit.Add(1) }

// NoteTLSFailure counts one TLS connection refused at its handshake.
func (s *Server) NoteTLSFailure() { s.ops().net.tlsFailures.Add(1) }

// AddTLSHandshaking moves the gauge of TLS handshakes under way by delta.
func (s *Server) AddTLSHandshaking(delta int64) { s.ops().net.tlsHandshaking.Add(delta) }

// AddUnread moves the unread-input gauge by delta bytes (negative to release).
func (s *Server) AddUnread(delta int64) { s.ops().net.unread.Add(delta) }

// NetStats returns the socket layer's figures.
func (s *Server) NetStats() NetStats {
	n := &s.ops().net
	return NetStats{
		AcceptErrors:      n.acceptErrors.Load(),
		HandshakeTimeouts: n.handshakeTimeouts.Load(),
		InputLimitCloses:  n.inputLimit.Load(),
		UnreadBytes:       n.unread.Load(),
		TLSFailures:       n.tlsFailures.Load(),
		TLSHandshaking:    n.tlsHandshaking.Load(),
	}
}
