package session

// Global outstanding limit.
//
// ZooKeeper counts the requests in process over the whole server; when a request
// arrives while that count exceeds globalOutstandingLimit, the connection it came
// on stops reading (disableRecv) if it has requests of its own in flight, and reads
// again once one of its replies goes out and the count is back under the limit
// (ServerCnxn.incrOutstandingAndCheckThrottle / decrOutstandingAndCheckThrottle,
// ZooKeeperServer.shouldThrottle). A connection with nothing in flight is never
// stopped: it costs the server nothing yet, and stopping it would leave nothing to
// wake it.
//
// zkd counts a request from the moment it is read (a ConnectRequest or any
// request after it) until its reply is queued (emit), per connection and in a
// server-wide total. netloop asks Throttled before each frame; a paused
// connection is woken by its own next reply (emit wakes its event loop, or finds
// a wake pending, after which netloop asks again), which is when ZooKeeper looks
// again too. A connection that goes away gives its count back
// (Closed), whatever replies it was owed.

// noteRequest counts a request that will be answered by one emit.
func (c *Conn) noteRequest() {
	c.inflight.Add(1)
	c.srv.inflight.Add(1)
}

// noteReply counts one reply queued. It never takes the count below zero, so a
// reply that was not counted (none is expected) cannot unbalance the total.
func (c *Conn) noteReply() {
	for {
		n := c.inflight.Load()
		if n <= 0 {
			return
		}
		if c.inflight.CompareAndSwap(n, n-1) {
			c.srv.inflight.Add(-1)
			return
		}
	}
}

// releaseInflight gives back the connection's count when it closes.
func (c *Conn) releaseInflight() {
	if n := c.inflight.Swap(0); n > 0 {
		c.srv.inflight.Add(-n)
	}
}

// globalThrottled reports whether the connection must stop reading because the
// server as a whole has too many requests in flight and some of them are its own.
func (c *Conn) globalThrottled() bool {
	lim := c.srv.cfg.GlobalOutstandingLimit
	return lim > 0 && c.srv.inflight.Load() > int64(lim) && c.inflight.Load() > 0
}

// InFlight returns the requests read from every connection and not answered yet,
// as the global limit counts them.
func (s *Server) InFlight() int64 { return s.inflight.Load() }
