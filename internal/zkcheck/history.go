package zkcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"

	"github.com/anishathalye/porcupine"
)

// History is what a run of the recorder observed, in the order operations were
// called.
type History struct {
	Seed    int64    `json:"seed"`
	Root    string   `json:"root"`    // the znode under which the keys lived
	Servers []string `json:"servers"` // the connect string's addresses
	Keys    int      `json:"keys"`    // key nodes k0 .. k<Keys-1>
	// Faults lists the faults injected while the history was recorded, as text with
	// their times, for the reader of a dumped history.
	Faults []string `json:"faults,omitempty"`
	Ops    []Op     `json:"ops"`
}

// ErrBadHistory is returned by Validate (and so by Check) when a history cannot be
// checked: a key or session out of range, a return before its call, or two
// operations of one session overlapping.
var ErrBadHistory = errors.New("zkcheck: malformed history")

// Sessions returns one more than the highest session number in h.
func (h *History) Sessions() int {
	n := 0
	for _, op := range h.Ops {
		n = max(n, op.In.Session+1)
	}
	return n
}

// Validate checks that h is a history the model can judge: every operation's keys
// within range, every session's operations one after another, as one ZooKeeper
// session's synchronous client issues them, and no data written twice (a read's
// data must name one write).
func (h *History) Validate() error {
	if h.Keys < 1 || h.Keys > MaxKeys {
		return fmt.Errorf("%w: %d keys (1..%d)", ErrBadHistory, h.Keys, MaxKeys)
	}
	last := map[int]Op{}
	data := map[string]bool{}
	for i, op := range h.Ops {
		if op.In.Kind.IsWrite() && op.In.Data != "" {
			if data[op.In.Data] {
				return fmt.Errorf("%w: op %d (%v): data %q written twice", ErrBadHistory, i, op, op.In.Data)
			}
			data[op.In.Data] = true
		}
		if op.In.Kind < KindGet || op.In.Kind > KindMulti {
			return fmt.Errorf("%w: op %d: kind %v", ErrBadHistory, i, op.In.Kind)
		}
		if op.In.Key < 0 || op.In.Key >= h.Keys || op.In.Key2 < 0 || op.In.Key2 >= h.Keys || op.In.Session < 0 {
			return fmt.Errorf("%w: op %d (%v): key or session out of range", ErrBadHistory, i, op)
		}
		if op.Return < op.Call {
			return fmt.Errorf("%w: op %d (%v): returns at %d before its call at %d", ErrBadHistory, i, op, op.Return, op.Call)
		}
		if prev, ok := last[op.In.Session]; ok && prev.Return > op.Call {
			return fmt.Errorf("%w: op %d (%v) starts at %d while %v of the same session runs until %d",
				ErrBadHistory, i, op, op.Call, prev, prev.Return)
		}
		last[op.In.Session] = op
	}
	return nil
}

// operations converts h to porcupine's form, with two changes that shrink the
// search without changing the verdict:
//
//   - An unknown write returns after everything else: it may take effect at any
//     point after its call, or never. But if some read returned its data, it took
//     effect before the first such read returned, so it returns then.
//   - Each session's last operation is marked, so that the model stops keeping the
//     session's cursor: states that differ only in a finished session's view are
//     then equal.
func (h *History) operations() []porcupine.Operation {
	end := int64(0)
	seen := map[string]int64{} // data -> earliest return of a read that returned it
	for _, op := range h.Ops {
		end = max(end, op.Call, op.Return)
		if (op.In.Kind == KindGet || op.In.Kind == KindSyncGet) && !op.Out.Unknown && op.Out.Code == CodeOK {
			if t, ok := seen[op.Out.Data]; !ok || op.Return < t {
				seen[op.Out.Data] = op.Return
			}
		}
	}
	lastOf := map[int]int{}
	for i, op := range h.Ops {
		lastOf[op.In.Session] = i
	}
	ops := make([]porcupine.Operation, 0, len(h.Ops))
	for i, op := range h.Ops {
		ret := op.Return
		if op.Out.Unknown {
			ret = end + 1
			if t, ok := seen[op.In.Data]; ok && op.In.Data != "" && op.In.Kind.IsWrite() {
				ret = max(t, op.Call)
			}
		}
		in := op.In
		in.last = lastOf[op.In.Session] == i
		ops = append(ops, porcupine.Operation{ClientId: op.Client, Input: in, Output: op.Out,
			Call: op.Call, Return: ret})
	}
	return ops
}

// Count returns how many operations h holds, how many of them are writes, and how
// many of those have an unknown outcome.
func (h *History) Count() (ops, writes, unknown int) {
	for _, op := range h.Ops {
		if op.In.Kind.IsWrite() {
			writes++
			if op.Out.Unknown {
				unknown++
			}
		}
	}
	return len(h.Ops), writes, unknown
}

// Save writes h to path as indented JSON.
func (h *History) Save(path string) error {
	b, err := json.MarshalIndent(h, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Load reads a history written by Save.
func Load(path string) (*History, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h := new(History)
	if err := json.Unmarshal(b, h); err != nil {
		return nil, fmt.Errorf("zkcheck: %s: %w", path, err)
	}
	return h, nil
}

// withOps returns a copy of h with ops as its operations.
func (h *History) withOps(ops []Op) *History {
	c := *h
	c.Ops = ops
	return &c
}

// syncAsPlainReads returns a copy of h whose sync+get operations are plain gets:
// the history judged by what a server whose sync is not linearizable promises.
func (h *History) syncAsPlainReads() *History {
	ops := slices.Clone(h.Ops)
	for i := range ops {
		if ops[i].In.Kind == KindSyncGet {
			ops[i].In.Kind = KindGet
		}
	}
	return h.withOps(ops)
}

// cut returns the part of h up to time t: the operations called by t, where an
// operation still running at t becomes unknown (a write) or is left out (a read).
// If h is linearizable, so is every cut of it: nothing that returned by t can have
// depended on a write called after t, and a write made unknown can be placed last.
// So a cut that fails the check is a smaller witness of the same failure.
func (h *History) cut(t int64) *History {
	var ops []Op
	for _, op := range h.Ops {
		if op.Call > t {
			continue
		}
		if op.Return > t {
			if !op.In.Kind.IsWrite() {
				continue
			}
			op.Out = Output{Unknown: true}
		}
		ops = append(ops, op)
	}
	return h.withOps(ops)
}

// sortByCall orders ops by call time, keeping the order of ties.
func sortByCall(ops []Op) {
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
}

// PairOf returns the key a multi on key k may set: its partner in the pairs (k0,k1),
// (k2,k3), ... of a history with keys keys (an odd last key pairs with itself).
// Operations that touch one pair only let the checker judge each pair on its own.
func PairOf(k, keys int) int {
	if p := k ^ 1; p < keys {
		return p
	}
	return k
}

// partition splits porcupine operations into groups no operation spans: one per
// key pair, one for the sequential creates. Linearizability is local (Herlihy and
// Wing), so the writes and sync reads are linearizable if and only if each group's
// are; plain reads are judged against their own group's write order only.
func partition(ops []porcupine.Operation) [][]porcupine.Operation {
	groups := map[int][]porcupine.Operation{}
	for _, op := range ops {
		in := op.Input.(Input)
		g := in.Key / 2
		if in.Kind == KindCreateSeq {
			g = -1
		}
		groups[g] = append(groups[g], op)
	}
	keys := make([]int, 0, len(groups))
	for g := range groups {
		keys = append(keys, g)
	}
	sort.Ints(keys)
	out := make([][]porcupine.Operation, 0, len(groups))
	for _, g := range keys {
		out = append(out, groups[g])
	}
	return out
}
