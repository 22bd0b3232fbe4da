package difftest

// Tests of the driver's own parts that need no server: they run under -short.

import (
	"slices"
	"strings"
	"testing"

	"zkd/jute"
)

func opStrings(ops []Op) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = op.String()
	}
	return out
}

func TestGenerateIsDeterministic(t *testing.T) {
	cfg := GenConfig{Sessions: 3, TTL: true}
	a, b := Generate(7, 500, cfg), Generate(7, 500, cfg)
	if !slices.Equal(opStrings(a), opStrings(b)) {
		t.Fatal("seed 7 gave two different sequences")
	}
	if slices.Equal(opStrings(a), opStrings(Generate(8, 500, cfg))) {
		t.Fatal("seeds 7 and 8 gave the same sequence")
	}
	codes := map[jute.OpCode]bool{}
	for i, op := range a {
		codes[op.Code] = true
		if op.Session < 0 || op.Session >= cfg.Sessions {
			t.Fatalf("op %d (%v): session out of range", i, op)
		}
		if op.Code == jute.OpCheck {
			t.Fatalf("op %d: standalone check generated", i)
		}
		_, code, body := op.wellFormed("/r")
		switch _, _, sent := op.request("/r"); op.Mangle {
		case MangleNone:
			if !slices.Equal(sent, body) {
				t.Fatalf("op %d (%v): body damaged without a Mangle", i, op)
			}
		case MangleTruncated:
			if len(body) == 0 || !slices.Equal(sent, body[:len(body)-1]) {
				t.Fatalf("op %d (%v): not the body less its last byte", i, op)
			}
		case MangleTrailing:
			if len(sent) != len(body)+3 || !slices.Equal(sent[:len(body)], body) {
				t.Fatalf("op %d (%v): not the body and three more bytes", i, op)
			}
		case MangleACLCount:
			d := jute.NewDecoder(sent)
			_ = d.String()
			if code != jute.OpSetACL {
				_ = d.Buffer()
			}
			if n := d.Int(); n != -2 || d.Err() != nil {
				t.Fatalf("op %d (%v): ACL count %d, %v", i, op, n, d.Err())
			}
		}
		d := jute.NewDecoder(body)
		switch code {
		case jute.OpMulti, jute.OpMultiRead:
			r := jute.MultiRequest{Read: code == jute.OpMultiRead}
			r.Decode(&d)
			if len(r.Ops) != len(op.Ops) {
				t.Fatalf("op %d (%v): multi round trip gave %d ops", i, op, len(r.Ops))
			}
		case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer:
			var r jute.CreateRequest
			r.Decode(&d)
			if r.Path != "/r"+op.Path || r.Flags != op.Mode {
				t.Fatalf("op %d (%v): create round trip gave %+v", i, op, r)
			}
		}
		if d.Err() != nil {
			t.Fatalf("op %d (%v): body does not decode: %v", i, op, d.Err())
		}
		if strings.Count(strings.TrimSuffix(op.Path, "/"), "/") > 4 {
			t.Fatalf("op %d (%v): path too deep", i, op)
		}
	}
	for _, c := range []jute.OpCode{jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL,
		jute.OpDelete, jute.OpSetData, jute.OpExists, jute.OpGetData, jute.OpGetChildren, jute.OpGetChildren2,
		jute.OpGetACL, jute.OpSetACL, jute.OpMulti, jute.OpAddWatch, jute.OpAuth, jute.OpCloseSession,
		jute.OpGetEphemerals, jute.OpGetAllChildrenNumber, jute.OpSync} {
		if !codes[c] {
			t.Errorf("500 ops of seed 7 contain no %v", c)
		}
	}
}

// TestShrinkKeepsOnlyTheCause shrinks against a model in which a run diverges once a
// create of /x has been followed by a delete of /x.
func TestShrinkKeepsOnlyTheCause(t *testing.T) {
	cause1 := Op{Code: jute.OpCreate, Path: "/x", Session: 1}
	cause2 := Op{Code: jute.OpDelete, Path: "/x", Session: 2}
	noise := Op{Code: jute.OpSetData, Path: "/y"}
	ops := Generate(3, 120, GenConfig{Sessions: 3})
	for i := range ops {
		if ops[i].Path == "/x" {
			ops[i].Path = "/y"
		}
		for j := range ops[i].Ops {
			if ops[i].Ops[j].Path == "/x" {
				ops[i].Ops[j].Path = "/y"
			}
		}
	}
	ops[20] = cause1
	ops[90] = Op{Code: jute.OpMulti, Ops: []Op{noise, cause2, noise}}

	model := func(ops []Op) (*Trace, error) {
		tr := &Trace{Ops: ops, Diverged: -1}
		created := false
		for i, op := range ops {
			tr.Steps = append(tr.Steps, [2]Step{{Reply: "ok"}, {Reply: "ok"}})
			subs := append([]Op{op}, op.Ops...)
			for _, s := range subs {
				switch {
				case s.Code == jute.OpCreate && s.Path == "/x":
					created = true
				case s.Code == jute.OpDelete && s.Path == "/x" && created:
					tr.Steps[i][1].Reply = "NoNode"
					tr.Diverged = i
					return tr, nil
				}
			}
		}
		return tr, nil
	}
	first, _ := model(ops)
	if first.Diverged != 90 {
		t.Fatalf("model diverged at %d, want 90", first.Diverged)
	}
	sh := &Shrinker{run: model}
	min, err := sh.Shrink(first, ShrinkBudget{MaxRuns: 1000})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{cause1.String(), Op{Code: jute.OpMulti, Ops: []Op{cause2}}.String()}
	if got := opStrings(min.Ops[:min.Diverged+1]); !slices.Equal(got, want) {
		t.Fatalf("shrunk to %q in %d runs, want %q", got, sh.Runs, want)
	}
	if min.Signature() != first.Signature() {
		t.Fatalf("signature changed: %q -> %q", first.Signature(), min.Signature())
	}
}

func TestViewNormalisation(t *testing.T) {
	v := newView("/s1")
	v.addWrite(5)
	v.addWrite(9)
	for _, c := range []struct {
		got, want string
	}{
		{v.zxid(5), "W0"},
		{v.zxid(9), "W1"},
		{v.zxid(7), "W0+"},
		{v.zxid(3), "W-1+"},
		{v.headerZxid(10), "~W1"},
		{v.headerZxid(9), "~W1"},
		{v.headerZxid(0), "0"},
		{v.headerZxid(-1), "-1"},
		{v.path("/s1"), "R"},
		{v.path("/s1/a/b"), "R/a/b"},
		{v.path("/s10/a"), `"/s10/a"`},
		{v.owner(0), "-"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	v.addWrite(9)
	if len(v.notes) != 1 {
		t.Errorf("a repeated write zxid left notes %q, want one", v.notes)
	}

	alice, bob := digest(jute.PermAll, "alice:secret"), digest(jute.PermAll, "bob:secret")
	if got := v.acl([]jute.ACL{bob, alice, world(jute.PermRead)}); got !=
		"[rwcda:digest:H(alice:secret) rwcda:digest:H(bob:secret) r:world:anyone]" {
		t.Errorf("auth expansion not sorted: %s", got)
	}
	if got := v.acl([]jute.ACL{bob, world(jute.PermRead), alice}); got !=
		"[rwcda:digest:H(bob:secret) r:world:anyone rwcda:digest:H(alice:secret)]" {
		t.Errorf("explicit order changed: %s", got)
	}
}

func TestFormatMarksTheDivergence(t *testing.T) {
	tr := &Trace{
		Names: [2]string{"zookeeper", "zkd"}, Root: "/s1-t1",
		Ops:      []Op{{Code: jute.OpCreate, Path: "/a"}, {Code: jute.OpExists, Path: "/a", Session: 1, Watch: true}},
		Setup:    [2]Step{{Events: []string{"[]", "[]"}}, {Events: []string{"[]", "[]"}}},
		Diverged: 1,
	}
	tr.Steps = [][2]Step{
		{{Reply: "ok zx=W1 R/a", Events: []string{"[]", "[]"}}, {Reply: "ok zx=W1 R/a", Events: []string{"[]", "[]"}}},
		{{Reply: "ok zx=~W1 {...}", Events: []string{"[]", "[]"}}, {Reply: "NoAuth(-102) zx=~W1", Events: []string{"[]", "[NodeCreated R/a]"}}},
	}
	out := tr.Format()
	for _, want := range []string{
		" 1. s0 create R/a persistent",
		"both:      ok zx=W1 R/a",
		" 2. s1 exists R/a watch   <== diverges",
		"zookeeper: ok zx=~W1 {...}",
		"zkd:       NoAuth(-102) zx=~W1",
		"events s1, zkd:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Format output lacks %q:\n%s", want, out)
		}
	}
}
