package bench

import (
	"sync"

	"zkd/jute"
)

// NullServerLabel names the null server in reports.
const NullServerLabel = "null-server"

// NullSessionID is the session id the null server gives a new session (a client
// that resumes a session gets its own id back).
const NullSessionID = 0x6e756c6c // "null"

// Negotiated session timeouts of the null server: ZooKeeper's bounds for its
// default tickTime of 2 s (2 and 20 ticks).
const (
	nullMinTimeout = 4_000
	nullMaxTimeout = 40_000
)

// NullDataSize is the size of the data every getData gets from the null server:
// the 100 B of the read workloads.
const NullDataSize = 100

var (
	nullData   = payload(NullDataSize)
	nullStat   jute.Stat // every Stat of the null server is zero
	nullPasswd = make([]byte, 16)
)

// NullReply answers one frame as the null server does: no state, no disk, a reply of
// the right shape for every request, so that what the null server sustains is what
// the network, the syscalls and the framing allow. frame is one payload without its
// length prefix; started says whether the connection's ConnectRequest was already
// answered. The framed reply is appended to dst and returned as out (dst is returned
// unchanged when nothing is owed).
//
// connect reports that frame was the ConnectRequest; closeAfter, that the connection
// must be closed once out is written (after closeSession, or a frame too short or
// malformed to answer). frame is only read during the call; nothing is kept.
//
// Replies (ReplyHeader with the request's xid, zxid 0, err 0, then):
//
//	ConnectRequest                  ConnectResponse: the requested timeout within
//	                                [4 s, 40 s], NullSessionID (or the one resumed),
//	                                16 zero bytes of password, readOnly byte mirrored
//	ping                            header only, xid -2
//	getData                         100 B of data + zero Stat
//	exists, setData, setACL         zero Stat
//	create / sync                   the request's path
//	create2, createContainer, TTL   the request's path + zero Stat
//	getChildren, getEphemerals      empty list
//	getChildren2                    empty list + zero Stat
//	getACL                          world:anyone ALL + zero Stat
//	getAllChildrenNumber            0
//	whoAmI                          empty list
//	multi, multiRead                no results (the closing MultiHeader only)
//	closeSession                    header only, then close
//	anything else                   header only (delete, auth, setWatches, ...)
//
// Watch events are NullWatches' part.
func NullReply(dst, frame []byte, started bool) (out []byte, connect, closeAfter bool) {
	d := jute.NewDecoder(frame)
	if !started {
		var req jute.ConnectRequest
		req.Decode(&d)
		if d.Err() != nil {
			return dst, false, true
		}
		resp := jute.ConnectResponse{
			TimeOut:     min(max(req.TimeOut, nullMinTimeout), nullMaxTimeout),
			SessionID:   NullSessionID,
			Passwd:      nullPasswd,
			HasReadOnly: req.HasReadOnly,
		}
		if req.SessionID != 0 {
			resp.SessionID = req.SessionID
		}
		b, mark := jute.BeginFrame(dst)
		return jute.EndFrame(resp.Append(b), mark), true, false
	}
	var hdr jute.RequestHeader
	hdr.Decode(&d)
	if d.Err() != nil {
		return dst, false, true
	}
	xid := hdr.Xid
	if hdr.Type == jute.OpPing {
		xid = jute.XidPing
	}
	b, mark := jute.BeginFrame(dst)
	b = jute.AppendReplyHeader(b, xid, 0, jute.CodeOK)
	switch hdr.Type {
	case jute.OpGetData:
		b = nullStat.Append(jute.AppendBuffer(b, nullData))
	case jute.OpExists, jute.OpSetData, jute.OpSetACL:
		b = nullStat.Append(b)
	case jute.OpCreate, jute.OpSync:
		// The path is the body's first field: echo it as it came, without a copy.
		path := d.Buffer()
		if d.Err() != nil {
			return dst, false, true
		}
		b = jute.AppendBuffer(b, path)
	case jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		path := d.Buffer()
		if d.Err() != nil {
			return dst, false, true
		}
		b = nullStat.Append(jute.AppendBuffer(b, path))
	case jute.OpGetChildren, jute.OpGetEphemerals, jute.OpWhoAmI:
		b = jute.AppendInt(b, 0)
	case jute.OpGetChildren2:
		b = nullStat.Append(jute.AppendInt(b, 0))
	case jute.OpGetACL:
		b = nullStat.Append(jute.AppendACLs(b, jute.OpenACLUnsafe))
	case jute.OpGetAllChildrenNumber:
		b = jute.AppendInt(b, 0)
	case jute.OpMulti, jute.OpMultiRead:
		b = jute.AppendMultiEnd(b)
	case jute.OpCloseSession:
		closeAfter = true
	}
	return jute.EndFrame(b, mark), false, closeAfter
}

// NullWatcher is a connection of the null server that can be sent a watch event
// from another connection's goroutine.
type NullWatcher interface {
	// NullEvent queues one framed WatcherEvent for the client and wakes its
	// connection. event is shared by every watcher of one write: read, not kept.
	NullEvent(event []byte)
}

// NullWatches is the null server's only shared state: the data watches set by
// getData. A setData fires the watches on its path, as ZooKeeper does: each
// watcher gets one NodeDataChanged event, encoded once for all of them, and the
// watch is spent. It is what a watch fan-out costs in the network and syscalls,
// without the tree, the log or the sessions. Safe for concurrent use.
type NullWatches struct {
	mu     sync.Mutex
	byPath map[string][]NullWatcher
	event  []byte // the last event frame, reused while no watcher holds it
}

// Observe looks at one request frame of a started connection (the frame NullReply
// answers) before it is answered: a getData with its watch flag registers w on the
// path; a setData fires the path's watches. Anything else, and a frame too short
// to read, is left to NullReply.
func (n *NullWatches) Observe(frame []byte, w NullWatcher) {
	d := jute.NewDecoder(frame)
	var hdr jute.RequestHeader
	hdr.Decode(&d)
	if hdr.Type != jute.OpGetData && hdr.Type != jute.OpSetData {
		return
	}
	path := d.Buffer()
	watch := hdr.Type == jute.OpGetData && d.Bool()
	if d.Err() != nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if watch {
		if n.byPath == nil {
			n.byPath = map[string][]NullWatcher{}
		}
		n.byPath[string(path)] = append(n.byPath[string(path)], w)
		return
	}
	if hdr.Type != jute.OpSetData {
		return
	}
	watchers := n.byPath[string(path)]
	if len(watchers) == 0 {
		return
	}
	delete(n.byPath, string(path))
	n.event = jute.AppendNotification(n.event[:0], -1, jute.EventNodeDataChanged, string(path))
	for _, x := range watchers {
		x.NullEvent(n.event)
	}
}

// NullWorkload reports whether a workload's figures mean anything against the null
// server: the ones whose requests need no state the null server lacks. kafka,
// multi*, fanout, storm and lock need real versions, children or the watches of
// more than one znode kind; watch-500 needs only getData's watches (NullWatches).
func NullWorkload(name string) bool {
	w, ok := LookupWorkload(name)
	return ok && w.null
}
