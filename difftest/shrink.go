package difftest

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ShrinkBudget bounds Shrink: it stops after MaxRuns runs or at Deadline, whichever
// comes first, and returns the smallest diverging sequence found so far.
type ShrinkBudget struct {
	MaxRuns  int
	Deadline time.Time
}

// Shrinker reruns candidate sequences on the two targets, each under a fresh root
// from NewRoot.
type Shrinker struct {
	Config  Config
	Targets [2]Target
	NewRoot func() string
	Runs    int // runs made so far

	run func(ops []Op) (*Trace, error) // tests replace Run with a model
}

// diverges runs ops and reports the trace if it diverges with signature sig.
func (s *Shrinker) diverges(ops []Op, sig string) (*Trace, error) {
	s.Runs++
	var tr *Trace
	var err error
	if s.run != nil {
		tr, err = s.run(ops)
	} else {
		tr, err = Run(s.Config, s.Targets, s.NewRoot(), ops)
	}
	if err != nil {
		return nil, err
	}
	if tr.Diverged < 0 || tr.Signature() != sig {
		return nil, nil
	}
	return tr, nil
}

// Shrink minimises the diverging trace tr by delta debugging: it drops chunks of
// ops, halving the chunk size when no chunk can go, while the sequence still
// diverges with the same Signature; then it drops single sub-ops of multis. Ops
// after the divergence are cut at once. The result is the last trace that diverged.
func (s *Shrinker) Shrink(tr *Trace, budget ShrinkBudget) (*Trace, error) {
	sig := tr.Signature()
	best := tr
	ops := slices.Clone(tr.Ops[:tr.Diverged+1])
	out := func() bool {
		return (budget.MaxRuns > 0 && s.Runs >= budget.MaxRuns) ||
			(!budget.Deadline.IsZero() && time.Now().After(budget.Deadline))
	}
	try := func(cand []Op) (bool, error) {
		t, err := s.diverges(cand, sig)
		if err != nil || t == nil {
			return false, err
		}
		best = t
		ops = slices.Clone(t.Ops[:t.Diverged+1])
		return true, nil
	}

	n := 2
	for len(ops) >= 2 && !out() {
		chunk := (len(ops) + n - 1) / n
		reduced := false
		for start := 0; start < len(ops) && !out(); start += chunk {
			cand := slices.Concat(ops[:start], ops[min(start+chunk, len(ops)):])
			ok, err := try(cand)
			if err != nil {
				return best, err
			}
			if ok {
				n = max(n-1, 2)
				reduced = true
				break
			}
		}
		if !reduced {
			if chunk == 1 {
				break
			}
			n = min(2*n, len(ops))
		}
	}

	// Drop sub-ops of multis one at a time.
	for i := 0; i < len(ops) && !out(); i++ {
		for j := 0; i < len(ops) && j < len(ops[i].Ops) && !out(); {
			cand := slices.Clone(ops)
			cand[i].Ops = slices.Delete(slices.Clone(ops[i].Ops), j, j+1)
			ok, err := try(cand)
			if err != nil {
				return best, err
			}
			if !ok {
				j++ // on success the next sub-op has moved to index j
			}
		}
	}
	return best, nil
}

// Format prints tr as a reproducer: the root, then every op numbered from 1 with
// both servers' answers (one line when they agree) and the events each session got.
func (tr *Trace) Format() string {
	var b strings.Builder
	a, z := tr.Names[0], tr.Names[1]
	w := max(len(a), len(z)) + 1
	fmt.Fprintf(&b, "root R = %s; sessions s0..s%d, each starting unauthenticated (ip 127.0.0.1)\n",
		tr.Root, len(tr.Setup[0].Events)-1)
	fmt.Fprintf(&b, " 0. s0 create R persistent data=\"root\" acl=open (setup)\n")
	for i := range tr.Steps {
		op := tr.Ops[i]
		st := tr.Steps[i]
		mark := ""
		if i == tr.Diverged {
			mark = "   <== diverges"
		}
		fmt.Fprintf(&b, "%2d. %v%s\n", i+1, op, mark)
		if st[0].Reply == st[1].Reply {
			fmt.Fprintf(&b, "      %-*s %s\n", w, "both:", st[0].Reply)
		} else {
			fmt.Fprintf(&b, "      %-*s %s\n", w, a+":", st[0].Reply)
			fmt.Fprintf(&b, "      %-*s %s\n", w, z+":", st[1].Reply)
		}
		for k := range st[0].Events {
			ea, ez := st[0].Events[k], st[1].Events[k]
			if ea == ez {
				if ea != "[]" {
					fmt.Fprintf(&b, "      events s%d, both: %s\n", k, ea)
				}
				continue
			}
			fmt.Fprintf(&b, "      events s%d, %-*s %s\n", k, w, a+":", ea)
			fmt.Fprintf(&b, "      events s%d, %-*s %s\n", k, w, z+":", ez)
		}
		if slices.Equal(st[0].Notes, st[1].Notes) {
			for _, n := range st[0].Notes {
				fmt.Fprintf(&b, "      (normalised on both: %s)\n", n)
			}
		} else {
			for j, side := range st {
				for _, n := range side.Notes {
					fmt.Fprintf(&b, "      (normalised on %s: %s)\n", tr.Names[j], n)
				}
			}
		}
	}
	return b.String()
}
