package zkcheck

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// Result is porcupine's verdict: porcupine.Ok, porcupine.Illegal (a violation), or
// porcupine.Unknown (the search ran out of time).
type Result = porcupine.CheckResult

// Verdict is the checker's judgement of one history, from two checks.
type Verdict struct {
	// Pairs judges each key pair (and the sequential creates) on its own: writes
	// and sync reads linearizable, plain reads sequentially consistent per session
	// within the pair. Linearizability is local, so this is exact for writes and
	// sync reads, and it is fast.
	Pairs Result
	// Whole judges the history at once, which adds each session's order of plain
	// reads across pairs. Its search grows with the writes of unknown outcome that
	// overlap, so it may run out of time (Unknown) where Pairs does not.
	Whole Result
}

// Result folds v into one verdict: Illegal if either check found a violation,
// Unknown if the per-pair check ran out of time, Ok otherwise.
func (v Verdict) Result() Result {
	switch {
	case v.Pairs == porcupine.Illegal || v.Whole == porcupine.Illegal:
		return porcupine.Illegal
	case v.Pairs == porcupine.Unknown:
		return porcupine.Unknown
	}
	return porcupine.Ok
}

// Check judges h against the ZooKeeper model, giving each of its two checks up to
// timeout (0: no limit). The whole-history check runs only if the per-pair one
// passes.
func Check(h *History, timeout time.Duration) (Verdict, error) {
	v := Verdict{Pairs: porcupine.Unknown, Whole: porcupine.Unknown}
	if err := h.Validate(); err != nil {
		return v, err
	}
	v.Pairs = CheckPairs(h, timeout)
	if v.Pairs == porcupine.Ok {
		v.Whole = CheckWhole(h, timeout)
	}
	return v, nil
}

// Judge checks h against what kind promises. A kind whose sync is not
// linearizable (ServerKind.LinearizableSync) promises of a sync+get only what it
// promises of a plain read; its history is checked as recorded first and, only if
// the per-pair check finds a violation, again with every sync+get judged as a plain
// read. Judge returns the verdict that decides, the history it was reached on (what
// Shrink and Dump should be given), and whether the weaker promise excused a
// violation of the stronger one, which a report should say.
func Judge(h *History, kind ServerKind, timeout time.Duration) (v Verdict, judged *History, excused bool, err error) {
	v, err = Check(h, timeout)
	if err != nil || v.Pairs != porcupine.Illegal || kind.LinearizableSync() {
		return v, h, false, err
	}
	weak := h.syncAsPlainReads()
	w, err := Check(weak, timeout)
	if err != nil {
		return v, h, false, err
	}
	return w, weak, w.Result() != porcupine.Illegal, nil
}

// CheckPairs runs the per-pair check of Verdict.Pairs on a valid history.
func CheckPairs(h *History, timeout time.Duration) Result {
	return porcupine.CheckOperationsTimeout(pairModel(h.Sessions()), h.operations(), timeout)
}

// CheckWhole runs the whole-history check of Verdict.Whole on a valid history.
func CheckWhole(h *History, timeout time.Duration) Result {
	return porcupine.CheckOperationsTimeout(newModel(h.Sessions()), h.operations(), timeout)
}

// pairModel is the model that judges every key pair on its own.
func pairModel(sessions int) porcupine.Model {
	m := newModel(sessions)
	m.Partition = partition
	return m
}

// Shrink returns a smaller history that still fails the check, spending about
// budget on it: first the shortest failing cut (History.cut), then without every
// read and failed write it can drop one by one. Dropping either only removes
// constraints, so what remains is a witness of a real violation, not one the
// shrinking made. If h does not fail within timeout per check, Shrink returns h.
func Shrink(h *History, timeout, budget time.Duration) *History {
	deadline := time.Now().Add(budget)
	fails := func(c *History) bool {
		v, err := Check(c, timeout)
		return err == nil && v.Result() == porcupine.Illegal
	}
	if !fails(h) {
		return h
	}
	// The failing cuts are upward closed in t: binary search the earliest.
	times := make([]int64, 0, len(h.Ops))
	for _, op := range h.Ops {
		times = append(times, op.Return)
	}
	slices.Sort(times)
	lo, hi := 0, len(times)-1 // invariant: cut(times[hi]) fails
	if !fails(h.cut(times[hi])) {
		// Only unknown writes call after the last return: keep h whole.
		hi = -1
	}
	for hi >= 0 && lo < hi && time.Now().Before(deadline) {
		mid := (lo + hi) / 2
		if fails(h.cut(times[mid])) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	best := h
	if hi >= 0 {
		best = h.cut(times[hi])
	}
	// Drop observations, in halving chunks, latest first.
	for chunk := max(1, len(best.Ops)/4); chunk >= 1 && time.Now().Before(deadline); chunk /= 2 {
		for end := len(best.Ops); end > 0 && time.Now().Before(deadline); end -= chunk {
			start := max(0, end-chunk)
			ops := make([]Op, 0, len(best.Ops))
			dropped := false
			for i, op := range best.Ops {
				if i >= start && i < end && droppable(op) {
					dropped = true
					continue
				}
				ops = append(ops, op)
			}
			if !dropped {
				continue
			}
			// Operations before start keep their indices, so the next window
			// [start-chunk, start) is right whether or not this one was dropped.
			if c := best.withOps(ops); fails(c) {
				best = c
			}
		}
	}
	return best
}

// droppable reports whether leaving op out of a history only removes constraints:
// true of reads, of failed writes (they changed nothing) and of unknown reads.
func droppable(op Op) bool {
	return !op.In.Kind.IsWrite() || (!op.Out.Unknown && op.Out.Code != CodeOK)
}

// Dump writes h to dir/name.json and porcupine's visualization of it to
// dir/name.html (per key pair, or whole if every pair passes), and returns the two
// paths.
func Dump(h *History, dir, name string, timeout time.Duration) (jsonPath, htmlPath string, err error) {
	jsonPath = filepath.Join(dir, name+".json")
	htmlPath = filepath.Join(dir, name+".html")
	if err := h.Save(jsonPath); err != nil {
		return "", "", err
	}
	model := pairModel(h.Sessions())
	res, info := porcupine.CheckOperationsVerbose(model, h.operations(), timeout)
	if res == porcupine.Ok {
		model = newModel(h.Sessions())
		_, info = porcupine.CheckOperationsVerbose(model, h.operations(), timeout)
	}
	if err := porcupine.VisualizePath(model, info, htmlPath); err != nil {
		return jsonPath, "", fmt.Errorf("zkcheck: visualize %s: %w", name, err)
	}
	return jsonPath, htmlPath, nil
}
