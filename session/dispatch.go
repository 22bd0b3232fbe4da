package session

import (
	"bytes"
	"time"

	"zkd/datatree"
	"zkd/jute"
	"zkd/replica"
)

// handshake answers a ConnectRequest: a new session is replicated first, a resumed
// one is checked against its password and attached to this connection by a
// replicated entry (spec/wire.md §3.4). Until then the connection reads nothing
// more (Throttled), so nothing is proposed for a session that is not yet its.
func (c *Conn) handshake(frame []byte) bool {
	srv := c.srv
	var req jute.ConnectRequest
	d := jute.NewDecoder(frame)
	req.Decode(&d)
	if err := d.Err(); err != nil {
		srv.log.Warn("closing connection: malformed ConnectRequest", "remote", c.remote, "len", len(frame), "err", err)
		return false
	}
	c.oldClient = !req.HasReadOnly
	c.recv.Add(1)
	c.noteRequest()
	srv.stats.received.Add(1)
	admitted, deficit := srv.throttle.allow(srv.throttle.need(req.SessionID != 0, srv.cfg.LocalSessions))
	if !admitted {
		// ZooKeeper closes the connection without a reply and counts it in
		// connection_rejected; the client tries again, here or elsewhere.
		srv.NoteRejected()
		srv.log.Warn("Closing session: connection throttle rejected connection", "sessionid", jute.SessionID(req.SessionID),
			"remote", c.remote)
		return false
	}
	srv.NoteTiming(tokenDeficitName, int64(deficit))
	readOnly := srv.r.ReadOnly()
	switch {
	case readOnly && !req.ReadOnly:
		srv.log.Info("Refusing session request for not-read-only client", "remote", c.remote)
		return false
	case !readOnly && srv.r.RefusesClients():
		srv.log.Info("refusing a client: this server leads and leaderServes=no; the client must try another server", "remote", c.remote)
		return false
	case !readOnly && !srv.r.Serving():
		srv.log.Info("refusing a client: this server has no leader; the client must try another server", "remote", c.remote)
		return false
	}
	c.readOnly = readOnly
	zxid := jute.Zxid(req.LastZxidSeen)
	if last := srv.Tree().LastZxid(); zxid > last && srv.r.Solo() {
		srv.log.Info("Refusing session request for client as it has seen zxid our last zxid is behind; client must try another server",
			"remote", c.remote, "client_zxid", zxid, "last_zxid", last)
		return false
	}
	timeout := srv.cfg.negotiateTimeout(req.TimeOut)
	now := monoNow()
	c.setState(stateConnecting)
	p := &pending{start: now}
	c.enqueue(p)
	proceed := func() {
		id := jute.SessionID(req.SessionID)
		switch {
		case id != 0:
			if sess := srv.localSession(id); sess != nil {
				c.resumeLocalSession(p, sess, req.Passwd, timeout, now)
			} else if readOnly {
				// A read-only server knows only its own sessions (ZooKeeper's
				// ReadOnlyZooKeeperServer has its own session tracker).
				srv.log.Info("Refusing a global session on a read-only server", "sessionid", id, "remote", c.remote)
				c.abort()
			} else {
				c.resumeSession(p, id, req.Passwd, timeout, now)
			}
		case readOnly && !srv.cfg.LocalSessions:
			// ZooKeeper 3.7+ answers a new global session on a read-only server
			// with a NOTREADONLY reply header where the ConnectResponse should be
			// (spec/semantics.md §14), and then only its connection expiry closes
			// the socket; here it closes once that frame is out.
			c.connected(p, replyFrame(nil, 0, srv.Tree().LastZxid(), jute.CodeNotReadOnly), true)
		case readOnly || srv.cfg.LocalSessions:
			c.createLocalSession(p, timeout, now)
		default:
			c.createSession(p, timeout, now)
		}
	}
	if zxid <= srv.Tree().LastZxid() {
		proceed()
		return true
	}
	// The client has seen more than this server has applied: wait a little for
	// the log to catch up, then refuse as ZooKeeper does ("client must try
	// another server") if it has not.
	srv.r.WaitApplied(zxid, srv.cfg.TickTime, func(err error) {
		if err != nil {
			srv.log.Info("Refusing session request for client as it has seen zxid our last zxid is behind; client must try another server",
				"remote", c.remote, "client_zxid", zxid, "last_zxid", srv.Tree().LastZxid())
			c.abort()
			return
		}
		proceed()
	})
	return true
}

func (c *Conn) connectResponse(timeout int32, id jute.SessionID, passwd []byte) []byte {
	resp := jute.ConnectResponse{TimeOut: timeout, SessionID: int64(id), Passwd: passwd, HasReadOnly: !c.oldClient,
		ReadOnly: c.readOnly && id != 0}
	b, mark := jute.BeginFrame(nil)
	b = resp.Append(b)
	return jute.EndFrame(b, mark)
}

// connected answers the handshake and lets the connection read requests.
func (c *Conn) connected(p *pending, reply []byte, close bool) {
	if close {
		c.setState(stateClosing)
	} else {
		c.setState(stateReady)
	}
	c.complete(p, reply, close)
	c.tr.Wake() // reading was paused while connecting
}

func (c *Conn) createSession(p *pending, timeout int32, now int64) {
	srv := c.srv
	id := srv.r.NewSessionID()
	sess := &Session{id: id, conn: c}
	sess.timeout.Store(timeout)
	sess.touch(now)
	srv.mu.Lock()
	srv.mu.sessions[id] = sess
	c.sess = sess // under srv.mu: four-letter words read it from other goroutines
	srv.mu.Unlock()
	txn := datatree.Txn{Kind: datatree.KindCreateSession, Session: id, Timeout: timeout, Conn: c.token,
		Time: time.Now().UnixMilli()}
	err := srv.r.Propose(txn, nil, func(_ jute.Zxid, res datatree.Result, err error) {
		if err == nil && res.Err != jute.CodeOK {
			err = res.Err
		}
		if err != nil {
			srv.log.Warn("could not create session", "sessionid", id, "err", err)
			c.abort()
			return
		}
		srv.log.Debug("Established session", "sessionid", id, "timeout_ms", timeout, "remote", c.remote)
		c.connected(p, c.connectResponse(timeout, id, SessionPassword(id)), false)
	})
	if err != nil {
		srv.log.Warn("could not create session", "sessionid", id, "err", err)
		c.abort()
	}
}

// createLocalSession starts a session only this server knows: nothing is
// replicated, so the client is answered at once (spec/semantics.md §7.4).
func (c *Conn) createLocalSession(p *pending, timeout int32, now int64) {
	srv := c.srv
	id := srv.r.NewSessionID()
	sess := &Session{id: id, conn: c, readOnly: c.readOnly}
	sess.local.Store(true)
	sess.timeout.Store(timeout)
	sess.touch(now)
	srv.mu.Lock()
	srv.mu.sessions[id] = sess
	c.sess = sess
	srv.mu.Unlock()
	srv.r.TrackLocalSession(id, timeout)
	srv.log.Info("Established local session", "sessionid", id, "timeout_ms", timeout, "remote", c.remote,
		"read_only", c.readOnly)
	c.connected(p, c.connectResponse(timeout, id, SessionPassword(id)), false)
}

// resumeLocalSession attaches a local session of this server to a new
// connection of its client.
func (c *Conn) resumeLocalSession(p *pending, sess *Session, passwd []byte, timeout int32, now int64) {
	srv := c.srv
	srv.mu.Lock()
	ok := bytes.Equal(passwd, SessionPassword(sess.id)) && !sess.closing.Load() && sess.readOnly == c.readOnly
	var old *Conn
	if ok {
		old, sess.conn, c.sess = sess.conn, c, sess
		sess.timeout.Store(timeout)
		sess.touch(now)
	}
	srv.mu.Unlock()
	if !ok {
		c.invalidSession(p, sess.id)
		return
	}
	srv.r.TrackLocalSession(sess.id, timeout)
	if old != nil && old != c {
		old.abort()
	}
	srv.log.Info("Renewed local session", "sessionid", sess.id, "timeout_ms", timeout, "remote", c.remote)
	c.connected(p, c.connectResponse(timeout, sess.id, SessionPassword(sess.id)), false)
}

// invalidSession answers a reconnect to a session that is gone: the
// ConnectResponse of an expired session, then close.
func (c *Conn) invalidSession(p *pending, id jute.SessionID) {
	c.srv.log.Info("Invalid session for client, probably expired", "sessionid", id, "remote", c.remote)
	c.connected(p, c.connectResponse(0, 0, make([]byte, 16)), true)
}

func (c *Conn) resumeSession(p *pending, id jute.SessionID, passwd []byte, timeout int32, now int64) {
	srv := c.srv
	invalid := func() { c.invalidSession(p, id) }
	if _, live := srv.Tree().Session(id); !live || !bytes.Equal(passwd, SessionPassword(id)) {
		invalid()
		return
	}
	srv.mu.Lock()
	sess := srv.mu.sessions[id]
	if sess == nil {
		sess = &Session{id: id}
		srv.mu.sessions[id] = sess
	}
	closing := sess.closing.Load()
	if !closing {
		c.sess = sess
		sess.timeout.Store(timeout)
		sess.touch(now)
	}
	srv.mu.Unlock()
	if closing {
		invalid()
		return
	}
	txn := datatree.Txn{Kind: datatree.KindAttach, Session: id, Timeout: timeout, Conn: c.token,
		Time: time.Now().UnixMilli()}
	err := srv.r.Propose(txn, nil, func(_ jute.Zxid, res datatree.Result, err error) {
		switch {
		case err != nil:
			srv.log.Warn("could not resume session", "sessionid", id, "err", err)
			c.abort()
			return
		case res.Err != jute.CodeOK:
			invalid()
			return
		}
		srv.mu.Lock()
		old := sess.conn
		sess.conn = c
		srv.mu.sessions[id] = sess
		srv.mu.Unlock()
		if old != nil && old != c {
			old.abort()
		}
		srv.log.Info("Renewed session", "sessionid", id, "timeout_ms", timeout, "remote", c.remote)
		c.connected(p, c.connectResponse(timeout, id, SessionPassword(id)), false)
	})
	if err != nil {
		srv.log.Warn("could not resume session", "sessionid", id, "err", err)
		c.abort()
	}
}

// isLocal reports whether op is answered from the local tree, in queue order.
func isLocal(op jute.OpCode) bool {
	switch op {
	case jute.OpPing, jute.OpExists, jute.OpGetData, jute.OpGetChildren, jute.OpGetChildren2,
		jute.OpGetACL, jute.OpGetAllChildrenNumber, jute.OpGetEphemerals, jute.OpMultiRead,
		jute.OpSetWatches, jute.OpSetWatches2, jute.OpAddWatch, jute.OpRemoveWatches,
		jute.OpCheckWatches, jute.OpWhoAmI:
		return true
	}
	return false
}

// changesState reports whether a read-only server answers op NOTREADONLY: every
// write, and sync and check too, as ZooKeeper's ReadOnlyRequestProcessor does.
func changesState(op jute.OpCode) bool {
	switch op {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL, jute.OpDelete,
		jute.OpSetData, jute.OpSetACL, jute.OpMulti, jute.OpSync, jute.OpReconfig, jute.OpCheck:
		return true
	}
	return false
}

// request handles one request after the handshake.
func (c *Conn) request(frame []byte) bool {
	srv := c.srv
	start := monoNow()
	var hdr jute.RequestHeader
	d := jute.NewDecoder(frame)
	hdr.Decode(&d)
	if d.Err() != nil {
		srv.log.Warn("closing connection: truncated request header", "remote", c.remote, "sessionid", c.sessionID(), "len", len(frame))
		return false
	}
	if c.sess.closing.Load() {
		return true // ZooKeeper drops requests of a closing session silently
	}
	c.recv.Add(1)
	c.noteRequest()
	srv.stats.received.Add(1)
	c.sess.touch(start)
	c.last.op.Store(int32(hdr.Type))
	if hdr.Xid > 0 {
		c.last.cxid.Store(int64(hdr.Xid))
	}
	body := frame[jute.RequestHeaderSize:]
	if c.readOnly && changesState(hdr.Type) {
		c.answer(replyFrame(nil, hdr.Xid, srv.Tree().LastZxid(), jute.CodeNotReadOnly), start, false)
		return true
	}
	if !c.enforceAuth(&hdr, start) {
		return true
	}
	switch op := hdr.Type; {
	case isLocal(op):
		c.pend.Lock()
		if len(c.pend.q) == 0 {
			c.pend.Unlock()
			c.scratch = c.local(frame, c.scratch[:0], true)
			c.emit(c.scratch, true)
			c.observe(start)
			return true
		}
		c.pend.q = append(c.pend.q, &pending{start: start, frame: bytes.Clone(frame)})
		c.pend.Unlock()
	case op == jute.OpCreate || op == jute.OpCreate2 || op == jute.OpCreateContainer || op == jute.OpCreateTTL ||
		op == jute.OpDelete || op == jute.OpSetData || op == jute.OpSetACL || op == jute.OpMulti:
		c.write(hdr, body, start)
	case op == jute.OpSync:
		c.sync(hdr.Xid, body, start)
	case op == jute.OpCloseSession:
		c.closeSession(hdr.Xid, start)
	case op == jute.OpAuth:
		c.auth(hdr.Xid, body, start)
	case op == jute.OpSASL:
		c.saslToken(hdr.Xid, body, start)
	case op == jute.OpReconfig:
		// The two checks ZooKeeper makes before any that needs the ensemble's
		// state (spec/semantics.md §4); the leader makes the others, and the
		// answer comes back through the log like any write's.
		switch {
		case !srv.cfg.ReconfigEnabled:
			c.answer(replyFrame(nil, hdr.Xid, srv.Tree().LastZxid(), jute.CodeReconfigDisabled), start, false)
		case srv.r.Mode() == "standalone":
			c.answer(replyFrame(nil, hdr.Xid, srv.Tree().LastZxid(), jute.CodeUnimplemented), start, false)
		default:
			c.write(hdr, body, start)
		}
	default:
		// Unknown opcodes, a standalone check (3.8.5+) and server-internal types:
		// UNIMPLEMENTED, then close, as ZooKeeper does.
		srv.log.Warn("closing connection: unsupported opcode", "remote", c.remote, "sessionid", c.sessionID(),
			"op", op, "xid", hdr.Xid, "len", len(frame))
		c.setState(stateClosing)
		c.answer(replyFrame(nil, hdr.Xid, -1, jute.CodeUnimplemented), start, true)
	}
	return true
}

// write proposes a write request as the client sent it. It is decoded and
// validated once, at apply, where every replica makes the same decision: a body
// that does not decode is answered MARSHALLINGERROR from there, in its place
// among the connection's writes.
func (c *Conn) write(hdr jute.RequestHeader, body []byte, start int64) {
	srv := c.srv
	txn := datatree.Txn{Kind: datatree.KindRequest, Session: c.sess.id, Time: time.Now().UnixMilli(),
		Op: hdr.Type, Cxid: hdr.Xid, Identity: c.Identity(), Body: body, EnforceQuota: srv.cfg.EnforceQuota}
	p := &pending{start: start}
	xid := hdr.Xid
	c.pend.Lock()
	if c.sess.local.Load() {
		if srv.cfg.LocalSessionsUpgrading && createsEphemeral(hdr.Type, body) {
			c.upgradeLocked()
		} else {
			txn.Local = true
		}
	}
	c.pend.q = append(c.pend.q, p)
	var audited []byte // the request, kept for the audit log: body's buffer is reused
	if srv.cfg.Audit != nil {
		audited = bytes.Clone(body)
	}
	c.submitLocked(&txn, func(zxid jute.Zxid, res datatree.Result, err error) {
		if err != nil {
			srv.log.Warn("write not committed; closing connection", "sessionid", c.sessionID(), "err", err)
			c.abort()
			return
		}
		if res.Err == jute.CodeSessionMoved || res.Err == datatree.CodeOutOfOrder {
			// ZooKeeper closes the connection of a moved session without a reply;
			// an out-of-order write means an earlier one was lost, which the
			// client must see as a lost connection too.
			srv.log.Info("closing connection: write refused", "sessionid", c.sessionID(), "code", res.Err)
			c.abort()
			return
		}
		if audited != nil {
			srv.cfg.Audit.write(c, hdr.Type, audited, res)
		}
		// The reply lives in a pooled buffer until drainLocked copies it out.
		buf := jute.AcquireBuffer()
		reply, mark := jute.BeginFrame(buf.B[:0])
		reply = jute.AppendReplyHeader(reply, xid, zxid, res.Err)
		if res.Err == jute.CodeOK {
			reply = append(reply, res.Body...)
		}
		buf.B = jute.EndFrame(reply, mark)
		p.pooled = buf
		c.complete(p, buf.B, false)
	})
	c.pend.Unlock()
}

// createsEphemeral reports whether a write creates an ephemeral node, which a
// local session may not own. A body that does not decode is apply's to refuse.
func createsEphemeral(op jute.OpCode, body []byte) bool {
	d := jute.NewDecoder(body)
	switch op {
	case jute.OpCreate, jute.OpCreate2:
		var r jute.CreateRequest
		r.Decode(&d)
		return d.Err() == nil && jute.CreateMode(r.Flags).Ephemeral()
	case jute.OpMulti:
		var r jute.MultiRequest
		r.Decode(&d)
		if d.Err() != nil {
			return false
		}
		for _, op := range r.Ops {
			if (op.Type == jute.OpCreate || op.Type == jute.OpCreate2) && jute.CreateMode(op.Flags).Ephemeral() {
				return true
			}
		}
	}
	return false
}

// upgradeLocked makes the connection's local session a global one, as
// ZooKeeper does on a local session's first ephemeral create: a createSession
// is proposed ahead of the write, in the connection's order, and from then on
// the leader expires the session and apply checks its writes' order.
// REQUIRES: c.pend held.
func (c *Conn) upgradeLocked() {
	srv, sess := c.srv, c.sess
	sess.local.Store(false)
	srv.r.ForgetLocalSession(sess.id)
	srv.log.Info("Upgrading local session to global", "sessionid", sess.id, "remote", c.remote)
	txn := datatree.Txn{Kind: datatree.KindCreateSession, Session: sess.id, Timeout: sess.timeout.Load(),
		Time: time.Now().UnixMilli()}
	c.submitLocked(&txn, func(_ jute.Zxid, res datatree.Result, err error) {
		if err == nil && res.Err != jute.CodeOK {
			err = res.Err
		}
		if err != nil {
			srv.log.Warn("could not upgrade local session; closing connection", "sessionid", sess.id, "err", err)
			c.abort()
		}
	})
}

// heldWrite is a write waiting for the syncs sent before it.
type heldWrite struct {
	txn  datatree.Txn
	done replica.DoneFunc
}

// submitLocked proposes a write of this connection, numbering it in the order the
// client sent it. A write sent after a sync that is not yet answered is held back
// until the sync is: were it proposed at once it could apply before the sync
// answers, and the reads the client sent between the two would see it.
// REQUIRES: c.pend held (it orders the proposals of the connection).
func (c *Conn) submitLocked(txn *datatree.Txn, done replica.DoneFunc) {
	if c.pend.syncs > 0 {
		txn.Body = bytes.Clone(txn.Body) // the frame is gone once the event loop returns
		c.pend.held = append(c.pend.held, heldWrite{txn: *txn, done: done})
		return
	}
	c.proposeLocked(txn, done)
}

func (c *Conn) proposeLocked(txn *datatree.Txn, done replica.DoneFunc) {
	if txn.Kind == datatree.KindCreateSession {
		// A session's upgrade: the tree takes this connection as the session's
		// with no write seen yet, so the writes after it count from 1.
		c.connSeq = 0
		txn.Conn = c.token
	} else {
		c.connSeq++
		txn.Conn, txn.ConnSeq = c.token, c.connSeq
	}
	if err := c.srv.r.Propose(*txn, c.beforeApply, done); err != nil {
		c.srv.log.Info("closing connection: cannot propose a write", "sessionid", c.sessionID(), "err", err)
		c.pend.gone = true
		go c.abort() // not under c.pend
	}
}

func (c *Conn) sync(xid int32, body []byte, start int64) {
	srv := c.srv
	var r jute.PathRequest
	d := jute.NewDecoder(body)
	r.Decode(&d)
	if d.Err() != nil {
		c.answer(replyFrame(nil, xid, srv.Tree().LastZxid(), jute.CodeMarshallingError), start, false)
		return
	}
	frame := (&jute.RequestHeader{Xid: xid, Type: jute.OpSync}).Append(make([]byte, 0, jute.RequestHeaderSize+len(body)))
	frame = append(frame, body...)
	p := &pending{start: start}
	c.pend.Lock()
	c.pend.q = append(c.pend.q, p)
	c.pend.syncs++
	c.pend.Unlock()
	err := srv.r.Sync(func(err error) {
		if err != nil {
			c.abort()
			return
		}
		// NB: the read index covers only entries committed when the sync was taken up,
		// so this may fire before this session's earlier writes apply. The reply is
		// built when the sync reaches the head of the queue, like a queued read, so
		// its zxid is never older than the replies before it (a client's lastZxid
		// must not go back).
		c.pend.Lock()
		p.frame = frame
		if c.pend.syncs--; c.pend.syncs == 0 {
			held := c.pend.held
			c.pend.held = nil
			for _, w := range held {
				c.proposeLocked(&w.txn, w.done)
			}
		}
		c.drainLocked(false, false)
		c.pend.Unlock()
	})
	if err != nil {
		c.abort()
	}
}

func (c *Conn) closeSession(xid int32, start int64) {
	srv := c.srv
	sess := c.sess
	if sess.closing.Swap(true) {
		return
	}
	p := &pending{start: start}
	srv.log.Debug("Closing session on client request", "sessionid", sess.id, "remote", c.remote)
	if sess.local.Load() {
		// Nothing to replicate: the session ends here, its reply after those
		// of the requests before it.
		srv.endLocalSession(sess)
		c.enqueue(p)
		c.setState(stateClosing)
		c.complete(p, replyFrame(nil, xid, srv.Tree().LastZxid(), jute.CodeOK), true)
		return
	}
	txn := datatree.Txn{Kind: datatree.KindCloseSession, Session: sess.id, Time: time.Now().UnixMilli(), Cxid: xid}
	c.pend.Lock()
	c.pend.q = append(c.pend.q, p)
	c.submitLocked(&txn, func(zxid jute.Zxid, res datatree.Result, err error) {
		if err != nil || res.Err != jute.CodeOK {
			c.abort()
			return
		}
		c.complete(p, replyFrame(nil, xid, zxid, jute.CodeOK), true)
	})
	c.pend.Unlock()
	c.setState(stateClosing)
}

// local runs a request answered from the tree and appends its reply frame to dst.
// onLoop says whether it runs on the event loop (scratch buffers may be used).
func (c *Conn) local(frame []byte, dst []byte, onLoop bool) []byte {
	tree := c.srv.Tree()
	d := jute.NewDecoder(frame)
	var hdr jute.RequestHeader
	hdr.Decode(&d)
	id := c.Identity()
	watch := func(on bool) datatree.Watcher {
		if on {
			return c
		}
		return nil
	}
	reply := func(code jute.Code) ([]byte, int) {
		b, mark := jute.BeginFrame(dst)
		return jute.AppendReplyHeader(b, hdr.Xid, tree.LastZxid(), code), mark
	}
	fail := func(code jute.Code) []byte {
		b, mark := reply(code)
		return jute.EndFrame(b, mark)
	}
	switch hdr.Type {
	case jute.OpPing:
		b, mark := jute.BeginFrame(dst)
		b = jute.AppendReplyHeader(b, jute.XidPing, tree.LastZxid(), jute.CodeOK)
		return jute.EndFrame(b, mark)
	case jute.OpSync: // only once its read index has applied (see sync)
		var r jute.PathRequest
		if r.Decode(&d); d.Err() != nil {
			return fail(jute.CodeMarshallingError)
		}
		b, mark := reply(jute.CodeOK)
		return jute.EndFrame(jute.AppendString(b, r.Path), mark)
	case jute.OpExists:
		var r jute.PathWatchRequest
		if r.Decode(&d); d.Err() != nil {
			return fail(jute.CodeMarshallingError)
		}
		st, code := tree.Exists(r.Path, watch(r.Watch), id)
		if code != jute.CodeOK {
			return fail(code)
		}
		b, mark := reply(code)
		return jute.EndFrame(st.Append(b), mark)
	case jute.OpGetData:
		var r jute.PathWatchRequest
		if r.Decode(&d); d.Err() != nil {
			return fail(jute.CodeMarshallingError)
		}
		data, st, code := tree.GetData(r.Path, watch(r.Watch), id)
		if code != jute.CodeOK {
			return fail(code)
		}
		b, mark := reply(code)
		b = jute.AppendBuffer(b, data)
		return jute.EndFrame(st.Append(b), mark)
	case jute.OpGetChildren, jute.OpGetChildren2:
		var r jute.PathWatchRequest
		if r.Decode(&d); d.Err() != nil {
			return fail(jute.CodeMarshallingError)
		}
		var names []string
		if onLoop {
			names = c.children[:0]
		}
		names, st, code := tree.GetChildren(r.Path, watch(r.Watch), id, names)
		if onLoop {
			defer func() { clear(names); c.children = names[:0] }()
		}
		if code != jute.CodeOK {
			return fail(code)
		}
		b, mark := reply(code)
		b = jute.AppendStrings(b, names)
		if hdr.Type == jute.OpGetChildren2 {
			b = st.Append(b)
		}
		return jute.EndFrame(b, mark)
	case jute.OpGetACL:
		var r jute.PathRequest
		if r.Decode(&d); d.Err() != nil {
			return fail(jute.CodeMarshallingError)
		}
		acl, st, code := tree.GetACL(r.Path, id)
		if code != jute.CodeOK {
			return fail(code)
		}
		b, mark := reply(code)
		b = jute.AppendACLs(b, acl)
		return jute.EndFrame(st.Append(b), mark)
	case jute.OpGetAllChildrenNumber:
		var r jute.PathRequest
		if r.Decode(&d); d.Err() != nil {
			return fail(jute.CodeMarshallingError)
		}
		n, code := tree.AllChildrenNumber(r.Path, id)
		if code != jute.CodeOK {
			return fail(code)
		}
		b, mark := reply(code)
		return jute.EndFrame(jute.AppendInt(b, n), mark)
	case jute.OpGetEphemerals:
		var r jute.PathRequest
		if r.Decode(&d); d.Err() != nil {
			return fail(jute.CodeMarshallingError)
		}
		paths := tree.Ephemerals(c.sess.id, r.Path)
		b, mark := reply(jute.CodeOK)
		return jute.EndFrame(jute.AppendStrings(b, paths), mark)
	case jute.OpMultiRead:
		r := jute.MultiRequest{Read: true}
		if r.Decode(&d); d.Err() != nil {
			return fail(jute.CodeMarshallingError)
		}
		b, mark := reply(jute.CodeOK)
		for _, op := range r.Ops {
			res := jute.OpResult{Type: op.Type}
			var code jute.Code
			if op.Type == jute.OpGetData {
				res.Data, res.Stat, code = tree.GetData(op.Path, watch(op.Watch), id)
			} else {
				res.Children, _, code = tree.GetChildren(op.Path, watch(op.Watch), id, nil)
			}
			if code != jute.CodeOK {
				res = jute.OpResult{Type: jute.OpError, Err: code}
			}
			b = jute.AppendOpResult(b, &res)
		}
		return jute.EndFrame(jute.AppendMultiEnd(b), mark)
	case jute.OpSetWatches, jute.OpSetWatches2:
		r := jute.SetWatches{V2: hdr.Type == jute.OpSetWatches2}
		if r.Decode(&d); d.Err() != nil {
			return fail(jute.CodeMarshallingError)
		}
		// Events for missed changes go out before the reply (spec/semantics.md §8.4).
		tree.SetWatches(&r, c)
		return fail(jute.CodeOK)
	case jute.OpAddWatch:
		var r jute.PathTypeRequest
		if r.Decode(&d); d.Err() != nil {
			return fail(jute.CodeMarshallingError)
		}
		if code := tree.AddWatch(r.Path, r.Type, c); code != jute.CodeOK {
			return fail(code)
		}
		b, mark := reply(jute.CodeOK)
		return jute.EndFrame(jute.AppendInt(b, 0), mark) // ErrorResponse{0}: Java reads it
	case jute.OpRemoveWatches, jute.OpCheckWatches:
		var r jute.PathTypeRequest
		if r.Decode(&d); d.Err() != nil {
			return fail(jute.CodeMarshallingError)
		}
		return fail(tree.RemoveWatches(r.Path, r.Type, c, hdr.Type == jute.OpRemoveWatches))
	case jute.OpWhoAmI:
		var resp jute.WhoAmIResponse
		for _, x := range javaSetOrder(id) {
			resp.ClientInfo = append(resp.ClientInfo, jute.ClientInfo{AuthScheme: x.Scheme, User: userName(x)})
		}
		b, mark := reply(jute.CodeOK)
		return jute.EndFrame(resp.Append(b), mark)
	}
	return fail(jute.CodeUnimplemented)
}
