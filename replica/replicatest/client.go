package replicatest

import (
	"math/rand/v2"

	"zkd/datatree"
	"zkd/jute"
	"zkd/replica"
)

// Client is a ZooKeeper session as the replica sees it: a session attached to
// one member through one connection, whose writes are numbered in order. It
// stands in for the session layer in cluster tests.
type Client struct {
	c       *Cluster
	Member  uint64
	Session jute.SessionID
	Timeout int32
	// Local marks a local session: only its member knows it, and its writes
	// say so (datatree.Txn.Local).
	Local bool
	conn  uint64
	seq   uint64
	rng   *rand.Rand
	// Identity is what the client's writes are checked against (nil: anyone).
	Identity datatree.Identity
}

// Outcome is what became of one proposal. Done is false while it is pending.
type Outcome struct {
	Done bool
	Zxid jute.Zxid
	Res  datatree.Result
	Err  error
}

// Pending reports whether the proposal has not finished.
func (o *Outcome) Pending() bool { return !o.Done }

// NewClient creates a session on member with timeout (ms) and waits until it is
// applied there. Like a real client it tries again, with a new session, when
// the attempt is lost (a lossy network, a leader change).
func (c *Cluster) NewClient(member uint64, timeout int32) *Client {
	c.t.Helper()
	cl := &Client{c: c, Member: member, Timeout: timeout, rng: rand.New(rand.NewPCG(c.rng.Uint64(), 1))}
	m := c.members[member]
	var o *Outcome
	for range 10 {
		cl.conn = cl.rng.Uint64() | 1
		cl.Session = m.Rep.NewSessionID()
		o = cl.propose(&datatree.Txn{Kind: datatree.KindCreateSession, Session: cl.Session, Timeout: timeout, Conn: cl.conn})
		c.RunUntil("the session is created", 5000, func() bool { return o.Done })
		if o.Err == nil && o.Res.Err == jute.CodeOK {
			return cl
		}
		c.Run(50)
	}
	c.t.Fatalf("replicatest: create session on %d: %v %v", member, o.Err, o.Res.Err)
	return nil
}

// NewLocalClient starts a local session on member (localSessionsEnabled):
// nothing is replicated; the member expires it when it is not pinged.
func (c *Cluster) NewLocalClient(member uint64, timeout int32) *Client {
	cl := &Client{c: c, Member: member, Timeout: timeout, Local: true, rng: rand.New(rand.NewPCG(c.rng.Uint64(), 1))}
	m := c.members[member]
	cl.conn = cl.rng.Uint64() | 1
	cl.Session = m.Rep.NewSessionID()
	m.Rep.TrackLocalSession(cl.Session, timeout)
	return cl
}

// Move attaches the session to another member through a new connection, as a
// client does after losing its server; it waits for the attach to apply there.
func (cl *Client) Move(member uint64) *Outcome {
	cl.Member = member
	cl.conn = cl.rng.Uint64() | 1
	cl.seq = 0
	o := cl.propose(&datatree.Txn{Kind: datatree.KindAttach, Session: cl.Session, Timeout: cl.Timeout, Conn: cl.conn})
	cl.c.RunUntil("the attach finishes", 5000, func() bool { return o.Done })
	return o
}

// Ping records client activity for the member's next touch report.
func (cl *Client) Ping() {
	if m := cl.c.members[cl.Member]; m.Up {
		if m.touched == nil {
			m.touched = make(map[jute.SessionID]bool)
		}
		m.touched[cl.Session] = true
	}
}

// Write proposes a client write (op with its encoded request body).
func (cl *Client) Write(op jute.OpCode, body []byte) *Outcome {
	cl.seq++
	return cl.propose(&datatree.Txn{Kind: datatree.KindRequest, Session: cl.Session, Op: op, Body: body,
		Conn: cl.conn, ConnSeq: cl.seq, Time: cl.c.Clock.Now().UnixMilli(), Local: cl.Local, Identity: cl.Identity})
}

// Super is the identity of a client authenticated as the super user.
var Super = datatree.Identity{{Scheme: "super", ID: ""}}

// Reconfig sends a reconfig request; a nil list is sent as a null string.
func (cl *Client) Reconfig(joining, leaving, newMembers *string, curConfigID int64) *Outcome {
	var b []byte
	for _, s := range []*string{joining, leaving, newMembers} {
		if s == nil {
			b = jute.AppendInt(b, -1)
		} else {
			b = jute.AppendString(b, *s)
		}
	}
	return cl.Write(jute.OpReconfig, jute.AppendLong(b, curConfigID))
}

// Str returns a pointer to s, for Reconfig's lists.
func Str(s string) *string { return &s }

// Create writes a persistent (or, with mode, another kind of) node.
func (cl *Client) Create(path string, data []byte, mode jute.CreateMode) *Outcome {
	return cl.Write(jute.OpCreate, (&jute.CreateRequest{Path: path, Data: data, ACL: jute.OpenACLUnsafe, Flags: int32(mode)}).Append(nil))
}

// SetData writes data at path with an expected version (-1: any).
func (cl *Client) SetData(path string, data []byte, version int32) *Outcome {
	return cl.Write(jute.OpSetData, (&jute.SetDataRequest{Path: path, Data: data, Version: version}).Append(nil))
}

// Close closes the session.
func (cl *Client) Close() *Outcome {
	cl.seq++
	return cl.propose(&datatree.Txn{Kind: datatree.KindCloseSession, Session: cl.Session, Conn: cl.conn, ConnSeq: cl.seq})
}

func (cl *Client) propose(txn *datatree.Txn) *Outcome {
	o := &Outcome{}
	m := cl.c.members[cl.Member]
	if !m.Up {
		o.Done, o.Err = true, replica.ErrStopped
		return o
	}
	err := m.Rep.Propose(*txn, nil, func(zxid jute.Zxid, res datatree.Result, err error) {
		o.Done, o.Zxid, o.Res, o.Err = true, zxid, res, err
	})
	if err != nil {
		o.Done, o.Err = true, err
	}
	return o
}

// Sync asks member for a sync; the outcome is done once it has applied
// everything committed before it.
func (c *Cluster) Sync(member uint64) *Outcome {
	o := &Outcome{}
	m := c.members[member]
	if err := m.Rep.Sync(func(err error) { o.Done, o.Err, o.Zxid = true, err, m.Rep.Applied() }); err != nil {
		o.Done, o.Err = true, err
	}
	return o
}
