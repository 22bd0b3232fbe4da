package session

import (
	"bytes"
	"time"

	"zkd/datatree"
	"zkd/jute"
	"zkd/quorum"
)

// handshake answers a ConnectRequest: a new session is replicated first, a resumed
// one is checked against its password (spec/wire.md §3.4).
func (c *Conn) handshake(frame []byte) bool {
	srv := c.srv
	var req jute.ConnectRequest
	d := jute.NewDecoder(frame)
	req.Decode(&d)
	if err := d.Err(); err != nil {
		srv.log.Warn("closing connection: malformed ConnectRequest", "remote", c.ip, "len", len(frame), "err", err)
		return false
	}
	c.oldClient = !req.HasReadOnly
	c.recv.Add(1)
	srv.stats.received.Add(1)
	if last := srv.tree.LastZxid(); jute.Zxid(req.LastZxidSeen) > last {
		srv.log.Info("Refusing session request for client as it has seen zxid our last zxid is behind; client must try another server",
			"remote", c.ip, "client_zxid", jute.Zxid(req.LastZxidSeen), "last_zxid", last)
		return false
	}
	timeout := srv.cfg.negotiateTimeout(req.TimeOut)
	c.state = stateReady
	now := monoNow()
	if req.SessionID == 0 {
		return c.createSession(timeout, now)
	}
	return c.resumeSession(jute.SessionID(req.SessionID), req.Passwd, timeout, now)
}

func (c *Conn) connectResponse(timeout int32, id jute.SessionID, passwd []byte) []byte {
	resp := jute.ConnectResponse{TimeOut: timeout, SessionID: int64(id), Passwd: passwd, HasReadOnly: !c.oldClient}
	b, mark := jute.BeginFrame(nil)
	b = resp.Append(b)
	return jute.EndFrame(b, mark)
}

func (c *Conn) createSession(timeout int32, now int64) bool {
	srv := c.srv
	id := srv.newSessionID()
	sess := &Session{id: id, conn: c}
	sess.timeout.Store(timeout)
	sess.touch(now)
	srv.mu.Lock()
	srv.mu.sessions[id] = sess
	c.sess = sess // under srv.mu: four-letter words read it from other goroutines
	srv.mu.Unlock()
	p := &pending{start: now}
	c.enqueue(p)
	txn := datatree.Txn{Kind: datatree.KindCreateSession, Session: id, Timeout: timeout, Time: time.Now().UnixMilli()}
	err := srv.q.Propose(txn.Append(quorum.EntryBuffer(64)), func(_ jute.Zxid, _ datatree.Result, err error) {
		if err != nil {
			srv.log.Warn("could not create session", "sessionid", id, "err", err)
			c.abort()
			return
		}
		srv.log.Info("Established session", "sessionid", id, "timeout_ms", timeout, "remote", c.ip)
		c.complete(p, c.connectResponse(timeout, id, SessionPassword(id)), false)
	})
	return err == nil
}

func (c *Conn) resumeSession(id jute.SessionID, passwd []byte, timeout int32, now int64) bool {
	srv := c.srv
	valid := bytes.Equal(passwd, SessionPassword(id))
	if _, live := srv.tree.Session(id); !live {
		valid = false
	}
	var old *Conn
	srv.mu.Lock()
	sess := srv.mu.sessions[id]
	if sess == nil || sess.closing.Load() {
		valid = false
	}
	if valid {
		old = sess.conn
		sess.conn = c
		c.sess = sess
		sess.timeout.Store(timeout)
		sess.touch(now)
	}
	srv.mu.Unlock()
	if !valid {
		srv.log.Info("Invalid session for client, probably expired", "sessionid", id, "remote", c.ip)
		c.state = stateClosing
		c.answer(c.connectResponse(0, 0, make([]byte, 16)), now, true)
		return true
	}
	if old != nil && old != c {
		old.abort()
	}
	srv.log.Info("Renewed session", "sessionid", id, "timeout_ms", timeout, "remote", c.ip)
	c.answer(c.connectResponse(timeout, id, SessionPassword(id)), now, false)
	return true
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

// request handles one request after the handshake.
func (c *Conn) request(frame []byte) bool {
	srv := c.srv
	start := monoNow()
	var hdr jute.RequestHeader
	d := jute.NewDecoder(frame)
	hdr.Decode(&d)
	if d.Err() != nil {
		srv.log.Warn("closing connection: truncated request header", "remote", c.ip, "sessionid", c.sessionID(), "len", len(frame))
		return false
	}
	if c.sess.closing.Load() {
		return true // ZooKeeper drops requests of a closing session silently
	}
	c.recv.Add(1)
	srv.stats.received.Add(1)
	c.sess.touch(start)
	c.last.op.Store(int32(hdr.Type))
	if hdr.Xid > 0 {
		c.last.cxid.Store(int64(hdr.Xid))
	}
	body := frame[jute.RequestHeaderSize:]
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
		srv.log.Warn("closing connection: SASL is not configured", "remote", c.ip, "sessionid", c.sessionID())
		c.state = stateClosing
		c.answer(replyFrame(nil, hdr.Xid, 0, jute.CodeAuthFailed), start, true)
	case op == jute.OpReconfig:
		code := jute.CodeReconfigDisabled
		if srv.cfg.ReconfigEnabled {
			code = jute.CodeUnimplemented // standalone
		}
		c.answer(replyFrame(nil, hdr.Xid, srv.tree.LastZxid(), code), start, false)
	default:
		// Unknown opcodes, a standalone check (3.8.5+) and server-internal types:
		// UNIMPLEMENTED, then close, as ZooKeeper does.
		srv.log.Warn("closing connection: unsupported opcode", "remote", c.ip, "sessionid", c.sessionID(),
			"op", op, "xid", hdr.Xid, "len", len(frame))
		c.state = stateClosing
		c.answer(replyFrame(nil, hdr.Xid, -1, jute.CodeUnimplemented), start, true)
	}
	return true
}

// write checks that a write request decodes, then proposes it. Validation against
// the tree happens at apply, where every replica makes the same decision.
func (c *Conn) write(hdr jute.RequestHeader, body []byte, start int64) {
	srv := c.srv
	d := jute.NewDecoder(body)
	switch hdr.Type {
	case jute.OpCreateTTL:
		var r jute.CreateTTLRequest
		r.Decode(&d)
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer:
		var r jute.CreateRequest
		r.Decode(&d)
	case jute.OpDelete:
		var r jute.PathVersionRequest
		r.Decode(&d)
	case jute.OpSetData:
		var r jute.SetDataRequest
		r.Decode(&d)
	case jute.OpSetACL:
		var r jute.SetACLRequest
		r.Decode(&d)
	case jute.OpMulti:
		var r jute.MultiRequest
		r.Decode(&d)
	}
	if d.Err() != nil {
		c.answer(replyFrame(nil, hdr.Xid, srv.tree.LastZxid(), jute.CodeMarshallingError), start, false)
		return
	}
	txn := datatree.Txn{Kind: datatree.KindRequest, Session: c.sess.id, Time: time.Now().UnixMilli(),
		Op: hdr.Type, Identity: c.Identity(), Body: body}
	entry := txn.Append(quorum.EntryBuffer(len(body) + 64))
	p := &pending{start: start}
	c.enqueue(p)
	xid := hdr.Xid
	err := srv.q.Propose(entry, func(zxid jute.Zxid, res datatree.Result, err error) {
		if err != nil {
			srv.log.Warn("write not committed; closing connection", "sessionid", c.sessionID(), "err", err)
			c.abort()
			return
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
	if err != nil {
		c.abort()
	}
}

func (c *Conn) sync(xid int32, body []byte, start int64) {
	srv := c.srv
	var r jute.PathRequest
	d := jute.NewDecoder(body)
	r.Decode(&d)
	if d.Err() != nil {
		c.answer(replyFrame(nil, xid, srv.tree.LastZxid(), jute.CodeMarshallingError), start, false)
		return
	}
	frame := (&jute.RequestHeader{Xid: xid, Type: jute.OpSync}).Append(make([]byte, 0, jute.RequestHeaderSize+len(body)))
	frame = append(frame, body...)
	p := &pending{start: start}
	c.enqueue(p)
	err := srv.q.Sync(func() {
		// NB: the read index covers only entries committed when the sync was taken up,
		// so this may fire before this session's earlier writes apply. The reply is
		// built when the sync reaches the head of the queue, like a queued read, so
		// its zxid is never older than the replies before it (a client's lastZxid
		// must not go back).
		c.pend.Lock()
		p.frame = frame
		c.drainLocked(false)
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
	c.enqueue(p)
	srv.log.Info("Closing session on client request", "sessionid", sess.id, "remote", c.ip)
	srv.proposeClose(sess.id, func(zxid jute.Zxid, err error) {
		if err != nil {
			c.abort()
			return
		}
		c.complete(p, replyFrame(nil, xid, zxid, jute.CodeOK), true)
	})
	c.state = stateClosing
}

// local runs a request answered from the tree and appends its reply frame to dst.
// onLoop says whether it runs on the event loop (scratch buffers may be used).
func (c *Conn) local(frame []byte, dst []byte, onLoop bool) []byte {
	tree := c.srv.tree
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
		for _, x := range id {
			resp.ClientInfo = append(resp.ClientInfo, jute.ClientInfo{AuthScheme: x.Scheme, User: userName(x)})
		}
		b, mark := reply(jute.CodeOK)
		return jute.EndFrame(resp.Append(b), mark)
	}
	return fail(jute.CodeUnimplemented)
}
