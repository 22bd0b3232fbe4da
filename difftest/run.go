package difftest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"zkd/jute"
)

// Target is one server under test.
type Target struct {
	Name string // printed in reports: "zookeeper", "zkd"
	// Addr is host:port, or an ensemble's connect string (its members' client
	// addresses, separated by commas): session slot i then always connects to
	// member i mod n, so that writes are forwarded by followers and reads are
	// answered by followers. The barrier after every op (side.barrier) syncs
	// every slot, which brings each slot's member up to date with every write
	// acknowledged so far, so an ensemble answers as deterministically as a
	// single server does.
	Addr string
	// ZooKeeper380 marks Apache ZooKeeper 3.8.0, the reference. The behaviours in
	// which zkd deliberately follows a later 3.8 patch release (zkd's README
	// compatibility table) are normalised on this side only.
	ZooKeeper380 bool
}

// Config sets up runs.
type Config struct {
	Sessions       int           // session slots per run
	SessionTimeout time.Duration // requested session timeout
	IOTimeout      time.Duration // bound on every blocking socket operation; never an assertion
}

// DefaultConfig returns three sessions, a 30 s session timeout and a 10 s I/O bound.
func DefaultConfig() Config {
	return Config{Sessions: 3, SessionTimeout: 30 * time.Second, IOTimeout: 10 * time.Second}
}

// Validate reports an unusable configuration.
func (c *Config) Validate() error {
	if c.Sessions < 1 {
		return errors.New("difftest: need at least one session")
	}
	if c.SessionTimeout < time.Millisecond || c.IOTimeout <= 0 {
		return errors.New("difftest: session timeout and I/O timeout must be positive")
	}
	return nil
}

// Step is one server's normalised answer to one op.
type Step struct {
	Reply  string   // error code, header zxid and body, normalised
	Events []string // per session slot: the notifications it received during the step
	Notes  []string // normalisations applied to this answer, with their reason
	// Stalled is set when a connection of this server was given up during the
	// step because the server did not answer within Config.IOTimeout.
	Stalled bool
}

func (s *Step) equal(o *Step) bool {
	return s.Reply == o.Reply && slices.Equal(s.Events, o.Events)
}

// Trace is the outcome of one run on two targets.
type Trace struct {
	Names    [2]string
	Root     string
	Ops      []Op
	Setup    [2]Step   // creating the root
	Steps    [][2]Step // Steps[i] answers Ops[i]; the run stops at the first divergence
	Diverged int       // index of the first op answered differently, -1 if none
}

// Stalled reports whether a server stopped answering at the first divergence:
// a machine too loaded to run it, or a server that hangs, which running the
// sequence again tells apart.
func (tr *Trace) Stalled() bool {
	return tr.Diverged >= 0 && (tr.Steps[tr.Diverged][0].Stalled || tr.Steps[tr.Diverged][1].Stalled)
}

// Signature names the kind of the first divergence: the op, whether the reply or the
// events differ, and the two reply codes. Shrinking keeps it fixed, so a shrunk
// sequence shows the same problem, not another one found on the way.
func (tr *Trace) Signature() string {
	if tr.Diverged < 0 {
		return ""
	}
	op := tr.Ops[tr.Diverged]
	st := tr.Steps[tr.Diverged]
	first := func(s string) string { f, _, _ := strings.Cut(s, " "); return f }
	if st[0].Reply != st[1].Reply {
		return fmt.Sprintf("%v reply: %s vs %s", op.Code, first(st[0].Reply), first(st[1].Reply))
	}
	return fmt.Sprintf("%v events", op.Code)
}

// Run executes ops on both targets in lock step under root (which must not exist
// yet), with fresh sessions, and stops at the first op whose normalised answers
// differ. The error reports a failure of the test rig itself (a server that cannot
// be reached or refuses a new session), never a divergence.
func Run(cfg Config, targets [2]Target, root string, ops []Op) (*Trace, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tr := &Trace{Names: [2]string{targets[0].Name, targets[1].Name}, Root: root, Ops: ops, Diverged: -1}
	var sides [2]*side
	for i := range sides {
		sides[i] = &side{t: targets[i], cfg: cfg, root: root, v: newView(root),
			slots: make([]*conn, cfg.Sessions), gens: make([]int, cfg.Sessions)}
	}
	defer func() {
		both(func(i int) error { sides[i].teardown(); return nil })
	}()

	setup := Op{Code: jute.OpCreate, Path: "", Mode: int32(jute.ModePersistent), Data: []byte("root")}
	err := both(func(i int) error {
		s := sides[i]
		for slot := range s.slots {
			if err := s.open(slot); err != nil {
				return err
			}
		}
		st, err := s.step(setup)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(st.Reply, "ok ") {
			return fmt.Errorf("difftest: %s: create root %s: %s", s.t.Name, root, st.Reply)
		}
		tr.Setup[i] = st
		return nil
	})
	if err != nil {
		return nil, err
	}

	for n, op := range ops {
		var st [2]Step
		if err := both(func(i int) (err error) { st[i], err = sides[i].step(op); return err }); err != nil {
			return nil, fmt.Errorf("op %d (%v): %w", n+1, op, err)
		}
		tr.Steps = append(tr.Steps, st)
		if !st[0].equal(&st[1]) {
			tr.Diverged = n
			break
		}
	}
	return tr, nil
}

// both runs f(0) and f(1) concurrently and returns the first error.
func both(f func(i int) error) error {
	var wg sync.WaitGroup
	var errs [2]error
	wg.Add(1)
	go func() { defer wg.Done(); errs[1] = f(1) }()
	errs[0] = f(0)
	wg.Wait()
	return errors.Join(errs[0], errs[1])
}

// side is one target's half of a run: its sessions and its normalisation state.
// It is used by one goroutine at a time.
type side struct {
	t     Target
	cfg   Config
	root  string
	v     *view
	slots []*conn // current connection of each session slot
	gens  []int   // sessions opened so far in each slot
}

// member returns the client address session slot i connects to.
func (t *Target) member(i int) string {
	addrs := strings.Split(t.Addr, ",")
	return addrs[i%len(addrs)]
}

// open starts a new session in slot i, replacing (and closing) the slot's old
// connection; notifications already read on the old one are kept.
func (s *side) open(i int) error {
	c, ok, err := dialSession(s.t.member(i), s.cfg.IOTimeout, int32(s.cfg.SessionTimeout.Milliseconds()), 0, nil)
	if err != nil {
		return fmt.Errorf("difftest: %s: open session in slot %d: %w", s.t.Name, i, err)
	}
	if !ok {
		return fmt.Errorf("difftest: %s: new session in slot %d refused", s.t.Name, i)
	}
	if old := s.slots[i]; old != nil {
		c.events = old.takeEvents()
		old.close()
	}
	s.v.labels[c.sid] = fmt.Sprintf("s%d.%d", i, s.gens[i])
	s.gens[i]++
	s.slots[i] = c
	return nil
}

// recoverSlot replaces slot i after the server closed its connection. The session
// itself may still be alive (after AUTHFAILED, for instance), and its ephemerals
// would then vanish whenever it expires, at a time no test controls; so it is
// reattached and closed now, the same way on both servers.
func (s *side) recoverSlot(i int) (string, error) {
	old := s.slots[i]
	note := old.closedHow()
	c, ok, err := dialSession(s.t.member(i), s.cfg.IOTimeout, int32(s.cfg.SessionTimeout.Milliseconds()), old.sid, old.passwd)
	switch {
	case err != nil:
		return "", fmt.Errorf("difftest: %s: reattach session in slot %d: %w", s.t.Name, i, err)
	case !ok:
		note += "; session already gone"
	default:
		rep, err := c.call(0, jute.OpCloseSession, nil)
		c.close()
		switch {
		case err != nil:
			note += "; reattached, closeSession: " + err.Error()
		case rep.hdr.Err != jute.CodeOK:
			note += "; reattached, closeSession: " + codeName(rep.hdr.Err)
		default:
			s.v.addWrite(int64(rep.hdr.Zxid))
			note += "; reattached and closed"
		}
	}
	return note, s.open(i)
}

// step runs one op and the barrier after it and returns the normalised answer.
func (s *side) step(op Op) (Step, error) {
	var st Step
	c := s.slots[op.Session]
	req := op
	// README compatibility table, row "exists on a node without READ": ZooKeeper
	// 3.8.0 answers exists with the Stat when the caller lacks READ (and registers
	// the watch); zkd answers NOAUTH and registers nothing, as 3.8.4+ does. On the
	// reference only, READ is probed first with a watchless getData; if it is denied
	// the exists is sent without a watch and its Stat reply is reported as NOAUTH.
	denied := false
	if s.t.ZooKeeper380 && op.Code == jute.OpExists {
		probe := jute.PathWatchRequest{Path: s.root + op.Path}
		rep, err := c.call(0, jute.OpGetData, probe.Append(nil))
		if err != nil && !errors.Is(err, errClosed) {
			return st, err
		}
		if err == nil && rep.hdr.Err == jute.CodeNoAuth {
			denied, req.Watch = true, false
		}
	}

	xid, code, body := req.request(s.root)
	rep, err := c.call(xid, code, body)
	switch {
	case errors.Is(err, errClosed):
		st.Reply = "no reply, " + c.closedHow()
	case err != nil:
		return st, err
	default:
		write := succeeded(op, rep)
		if write {
			s.v.addWrite(int64(rep.hdr.Zxid))
		}
		if denied && rep.hdr.Err == jute.CodeOK {
			rep = reply{hdr: jute.ReplyHeader{Xid: rep.hdr.Xid, Zxid: rep.hdr.Zxid, Err: jute.CodeNoAuth}}
			st.Notes = append(st.Notes, "exists Stat without READ reported as NOAUTH (README: exists on a node without READ)")
		}
		st.Reply = s.v.reply(op, rep, write)
		if op.Code == jute.OpCloseSession && rep.hdr.Err == jute.CodeOK {
			if err := s.open(op.Session); err != nil {
				return st, err
			}
		}
	}
	if len(s.v.notes) > 0 {
		st.Reply += " [" + strings.Join(s.v.notes, "; ") + "]"
		s.v.notes = nil
	}

	st.Stalled = c.silent
	closed, stalled, err := s.barrier()
	if err != nil {
		return st, err
	}
	st.Stalled = st.Stalled || stalled
	// A closing session's ephemerals are deleted by one txn, and ZooKeeper deletes
	// them in the order of a hash set (the session's ephemeral paths), so the order
	// of the events of one session close carries no meaning: they are sorted.
	sessionClosed := op.Code == jute.OpCloseSession || slices.ContainsFunc(closed, func(s string) bool { return s != "" })
	if sessionClosed {
		st.Notes = append(st.Notes, "events sorted: a session close deletes its ephemerals in hash-set order")
	}
	st.Events = make([]string, len(s.slots))
	for i, c := range s.slots {
		st.Events[i] = s.v.events(c.takeEvents(), sessionClosed)
		if closed[i] != "" {
			st.Events[i] += " (" + closed[i] + ")"
		}
	}
	return st, nil
}

// barrier sends sync on every session and reads up to its reply, so that every
// notification caused by the op has arrived: a server sends an event before any
// reply that reflects the change. Slots whose connection the server closed are
// recovered, and the barrier repeats so the events of the recovery are in too.
// stalled says whether a slot was given up for want of an answer.
func (s *side) barrier() (closed []string, stalled bool, err error) {
	closed = make([]string, len(s.slots))
	sync := jute.PathRequest{Path: s.root}
	body := sync.Append(nil)
	for range 3 {
		recovered := false
		for i, c := range s.slots {
			_, err := c.call(0, jute.OpSync, body)
			if err == nil {
				continue
			}
			if !errors.Is(err, errClosed) {
				return nil, false, fmt.Errorf("difftest: %s: sync on slot %d: %w", s.t.Name, i, err)
			}
			stalled = stalled || c.silent
			note, err := s.recoverSlot(i)
			if err != nil {
				return nil, false, err
			}
			closed[i] = strings.TrimPrefix(closed[i]+"; "+note, "; ")
			recovered = true
		}
		if !recovered {
			return closed, stalled, nil
		}
	}
	return nil, false, fmt.Errorf("difftest: %s: connections keep closing during the barrier", s.t.Name)
}

// teardown closes every session, so their ephemerals go now.
func (s *side) teardown() {
	for _, c := range s.slots {
		if c == nil || c.closed {
			continue
		}
		_, _ = c.call(0, jute.OpCloseSession, nil)
		c.close()
	}
}
