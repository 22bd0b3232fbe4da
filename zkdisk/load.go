package zkdisk

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"zkd/datatree"
	"zkd/jute"
)

// LoadOptions say where a ZooKeeper database is and how to read it.
type LoadOptions struct {
	// DataDir is ZooKeeper's dataDir: snapshots are in DataDir/version-2.
	DataDir string
	// LogDir is dataLogDir: logs are in LogDir/version-2 ("" means DataDir).
	LogDir string
	// NoVerifyDigest turns digest mismatches into warnings instead of errors.
	NoVerifyDigest bool
	// TrustEmptySnapshot replays logs found without any snapshot onto an empty
	// tree (zookeeper.snapshot.trust.empty); otherwise that is ErrNoSnapshot.
	TrustEmptySnapshot bool
	ReadOptions
}

func (o LoadOptions) logDir() string {
	if o.LogDir != "" {
		return o.LogDir
	}
	return o.DataDir
}

// maxSnapshotsTried is how many snapshots, newest first, are tried before giving
// up, as ZooKeeper's FileSnap does.
const maxSnapshotsTried = 100

// Summary describes a loaded ZooKeeper database, or an export.
type Summary struct {
	Snapshot     string // the snapshot file used ("" for none)
	SnapshotZxid int64
	LogFiles     []string // log files read
	Txns         int64    // txns replayed (zxid above the snapshot's)
	LastZxid     int64
	Znodes       int64
	Sessions     int
	Ephemerals   int
	DataBytes    int64  // sum of the znodes' data lengths
	FileBytes    int64  // bytes of ZooKeeper's files read (import) or written (export)
	Output       string // the file written
	OutputBytes  int64
	Digest       uint64
	// DigestChecks counts the digests ZooKeeper stored that were compared;
	// DigestMismatches those that differed (only with NoVerifyDigest).
	DigestChecks     int
	DigestMismatches int
	Elapsed          time.Duration
	Warnings         []string
	// Source is where an online export took its snapshot from (the snapshot
	// command's URL) and SourceBytes the stream's size; "" otherwise.
	Source      string
	SourceBytes int64
}

// WriteTo prints the summary for a person.
func (s *Summary) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	if s.Snapshot != "" {
		fmt.Fprintf(&b, "  snapshot     %s (zxid 0x%x)\n", s.Snapshot, s.SnapshotZxid)
	}
	if s.Source != "" {
		fmt.Fprintf(&b, "  downloaded   %s (%s, zkd snapshot format, checked)\n", s.Source, formatBytes(s.SourceBytes))
	}
	if len(s.LogFiles) > 0 {
		fmt.Fprintf(&b, "  logs         %d files, %d txns replayed\n", len(s.LogFiles), s.Txns)
	}
	fmt.Fprintf(&b, "  last zxid    0x%x\n", s.LastZxid)
	fmt.Fprintf(&b, "  znodes       %d\n", s.Znodes)
	fmt.Fprintf(&b, "  sessions     %d (%d ephemerals)\n", s.Sessions, s.Ephemerals)
	fmt.Fprintf(&b, "  data         %s in znodes, %s of ZooKeeper files\n", formatBytes(s.DataBytes), formatBytes(s.FileBytes))
	if s.Output != "" {
		fmt.Fprintf(&b, "  wrote        %s (%s)\n", s.Output, formatBytes(s.OutputBytes))
	}
	switch {
	case s.DigestMismatches > 0:
		fmt.Fprintf(&b, "  digest       %d (%d of %d checks against ZooKeeper's MISMATCHED)\n", s.Digest, s.DigestMismatches, s.DigestChecks)
	case s.DigestChecks > 0:
		fmt.Fprintf(&b, "  digest       %d (matches ZooKeeper's at %d points)\n", s.Digest, s.DigestChecks)
	default:
		fmt.Fprintf(&b, "  digest       %d\n", s.Digest)
	}
	if s.Elapsed > 0 {
		fmt.Fprintf(&b, "  took         %v\n", s.Elapsed.Round(time.Millisecond))
	}
	for _, w := range s.Warnings {
		fmt.Fprintf(&b, "  warning      %s\n", w)
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// DB is a ZooKeeper database loaded from disk: the tree, sessions and zxid that
// ZooKeeper would serve after starting on the same files.
type DB struct {
	t       *zkTree
	Summary Summary
}

// Load reads the newest valid snapshot of opt.DataDir and replays the logs of
// opt.LogDir after it, as ZooKeeper's start-up does (FileTxnSnapLog.restore, then
// ZooKeeperServer.loadData's removal of ephemerals whose session is gone). It
// checks every digest ZooKeeper stored: the snapshot's digest section once the
// replay reaches its zxid, and each txn's digest after that.
func Load(opt LoadOptions) (*DB, error) {
	start := time.Now()
	snapDir := filepath.Join(opt.DataDir, VersionDir)
	logDir := filepath.Join(opt.logDir(), VersionDir)
	snaps, err := ListSnapshots(snapDir)
	if err != nil {
		return nil, fmt.Errorf("zkdisk: %w", err)
	}
	logs, err := ListLogs(logDir)
	if err != nil {
		return nil, fmt.Errorf("zkdisk: %w", err)
	}
	if len(snaps) == 0 && len(logs) == 0 {
		if logDir == snapDir {
			return nil, fmt.Errorf("%w: no snapshot.* or log.* files in %s", ErrNoData, snapDir)
		}
		return nil, fmt.Errorf("%w: no snapshot.* files in %s and no log.* files in %s", ErrNoData, snapDir, logDir)
	}
	db := &DB{}
	sum := &db.Summary
	var pending *ZxidDigest // the snapshot's digest, to check once the replay reaches its zxid
	var failures []error
	tried := 0
	for _, s := range snaps {
		if tried == maxSnapshotsTried {
			break
		}
		if err := QuickCheck(s); err != nil {
			sum.Warnings = append(sum.Warnings, fmt.Sprintf("skipped %s: %v", s.Path, err))
			continue
		}
		tried++
		t, info, err := loadSnapshot(s, opt.ReadOptions)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) {
				return nil, err
			}
			// ZooKeeper falls back to the snapshot before; the logs must then cover
			// the difference, which the replay checks.
			failures = append(failures, err)
			sum.Warnings = append(sum.Warnings, fmt.Sprintf("skipped unreadable snapshot: %v", err))
			continue
		}
		db.t = t
		sum.Snapshot, sum.SnapshotZxid = s.Path, s.Zxid
		sum.FileBytes += s.Size
		pending = info.Digest
		break
	}
	if db.t == nil {
		if len(failures) > 0 {
			return nil, fmt.Errorf("zkdisk: no readable snapshot in %s: %w", snapDir, errors.Join(failures...))
		}
		if len(snaps) > 0 {
			return nil, fmt.Errorf("%w: no snapshot in %s passes ZooKeeper's validity check", ErrCorrupt, snapDir)
		}
		if !opt.TrustEmptySnapshot {
			return nil, fmt.Errorf("%w: %s has logs but no snapshot; ZooKeeper refuses this too unless "+
				"zookeeper.snapshot.trust.empty is set (here: --trust-empty-snapshot)", ErrNoSnapshot, logDir)
		}
		db.t = newEmptyZkTree()
	}
	t := db.t
	dc := &digestChecks{opt: opt, sum: sum, t: t}
	if pending != nil {
		switch {
		case pending.Zxid < sum.SnapshotZxid:
			// ZooKeeper ignores it too: the digest predates the snapshot's start.
			pending = nil
		case pending.Zxid == sum.SnapshotZxid:
			dc.snapshot(*pending)
			pending = nil
		}
	}
	if err := db.replay(opt, logs, &pending, dc); err != nil {
		return nil, err
	}
	if err := dc.finish(); err != nil {
		return nil, err
	}
	if pending != nil {
		sum.Warnings = append(sum.Warnings, fmt.Sprintf("the logs end at 0x%x, before the snapshot digest's zxid 0x%x: that digest was not checked",
			t.lastZxid, pending.Zxid))
	}
	// ZooKeeperServer.loadData: ephemerals of sessions the database no longer has
	// are deleted at start-up.
	var dead []int64
	for owner := range t.ephemerals {
		if _, ok := t.sessions[owner]; !ok {
			dead = append(dead, owner)
		}
	}
	slices.Sort(dead)
	for _, owner := range dead {
		n := len(t.ephemerals[owner])
		t.killSession(owner, t.lastZxid, nil)
		sum.Warnings = append(sum.Warnings, fmt.Sprintf("deleted %d ephemerals of session 0x%x, which is not open (as ZooKeeper does at start-up)", n, owner))
	}
	if t.nodes["/zookeeper/config"] == nil && t.nodes["/zookeeper"] != nil {
		t.addConfigNode()
	}
	sum.LastZxid = t.lastZxid
	sum.Digest = t.digest
	sum.Sessions = len(t.sessions)
	db.count()
	sum.Elapsed = time.Since(start)
	return db, nil
}

// loadSnapshot reads one snapshot file into a fresh tree.
func loadSnapshot(s SnapshotFile, ropt ReadOptions) (*zkTree, *SnapshotInfo, error) {
	t := newZkTree()
	// A hint against rehashing a large map many times: real nodes take about
	// 150 bytes of snapshot each (path, stat, a little data).
	t.nodes = make(map[string]*znode, min(s.Size/150, 1<<24))
	info, err := ReadSnapshotFile(s.Path, ropt, t.addSnapNode)
	if err != nil {
		return nil, nil, err
	}
	if t.nodes["/"] == nil {
		return nil, nil, &FileError{File: s.Path, Offset: info.Bytes, Err: fmt.Errorf("%w: no root node", ErrCorrupt)}
	}
	for _, si := range info.Sessions {
		t.sessions[int64(si.ID)] = si.Timeout
	}
	t.setupQuota()
	t.lastZxid = s.Zxid
	return t, info, nil
}

// addSnapNode adds a node read from a snapshot, as DataTree.deserialize does:
// its parent must be there already.
func (t *zkTree) addSnapNode(n *SnapNode) error {
	path := n.Path
	switch {
	case path == "":
		path = "/"
	case !strings.HasPrefix(path, "/"):
		return fmt.Errorf("%w: node path %q does not start with '/'", ErrCorrupt, path)
	}
	if t.nodes[path] != nil {
		return fmt.Errorf("%w: node %q twice", ErrCorrupt, n.Path)
	}
	if path != "/" {
		if parent, _ := splitPath(path); t.nodes[parent] == nil {
			return fmt.Errorf("%w: node %q comes before its parent (ZooKeeper: Invalid Datatree)", ErrCorrupt, path)
		}
	}
	acl, ok := t.snapACLs[n.ACLIndex]
	if !ok {
		acl = t.intern(n.ACL)
		t.snapACLs[n.ACLIndex] = acl
	}
	st := &n.Stat
	t.insert(&znode{img: datatree.NodeImage{Path: path, Data: n.Data, ACL: acl,
		Czxid: st.Czxid, Mzxid: st.Mzxid, Ctime: st.Ctime, Mtime: st.Mtime,
		Version: st.Version, Cversion: st.Cversion, Aversion: st.Aversion,
		Owner: st.EphemeralOwner, Pzxid: st.Pzxid}})
	t.trackOwner(path, st.EphemeralOwner, true)
	return nil
}

// replay applies the log records after the snapshot: from the newest log file
// starting at or below the snapshot's zxid, every record above it (§2.5).
func (db *DB) replay(opt LoadOptions, logs []LogFile, pending **ZxidDigest, dc *digestChecks) error {
	t, sum := db.t, &db.Summary
	from := t.lastZxid + 1
	first := 0
	for i := len(logs) - 1; i >= 0; i-- {
		if logs[i].Zxid < from {
			first = i
			break
		}
	}
	prev := t.lastZxid
	started := false
	for i := first; i < len(logs); i++ {
		lf := logs[i]
		r, err := OpenLog(lf.Path, opt.ReadOptions)
		if err != nil {
			return err
		}
		sum.LogFiles = append(sum.LogFiles, lf.Path)
		sum.FileBytes += lf.Size
		report := func(at int64) {
			if opt.Progress != nil {
				opt.Progress(Progress{Phase: PhaseLog, File: lf.Path, Txns: sum.Txns, Bytes: at, Total: r.Size()})
			}
		}
		report(r.Offset())
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				r.Close()
				return err
			}
			h := &rec.Txn.Header
			if !started && h.Zxid < from {
				continue // in the snapshot already (ZooKeeper's fast-forward)
			}
			started = true
			if err := checkNext(prev, h.Zxid); err != nil {
				r.Close()
				return &FileError{File: lf.Path, Offset: rec.Offset, Err: err}
			}
			prev = h.Zxid
			if h.Type == jute.OpCheck {
				sum.Warnings = append(sum.Warnings, fmt.Sprintf("%s zxid 0x%x: a standalone check txn (ZooKeeper 3.8.0-3.8.4 wrote these and cannot read them back); read as no change", lf.Path, h.Zxid))
			}
			if _, err := t.apply(rec.Txn); err != nil {
				r.Close()
				return &FileError{File: lf.Path, Offset: rec.Offset, Err: err}
			}
			sum.Txns++
			atSnapshotDigest := false
			if p := *pending; p != nil && h.Zxid == p.Zxid {
				*pending = nil
				dc.snapshot(*p)
				// This txn's digest is the same tree digest: if the snapshot's did
				// not match, neither can this one, for the same reason.
				atSnapshotDigest = dc.unsettled != nil
			}
			// While the replay is inside the fuzzy range of the snapshot (before its
			// digest's zxid) the tree may differ from any real state: ZooKeeper does
			// not compare txn digests there either.
			if d := rec.Txn.Digest; d != nil && *pending == nil && !atSnapshotDigest {
				if err := dc.txn(lf.Path, ZxidDigest{Zxid: h.Zxid, Version: d.Version, Digest: d.TreeDigest}); err != nil {
					r.Close()
					return err
				}
			}
			if sum.Txns%progressEvery == 0 {
				report(r.Offset())
			}
		}
		report(r.Size()) // the rest is padding or a torn record: the file is done
		why, at := r.End()
		r.Close()
		if why == LogEndTorn {
			msg := fmt.Sprintf("%s: a torn record at offset %d ends the file's data", lf.Path, at)
			if i < len(logs)-1 {
				msg += " (not the last log file: ZooKeeper goes on with the next file, and so does this import)"
			}
			sum.Warnings = append(sum.Warnings, msg)
		}
	}
	return nil
}

// digestChecks compares the running tree digest with the ones ZooKeeper stored.
//
// The snapshot's digest section is the tree digest at its zxid D, recorded after
// the nodes were written; while they were, the one txn being applied (D+1: txns
// are applied one at a time, and D+1 had not recorded its digest yet) may have
// changed nodes already. So a snapshot digest that does not match may mean a
// half-included D+1, which its replay completes: the txn digests logged after it
// decide. ZooKeeper's own load counts such a case as a mismatch and goes on.
type digestChecks struct {
	opt LoadOptions
	sum *Summary
	t   *zkTree
	// unsettled is a snapshot digest that did not match; settled once a later
	// txn digest matches.
	unsettled *ZxidDigest
	after     int // txn digests checked since unsettled was set
}

// snapshot compares the snapshot's digest section, at its zxid.
func (d *digestChecks) snapshot(want ZxidDigest) {
	if want.Version != datatree.DigestVersion {
		d.sum.Warnings = append(d.sum.Warnings, fmt.Sprintf("%s: digest version %d not checked", d.sum.Snapshot, want.Version))
		return
	}
	d.sum.DigestChecks++
	if d.t.digest != want.Digest {
		d.sum.DigestChecks--
		d.unsettled, d.after = &want, 0
	}
}

// txn compares a txn's digest.
func (d *digestChecks) txn(file string, want ZxidDigest) error {
	if want.Version != datatree.DigestVersion {
		d.sum.Warnings = append(d.sum.Warnings, fmt.Sprintf("%s zxid 0x%x: digest version %d not checked", file, want.Zxid, want.Version))
		return nil
	}
	d.sum.DigestChecks++
	d.after++
	if d.t.digest == want.Digest {
		return nil
	}
	msg := fmt.Sprintf("%s zxid 0x%x: tree digest %d, ZooKeeper recorded %d", file, want.Zxid, d.t.digest, want.Digest)
	if !d.opt.NoVerifyDigest {
		return fmt.Errorf("%w: %s (--no-verify-digest imports anyway)", ErrDigestMismatch, msg)
	}
	d.sum.DigestMismatches++
	d.sum.Warnings = append(d.sum.Warnings, "digest mismatch: "+msg)
	return nil
}

// finish settles a snapshot digest that did not match.
func (d *digestChecks) finish() error {
	u := d.unsettled
	if u == nil {
		return nil
	}
	if d.after > 0 {
		d.sum.Warnings = append(d.sum.Warnings, fmt.Sprintf("%s: its digest (zxid 0x%x) was recorded while txn 0x%x was changing the nodes; "+
			"the digests logged after that txn match", d.sum.Snapshot, u.Zxid, u.Zxid+1))
		return nil
	}
	msg := fmt.Sprintf("%s: its digest section (zxid 0x%x) does not match its nodes, and no later txn carries a digest to settle it", d.sum.Snapshot, u.Zxid)
	if !d.opt.NoVerifyDigest {
		return fmt.Errorf("%w: %s (--no-verify-digest imports anyway)", ErrDigestMismatch, msg)
	}
	d.sum.DigestMismatches++
	d.sum.Warnings = append(d.sum.Warnings, "digest mismatch: "+msg)
	return nil
}

// checkNext reports a zxid that does not follow prev: within an epoch the
// counter goes up by one per txn (error txns included), so a jump means txns are
// missing from the logs; a new epoch may start anywhere above the old.
func checkNext(prev, zxid int64) error {
	switch {
	case zxid <= prev:
		return fmt.Errorf("%w: zxid 0x%x does not follow 0x%x", ErrCorrupt, zxid, prev)
	case zxid>>32 == prev>>32 && zxid != prev+1:
		return fmt.Errorf("%w: after zxid 0x%x the next txn is 0x%x (a purged or missing log file?)", ErrLogGap, prev, zxid)
	}
	return nil
}

// count fills the summary's counts from the nodes reachable from the root.
func (db *DB) count() {
	t, sum := db.t, &db.Summary
	sum.Znodes, sum.Ephemerals, sum.DataBytes = 0, 0, 0
	orphans := len(t.nodes)
	t.walk(func(n *znode) {
		sum.Znodes++
		sum.DataBytes += int64(len(n.img.Data))
		if isSessionOwner(n.img.Owner) {
			sum.Ephemerals++
		}
	})
	if orphans -= int(sum.Znodes); orphans > 0 {
		sum.Warnings = append(sum.Warnings, fmt.Sprintf("%d znodes whose parent a replayed delete removed are left out (ZooKeeper's next snapshot would drop them too)", orphans))
	}
}

// walk calls fn for every node reachable from the root, parents first.
func (t *zkTree) walk(fn func(*znode)) {
	var stack []*znode
	if r := t.nodes["/"]; r != nil {
		stack = append(stack, r)
	}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range n.children {
			stack = append(stack, c)
		}
		fn(n)
	}
}

// Sessions returns the open sessions, by id.
func (db *DB) Sessions() []datatree.SessionImage {
	out := make([]datatree.SessionImage, 0, len(db.t.sessions))
	for id, to := range db.t.sessions {
		out = append(out, datatree.SessionImage{ID: jute.SessionID(id), Timeout: to})
	}
	slices.SortFunc(out, func(a, b datatree.SessionImage) int { return cmpInt(int64(a.ID), int64(b.ID)) })
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Restore builds zkd's tree from the database, at zxid LastZxid. It consumes the
// DB: each node is released as soon as the tree has its own copy, so the two are
// never both whole in memory.
func (db *DB) Restore(cfg datatree.Config, progress func(Progress)) (*datatree.Tree, error) {
	t := db.t
	if t == nil {
		return nil, errors.New("zkdisk: database already restored")
	}
	db.t = nil
	sessions := make([]datatree.SessionImage, 0, len(t.sessions))
	for id, to := range t.sessions {
		sessions = append(sessions, datatree.SessionImage{ID: jute.SessionID(id), Timeout: to})
	}
	// The walk holds the only references left: each node becomes garbage once
	// the tree has copied it and its children are on the stack.
	stack := []*znode{t.nodes["/"]}
	t.nodes = nil
	var img datatree.NodeImage
	var done int64
	next := func() (*datatree.NodeImage, error) {
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack[len(stack)-1] = nil
			stack = stack[:len(stack)-1]
			if n == nil {
				continue
			}
			for _, c := range n.children {
				stack = append(stack, c)
			}
			img = n.img
			n.children, n.img = nil, datatree.NodeImage{}
			done++
			if progress != nil && done%progressEvery == 0 {
				progress(Progress{Phase: PhaseRestore, Nodes: done, TotalNodes: db.Summary.Znodes})
			}
			return &img, nil
		}
		return nil, nil
	}
	tree, err := datatree.Restore(cfg, jute.Zxid(t.lastZxid), sessions, next)
	if err != nil {
		return nil, fmt.Errorf("zkdisk: %w", err)
	}
	if progress != nil {
		progress(Progress{Phase: PhaseRestore, Nodes: done, TotalNodes: db.Summary.Znodes})
	}
	return tree, nil
}
