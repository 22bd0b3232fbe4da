package session

import (
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"zkd/datatree"
	"zkd/jute"
)

// The audit log (zookeeper.audit.enable): one line per change a client makes
// through this server, per ephemeral node its session's end deletes on every
// server, and at start and stop, in ZooKeeper 3.8's words and order, as its
// Slf4jAuditLogger writes them with its default layout (%d{ISO8601} %p %c{2}: %m):
//
//	2026-12-07 03:03:37,169 INFO audit.Slf4jAuditLogger: session=0x1000260f8490000	user=127.0.0.1	ip=127.0.0.1	operation=create	znode=/a	znode_type=persistent	result=success
//
// Fields are tab-separated key=value pairs, absent ones left out: session, user
// (the connection's authenticated names, comma-separated), ip, operation, znode,
// znode_type (a create's mode), acl (setAcl's list), then result (success,
// failure; invoked at stop). Failures are logged at ERROR, the rest at INFO.
// Reads are not audited. Where ZooKeeper's choices are odd, they are kept: a
// setAcl's entries are written one after the other with no separator, a
// createTTL outside a multi is not logged, and inside a successful multi a
// create's znode_type is given only when its name is the one asked for (not a
// sequential or TTL create); a failed multi is one multiOperation line.

// AuditLog writes audit lines; safe for concurrent use.
type AuditLog struct {
	// started is set by ServerStarted: the ephemeral deletions replayed from the
	// log while the server starts were logged when first applied.
	started atomic.Bool
	mu      sync.Mutex
	w       io.Writer // guarded by mu
	user    string    // the server's own user: server events and ephemeral deletions
	now     func() time.Time
	buf     []byte // guarded by mu
}

// NewAuditLog writes audit lines to w. The server's own actions are logged in
// the name of the operating system user it runs as, as ZooKeeper's are.
func NewAuditLog(w io.Writer) *AuditLog {
	name, _ := osUser()
	return &AuditLog{w: w, user: name, now: time.Now}
}

// Audit operations and results (ZooKeeper's AuditConstants).
const (
	auditStart        = "serverStart"
	auditStop         = "serverStop"
	auditCreate       = "create"
	auditDelete       = "delete"
	auditSetData      = "setData"
	auditSetACL       = "setAcl"
	auditMulti        = "multiOperation"
	auditReconfig     = "reconfig"
	auditEphemeralEnd = "ephemeralZNodeDeletionOnSessionCloseOrExpire"

	auditSuccess = "success"
	auditFailure = "failure"
	auditInvoked = "invoked"
)

// auditEvent is one line's fields; empty ones are left out.
type auditEvent struct {
	session, user, ip, operation, znode, znodeType, acl, result string
}

// ServerStarted logs the server's start.
func (a *AuditLog) ServerStarted() {
	a.started.Store(true)
	a.log(auditEvent{user: a.user, operation: auditStart, result: auditSuccess})
}

// ServerStartFailed logs a start that failed.
func (a *AuditLog) ServerStartFailed() {
	a.log(auditEvent{user: a.user, operation: auditStart, result: auditFailure})
}

// ServerStopping logs the server's stop.
func (a *AuditLog) ServerStopping() {
	a.log(auditEvent{user: a.user, operation: auditStop, result: auditInvoked})
}

// EphemeralsDeleted logs the ephemeral nodes a session's end deleted (every
// server logs them, as each applies the end), once the server has started; it
// suits datatree.Config.EphemeralsDeleted.
func (a *AuditLog) EphemeralsDeleted(session jute.SessionID, paths []string) {
	if !a.started.Load() {
		return
	}
	for _, p := range paths {
		a.log(auditEvent{session: session.String(), user: a.user, operation: auditEphemeralEnd, znode: p,
			result: auditSuccess})
	}
}

// write logs a client's write once its result is known. body is the request
// as the client sent it (owned by the caller), reply the result's body.
func (a *AuditLog) write(c *Conn, op jute.OpCode, body []byte, res datatree.Result) {
	ev := auditEvent{session: c.sessionID().String(), user: auditUsers(c.Identity()), ip: c.ip, result: auditSuccess}
	if res.Err != jute.CodeOK {
		ev.result = auditFailure
	}
	d := jute.NewDecoder(body)
	switch op {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer:
		var r jute.CreateRequest
		r.Decode(&d)
		ev.operation, ev.znode, ev.znodeType = auditCreate, r.Path, createModeName(jute.CreateMode(r.Flags))
		if res.Err == jute.CodeOK {
			rd := jute.NewDecoder(res.Body)
			ev.znode = rd.String() // the name given: a sequential create's own
		}
	case jute.OpDelete:
		var r jute.PathVersionRequest
		r.Decode(&d)
		ev.operation, ev.znode = auditDelete, r.Path
	case jute.OpSetData:
		var r jute.SetDataRequest
		r.Decode(&d)
		ev.operation, ev.znode = auditSetData, r.Path
	case jute.OpSetACL:
		var r jute.SetACLRequest
		r.Decode(&d)
		ev.operation, ev.znode, ev.acl = auditSetACL, r.Path, aclString(r.ACL)
	case jute.OpReconfig:
		ev.operation = auditReconfig
		if res.Err == jute.CodeOK {
			ev.znode = "/zookeeper/config"
		}
	case jute.OpMulti:
		a.multi(ev, &d, res)
		return
	default:
		return
	}
	if d.Err() != nil {
		return // apply refused it as malformed; ZooKeeper audits no such request
	}
	a.log(ev)
}

// multi logs a successful multi's creates, deletes and setDatas one line each,
// or a failed one as one multiOperation line.
func (a *AuditLog) multi(ev auditEvent, d *jute.Decoder, res datatree.Result) {
	if res.Err != jute.CodeOK {
		ev.operation = auditMulti
		a.log(ev)
		return
	}
	var req jute.MultiRequest
	req.Decode(d)
	var resp jute.MultiResponse
	rd := jute.NewDecoder(res.Body)
	resp.Decode(&rd)
	if d.Err() != nil || rd.Err() != nil || len(resp.Results) != len(req.Ops) {
		return
	}
	failed := false
	for i, r := range resp.Results {
		op := req.Ops[i]
		sub := ev
		switch r.Type {
		case jute.OpCreate, jute.OpCreate2:
			sub.operation, sub.znode = auditCreate, r.Path
			if op.Type != jute.OpCreateTTL && r.Path == op.Path {
				sub.znodeType = createModeName(jute.CreateMode(op.Flags))
			}
		case jute.OpDelete:
			sub.operation, sub.znode = auditDelete, op.Path
		case jute.OpSetData:
			sub.operation, sub.znode = auditSetData, op.Path
		case jute.OpError:
			failed = true
			continue
		default:
			continue
		}
		a.log(sub)
	}
	if failed {
		ev.operation, ev.result = auditMulti, auditFailure
		a.log(ev)
	}
}

// log writes ev as one line.
func (a *AuditLog) log(ev auditEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.now().AppendFormat(a.buf[:0], "2006-01-02 15:04:05,000")
	if ev.result == auditFailure {
		b = append(b, " ERROR "...)
	} else {
		b = append(b, " INFO "...)
	}
	b = append(b, "audit.Slf4jAuditLogger: "...)
	for _, f := range [...]struct{ k, v string }{{"session", ev.session}, {"user", ev.user}, {"ip", ev.ip},
		{"operation", ev.operation}, {"znode", ev.znode}, {"znode_type", ev.znodeType}, {"acl", ev.acl}} {
		if f.v == "" {
			continue
		}
		b = append(b, f.k...)
		b = append(b, '=')
		b = appendAuditValue(b, f.v)
		b = append(b, '\t')
	}
	b = append(b, "result="...)
	b = append(b, ev.result...)
	b = append(b, '\n')
	a.buf = b
	_, _ = a.w.Write(b)
}

// appendAuditValue appends v without tabs and line breaks, which would forge
// fields or lines (ZooKeeper's AuditEvent.sanitize).
func appendAuditValue(b []byte, v string) []byte {
	if !strings.ContainsAny(v, "\t\n\r") {
		return append(b, v...)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c != '\t' && c != '\n' && c != '\r' {
			b = append(b, c)
		}
	}
	return b
}

// auditUsers is ZooKeeper's AuthUtil.getUsers: the names of the connection's
// ids in the order of ZooKeeper's set of them, comma-separated, without empty
// ones (the super id has none).
func auditUsers(id datatree.Identity) string {
	var b strings.Builder
	for _, x := range javaSetOrder(id) {
		if u := userName(x); u != "" {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(u)
		}
	}
	return b.String()
}

// aclString is ZooKeeper's ZKUtil.aclToString: scheme:id:perms per entry, the
// entries joined with nothing between them, perms in the order cdrwa.
func aclString(acl []jute.ACL) string {
	var b strings.Builder
	for _, e := range acl {
		b.WriteString(e.ID.Scheme)
		b.WriteByte(':')
		b.WriteString(e.ID.ID)
		b.WriteByte(':')
		for _, p := range [...]struct {
			bit int32
			c   byte
		}{{jute.PermCreate, 'c'}, {jute.PermDelete, 'd'}, {jute.PermRead, 'r'}, {jute.PermWrite, 'w'}, {jute.PermAdmin, 'a'}} {
			if e.Perms&p.bit != 0 {
				b.WriteByte(p.c)
			}
		}
	}
	return b.String()
}

// createModeName is CreateMode.toString().toLowerCase(); "" for a bad mode.
func createModeName(m jute.CreateMode) string {
	switch m {
	case jute.ModePersistent:
		return "persistent"
	case jute.ModeEphemeral:
		return "ephemeral"
	case jute.ModePersistentSequential:
		return "persistent_sequential"
	case jute.ModeEphemeralSequential:
		return "ephemeral_sequential"
	case jute.ModeContainer:
		return "container"
	case jute.ModePersistentWithTTL:
		return "persistent_with_ttl"
	case jute.ModePersistentSequentialWithTTL:
		return "persistent_sequential_with_ttl"
	}
	return ""
}
