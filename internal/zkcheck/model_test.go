package zkcheck

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// Constructors for hand-written histories: session s, times [c, r].

func tcreate(s, k int, data string, c, r int64, code Code) Op {
	return Op{Client: s, In: Input{Session: s, Kind: KindCreate, Key: k, Data: data}, Out: Output{Code: code}, Call: c, Return: r}
}

func tset(s, k int, data string, ver int32, c, r int64, code Code, newVer int32) Op {
	return Op{Client: s, In: Input{Session: s, Kind: KindSet, Key: k, Data: data, Version: ver},
		Out: Output{Code: code, Version: newVer}, Call: c, Return: r}
}

func tdel(s, k int, ver int32, c, r int64, code Code) Op {
	return Op{Client: s, In: Input{Session: s, Kind: KindDelete, Key: k, Version: ver}, Out: Output{Code: code}, Call: c, Return: r}
}

// tget is a plain getData; data "" means NONODE.
func tget(s, k int, c, r int64, data string, ver int32) Op {
	out := Output{Code: CodeOK, Data: data, Version: ver}
	if data == "" {
		out = Output{Code: CodeNoNode}
	}
	return Op{Client: s, In: Input{Session: s, Kind: KindGet, Key: k}, Out: out, Call: c, Return: r}
}

func tsget(s, k int, c, r int64, data string, ver int32) Op {
	op := tget(s, k, c, r, data, ver)
	op.In.Kind = KindSyncGet
	return op
}

func tseq(s int, data string, c, r int64, n int32) Op {
	return Op{Client: s, In: Input{Session: s, Kind: KindCreateSeq, Data: data}, Out: Output{Seq: n}, Call: c, Return: r}
}

func tmulti(s, kc int, ver int32, kt int, data string, c, r int64, code Code, newVer int32) Op {
	return Op{Client: s, In: Input{Session: s, Kind: KindMulti, Key: kc, Version: ver, Key2: kt, Data: data},
		Out: Output{Code: code, Version: newVer}, Call: c, Return: r}
}

func unknown(op Op) Op {
	op.Out = Output{Unknown: true}
	return op
}

func TestCheckHandWrittenHistories(t *testing.T) {
	const ok, bad = porcupine.Ok, porcupine.Illegal
	tests := []struct {
		name string
		want Result
		ops  []Op
	}{
		// Stale reads: allowed to a plain read, not after sync.
		{"stale plain read of another session", ok, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tset(0, 0, "b", -1, 2, 3, CodeOK, 1), tget(1, 0, 4, 5, "a", 0)}},
		{"stale read after sync", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tset(0, 0, "b", -1, 2, 3, CodeOK, 1), tsget(1, 0, 4, 5, "a", 0)}},
		{"sync read concurrent with the write may miss it", ok, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tset(0, 0, "b", -1, 2, 6, CodeOK, 1), tsget(1, 0, 4, 5, "a", 0)}},

		// Lost acknowledged writes.
		{"acknowledged create missing after sync", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tsget(1, 0, 2, 3, "", 0)}},
		{"own acknowledged create missing from own plain read", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tget(0, 0, 2, 3, "", 0)}},
		{"acknowledged create not yet seen by another session", ok, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tget(1, 0, 2, 3, "", 0)}},
		{"acknowledged delete undone", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tdel(0, 0, 0, 2, 3, CodeOK), tsget(1, 0, 4, 5, "a", 0)}},

		// Reads going back in time.
		{"plain reads of one session go back", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tset(0, 0, "b", -1, 2, 3, CodeOK, 1),
			tget(1, 0, 4, 5, "b", 1), tget(1, 0, 6, 7, "a", 0)}},
		{"plain reads of one session move forward", ok, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tset(0, 0, "b", -1, 2, 3, CodeOK, 1),
			tget(1, 0, 4, 5, "a", 0), tget(1, 0, 6, 7, "b", 1)}},
		{"plain read older than the session's sync read", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tset(0, 0, "b", -1, 2, 3, CodeOK, 1),
			tsget(1, 0, 4, 5, "b", 1), tget(1, 0, 6, 7, "a", 0)}},
		{"plain read goes back across keys", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tcreate(0, 1, "x", 2, 3, CodeOK),
			tset(0, 1, "y", -1, 4, 5, CodeOK, 1), tset(0, 0, "b", -1, 6, 7, CodeOK, 1),
			tget(1, 0, 8, 9, "b", 1), tget(1, 1, 10, 11, "x", 0)}},
		{"plain read goes back across key pairs", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tcreate(0, 2, "x", 2, 3, CodeOK),
			tset(0, 2, "y", -1, 4, 5, CodeOK, 1), tset(0, 0, "b", -1, 6, 7, CodeOK, 1),
			tget(1, 0, 8, 9, "b", 1), tget(1, 2, 10, 11, "x", 0)}},
		{"own write missing from a read of another key pair", bad, []Op{
			tcreate(0, 2, "x", 0, 1, CodeOK), tset(1, 2, "y", -1, 2, 3, CodeOK, 1),
			tcreate(1, 0, "a", 4, 5, CodeOK), tget(1, 2, 6, 7, "x", 0)}},
		{"stale then fresh across keys", ok, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tcreate(0, 1, "x", 2, 3, CodeOK),
			tset(0, 1, "y", -1, 4, 5, CodeOK, 1), tset(0, 0, "b", -1, 6, 7, CodeOK, 1),
			tget(1, 1, 8, 9, "x", 0), tget(1, 0, 10, 11, "b", 1)}},
		{"plain read after a failed write sees an older view", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tset(1, 0, "b", -1, 2, 3, CodeOK, 1),
			tset(0, 0, "c", 0, 4, 5, CodeBadVersion, 0), tget(0, 0, 6, 7, "a", 0)}},
		{"plain read after a failed write sees the state it failed on", ok, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tset(1, 0, "b", -1, 2, 3, CodeOK, 1),
			tset(0, 0, "c", 0, 4, 5, CodeBadVersion, 0), tget(0, 0, 6, 7, "b", 1)}},
		{"plain read sees the future", bad, []Op{
			tget(1, 0, 0, 1, "a", 0), tcreate(0, 0, "a", 2, 3, CodeOK)}},
		{"new session after expiry may read a stale server", ok, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tget(2, 0, 2, 3, "", 0)}},

		// Write order.
		{"writes of one session reordered", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tset(0, 0, "b", -1, 2, 3, CodeOK, 2), tset(0, 0, "c", -1, 4, 5, CodeOK, 1)}},
		{"last write of a session lost behind its earlier one", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tset(0, 0, "b", -1, 2, 3, CodeOK, 1), tset(0, 0, "c", -1, 4, 5, CodeOK, 2),
			tsget(1, 0, 6, 7, "b", 1)}},
		{"concurrent writes in version order", ok, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tset(0, 0, "b", -1, 2, 10, CodeOK, 1), tset(1, 0, "c", -1, 3, 9, CodeOK, 2)}},
		{"sequence numbers against real time", bad, []Op{
			tseq(0, "s0", 0, 1, 1), tseq(1, "s1", 2, 3, 0)}},
		{"concurrent sequence numbers", ok, []Op{
			tseq(0, "s0", 0, 4, 1), tseq(1, "s1", 2, 3, 0), tseq(0, "s2", 5, 6, 2)}},
		{"create of an existing node succeeds", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tcreate(1, 0, "b", 2, 3, CodeOK)}},
		{"create fails on a node never created", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeNodeExists)}},
		{"conditional delete", ok, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tdel(0, 0, 1, 2, 3, CodeBadVersion), tdel(1, 0, 0, 4, 5, CodeOK),
			tsget(0, 0, 6, 7, "", 0), tcreate(1, 0, "b", 8, 9, CodeOK), tget(1, 0, 10, 11, "b", 0)}},

		// multi.
		{"multi check passes on a stale version", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tcreate(0, 1, "x", 2, 3, CodeOK), tset(0, 0, "b", -1, 4, 5, CodeOK, 1),
			tmulti(1, 0, 0, 1, "y", 6, 7, CodeOK, 1)}},
		{"multi check fails on a stale version", ok, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tcreate(0, 1, "x", 2, 3, CodeOK), tset(0, 0, "b", -1, 4, 5, CodeOK, 1),
			tmulti(1, 0, 0, 1, "y", 6, 7, CodeBadVersion, 0), tmulti(1, 0, 1, 1, "z", 8, 9, CodeOK, 1),
			tsget(0, 1, 10, 11, "z", 1)}},
		{"failed multi applied in part", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tcreate(0, 1, "x", 2, 3, CodeOK),
			tmulti(1, 0, 5, 1, "y", 4, 5, CodeBadVersion, 0), tsget(0, 1, 6, 7, "y", 1)}},
		{"multi on a missing node", ok, []Op{
			tcreate(0, 1, "x", 0, 1, CodeOK), tmulti(1, 0, 0, 1, "y", 2, 3, CodeNoNode, 0), tsget(1, 1, 4, 5, "x", 0)}},

		// Writes with unknown outcome.
		{"unknown write seen, then unseen after sync", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), unknown(tset(0, 0, "b", -1, 2, 3, CodeOK, 1)),
			tsget(1, 0, 4, 5, "b", 1), tsget(1, 0, 6, 7, "a", 0)}},
		{"unknown write lands late", ok, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), unknown(tset(0, 0, "b", -1, 2, 3, CodeOK, 1)),
			tsget(1, 0, 4, 5, "a", 0), tsget(1, 0, 6, 7, "b", 1)}},
		{"unknown write never lands", ok, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), unknown(tset(0, 0, "b", -1, 2, 3, CodeOK, 1)),
			tset(0, 0, "c", 0, 4, 5, CodeOK, 1), tsget(1, 0, 6, 7, "c", 1)}},
		{"unknown write lands after a later write of its session", ok, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), unknown(tset(0, 0, "b", -1, 2, 3, CodeOK, 1)),
			tset(0, 0, "c", -1, 4, 5, CodeOK, 1), tsget(1, 0, 6, 7, "b", 2)}},
		{"unknown write seen before it was sent", bad, []Op{
			tcreate(0, 0, "a", 0, 1, CodeOK), tsget(1, 0, 2, 3, "b", 1), unknown(tset(0, 0, "b", -1, 4, 5, CodeOK, 1))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &History{Keys: 4, Ops: tc.ops}
			v, err := Check(h, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Result(); got != tc.want {
				t.Errorf("Check = %v, want %v; history:", got, tc.want)
				for _, op := range h.Ops {
					t.Logf("  [%d,%d] %v", op.Call, op.Return, op)
				}
			}
		})
	}
}

// promise is a ServerKind that only states whether its sync is linearizable.
type promise bool

func (p promise) Name() string                      { return "promise" }
func (p promise) Command(string) (string, []string) { return "", nil }
func (p promise) Prepare(string) error              { return nil }
func (p promise) LinearizableSync() bool            { return bool(p) }
func (p promise) DivergenceMark() string            { return "" }

// TestJudgeHoldsEachKindToItsPromise: a stale sync+get fails a kind whose sync is
// linearizable and is excused for one whose sync is not, but only it: a stale
// read that breaks the session's own order fails both.
func TestJudgeHoldsEachKindToItsPromise(t *testing.T) {
	staleSync := []Op{tcreate(0, 0, "a", 0, 1, CodeOK), tset(0, 0, "b", -1, 2, 3, CodeOK, 1), tsget(1, 0, 4, 5, "a", 0)}
	backwards := []Op{tcreate(0, 0, "a", 0, 1, CodeOK), tset(0, 0, "b", -1, 2, 3, CodeOK, 1),
		tsget(1, 0, 4, 5, "b", 1), tsget(1, 0, 6, 7, "a", 0)}
	tests := []struct {
		name        string
		ops         []Op
		kind        promise
		want        Result
		wantExcused bool
	}{
		{"stale sync, linearizable sync promised", staleSync, true, porcupine.Illegal, false},
		{"stale sync, not promised", staleSync, false, porcupine.Ok, true},
		{"session reads backwards, linearizable sync promised", backwards, true, porcupine.Illegal, false},
		{"session reads backwards, not promised", backwards, false, porcupine.Illegal, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &History{Keys: 4, Ops: tc.ops}
			v, judged, excused, err := Judge(h, tc.kind, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if v.Result() != tc.want || excused != tc.wantExcused {
				t.Errorf("Judge = %v, excused %v; want %v, excused %v", v.Result(), excused, tc.want, tc.wantExcused)
			}
			if weak := judged != h; weak != !bool(tc.kind) {
				t.Errorf("judged the history as recorded: %v; want %v", !weak, bool(tc.kind))
			}
			if h.Ops[2].In.Kind != KindSyncGet {
				t.Errorf("Judge changed the history it was given")
			}
		})
	}
}

// TestDivergedReadsZooKeepersDigestCheck: Ensemble.Diverged finds the line Apache
// ZooKeeper 3.8.0 logged when its digest check caught a follower whose tree no
// longer matched the leader's (copied from such a run), and only that server's.
func TestDivergedReadsZooKeepersDigestCheck(t *testing.T) {
	const mismatch = "2026-12-07 16:25:36,281 - ERROR [CommitProcessor:2:DataTree@1818] - First digest mismatch on txn: " +
		"144115970840002561,403,21474836482,1796660736272,1\n"
	quiet := "2026-12-07 16:25:35,442 - WARN  [QuorumPeer[myid=2](plain=127.0.0.1:41455)(secure=disabled):Learner@599] - " +
		"Truncating log to get in sync with the leader 0x300000105\n"
	e := &Ensemble{cfg: EnsembleConfig{Kind: &zooKeeperKind{}}}
	for id, log := range []string{quiet, quiet + mismatch + ", expected digest is 2,322310019329\n"} {
		s := &server{id: id + 1, dir: t.TempDir()}
		if err := os.WriteFile(s.logPath(), []byte(log), 0o644); err != nil {
			t.Fatal(err)
		}
		e.servers = append(e.servers, s)
	}
	got := e.Diverged()
	if len(got) != 1 || got[0] != "server 2: "+strings.TrimSpace(mismatch) {
		t.Errorf("Diverged() = %q, want server 2's digest mismatch", got)
	}
	if d := (&Ensemble{cfg: EnsembleConfig{Kind: Zkd("zkd")}, servers: e.servers}).Diverged(); d != nil {
		t.Errorf("zkd has no such check, yet Diverged() = %q", d)
	}
}

// TestZooKeeperDivergedHistoryFailsTheCheck: a real history that Apache ZooKeeper
// 3.8.0 gave while its digest check reported a follower diverged (cut by Shrink to
// the 137 sequential creates that witness it): after its isolated leader rejoined,
// the next leader answered a sequential create with NODEEXISTS, which numbering
// from the parent's counter never gives, and the next one with the number after.
// The checker must reject it, and no weaker promise of ZooKeeper's excuses it.
func TestZooKeeperDivergedHistoryFailsTheCheck(t *testing.T) {
	h, err := Load("testdata/zookeeper-3.8.0-diverged-seq.json")
	if err != nil {
		t.Fatal(err)
	}
	v, _, excused, err := Judge(h, &zooKeeperKind{}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if v.Result() != porcupine.Illegal || excused {
		t.Errorf("Judge = %v (excused %v), want Illegal", v.Result(), excused)
	}
}

func TestValidateRejectsMalformedHistories(t *testing.T) {
	tests := []struct {
		name string
		keys int
		ops  []Op
	}{
		{"key out of range", 2, []Op{tget(0, 2, 0, 1, "", 0)}},
		{"too many keys", MaxKeys + 1, nil},
		{"return before call", 1, []Op{tget(0, 0, 5, 4, "", 0)}},
		{"one session overlaps itself", 1, []Op{tget(0, 0, 0, 5, "", 0), tget(0, 0, 3, 6, "", 0)}},
		{"kind unset", 1, []Op{{Call: 0, Return: 1}}},
		{"data written twice", 1, []Op{tcreate(0, 0, "a", 0, 1, CodeOK), tset(1, 0, "a", -1, 2, 3, CodeOK, 1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Check(&History{Keys: tc.keys, Ops: tc.ops}, time.Second)
			if !errors.Is(err, ErrBadHistory) {
				t.Fatalf("Check err = %v, want ErrBadHistory", err)
			}
		})
	}
}

func TestShrinkKeepsAFailingWitness(t *testing.T) {
	// A long clean history with one stale sync read in the middle.
	var ops []Op
	now := int64(0)
	tick := func() (int64, int64) { now += 2; return now - 2, now - 1 }
	c, r := tick()
	ops = append(ops, tcreate(0, 0, "v0", c, r, CodeOK))
	for i := 1; i <= 40; i++ {
		c, r := tick()
		ops = append(ops, tset(0, 0, "v"+strconv.Itoa(i), -1, c, r, CodeOK, int32(i)))
		c, r = tick()
		data, ver := "v"+strconv.Itoa(i), int32(i)
		if i == 20 {
			data, ver = "v19", 19
		}
		ops = append(ops, tsget(1, 0, c, r, data, ver))
		c, r = tick()
		ops = append(ops, tget(2, 0, c, r, "v0", 0))
	}
	h := &History{Keys: 1, Ops: ops}
	if v, _ := Check(h, 10*time.Second); v.Result() != porcupine.Illegal {
		t.Fatalf("Check = %v, want Illegal", v)
	}
	s := Shrink(h, 10*time.Second, 30*time.Second)
	if v, _ := Check(s, 10*time.Second); v.Result() != porcupine.Illegal {
		t.Fatalf("shrunk history: Check = %v, want Illegal", v)
	}
	if len(s.Ops) >= len(h.Ops)/2 {
		t.Errorf("shrunk to %d of %d ops", len(s.Ops), len(h.Ops))
	}
	// The stale read itself must be in the witness.
	found := false
	for _, op := range s.Ops {
		if op.In.Kind == KindSyncGet && op.Out.Data == "v19" && op.Call > 100 {
			found = true
		}
	}
	if !found {
		t.Errorf("the stale sync read is not in the shrunk history: %v", s.Ops)
	}
	dir := t.TempDir()
	jp, hp, err := Dump(s, dir, "violation", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(jp)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := Check(back, 10*time.Second); v.Result() != porcupine.Illegal || len(back.Ops) != len(s.Ops) {
		t.Errorf("reloaded dump: %d ops, Check = %v", len(back.Ops), v)
	}
	if hp == "" {
		t.Error("no visualization written")
	}
}
