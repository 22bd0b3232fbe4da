package tests

// Shape comparison of operator output: four-letter-word text and AdminServer JSON
// are compared by form (keys, line layout, value kinds), never by the values that
// legitimately differ between runs (times, ids, ports, counters, hash orders).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// jnode is a parsed JSON value that keeps object member order.
type jnode struct {
	kind  string // object, array, string, int, float, bool, null
	keys  []string
	vals  []*jnode
	elems []*jnode
}

func parseJSON(s string) (*jnode, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	n, err := parseJValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return n, nil
}

func parseJValue(d *json.Decoder) (*jnode, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			n := &jnode{kind: "object"}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				val, err := parseJValue(d)
				if err != nil {
					return nil, err
				}
				n.keys, n.vals = append(n.keys, kt.(string)), append(n.vals, val)
			}
			_, err := d.Token()
			return n, err
		case '[':
			n := &jnode{kind: "array"}
			for d.More() {
				e, err := parseJValue(d)
				if err != nil {
					return nil, err
				}
				n.elems = append(n.elems, e)
			}
			_, err := d.Token()
			return n, err
		}
	case json.Number:
		if strings.ContainsAny(v.String(), ".eE") {
			return &jnode{kind: "float"}, nil
		}
		return &jnode{kind: "int"}, nil
	case string:
		return &jnode{kind: "string"}, nil
	case bool:
		return &jnode{kind: "bool"}, nil
	case nil:
		return &jnode{kind: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

func (n *jnode) get(key string) *jnode {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// mapKeyed are the objects whose member names are data (ids, paths, times,
// property names), compared by their values' shape only.
var mapKeyed = map[string]bool{
	"expiry_time_to_session_ids": true, "session_id_to_ephemeral_paths": true,
	"session_id_to_watched_paths": true, "path_to_session_ids": true, "current_config": true,
}

// subsetCommands are commands whose zkd members are a subset of ZooKeeper's
// (monitor: only the mntr keys that mean something in zkd; system_properties: no JVM).
var subsetCommands = map[string]bool{"monitor": true, "system_properties": true}

// compareJSON reports how got's shape differs from want's (ZooKeeper's).
func compareJSON(command string, got, want *jnode) []string {
	var diffs []string
	var walk func(path string, g, w *jnode, subset, keyed bool)
	walk = func(path string, g, w *jnode, subset, keyed bool) {
		if g.kind != w.kind {
			diffs = append(diffs, fmt.Sprintf("%s: %s, ZooKeeper has %s", path, g.kind, w.kind))
			return
		}
		switch g.kind {
		case "object":
			if keyed {
				if len(g.vals) > 0 && len(w.vals) > 0 {
					walk(path+"{*}", g.vals[0], w.vals[0], false, false)
				}
				return
			}
			for i, k := range g.keys {
				wv := w.get(k)
				if wv == nil {
					diffs = append(diffs, fmt.Sprintf("%s.%s: not in ZooKeeper's reply", path, k))
					continue
				}
				walk(path+"."+k, g.vals[i], wv, false, mapKeyed[k])
			}
			if !subset {
				for _, k := range w.keys {
					if g.get(k) == nil {
						diffs = append(diffs, fmt.Sprintf("%s.%s: missing (ZooKeeper has it)", path, k))
					}
				}
			}
		case "array":
			if len(g.elems) > 0 && len(w.elems) > 0 {
				walk(path+"[0]", g.elems[0], w.elems[0], false, false)
			}
		}
	}
	walk(command, got, want, subsetCommands[command], false)
	return diffs
}

// Four-letter words: each is reduced to a skeleton that must match ZooKeeper's.

var (
	javaDate  = `[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \S+ \d{4}`
	dumpLines = []struct {
		class byte
		re    *regexp.Regexp
	}{
		{'T', regexp.MustCompile(`^SessionTracker dump:$`)},
		{'S', regexp.MustCompile(`^Session Sets \(\d+\)/\(\d+\):$`)},
		{'B', regexp.MustCompile(`^\d+ expire at ` + javaDate + `:$`)},
		{'i', regexp.MustCompile(`^\t0x[0-9a-f]+$`)},
		{'E', regexp.MustCompile(`^ephemeral nodes dump:$`)},
		{'W', regexp.MustCompile(`^Sessions with Ephemerals \(\d+\):$`)},
		{'s', regexp.MustCompile(`^0x[0-9a-f]+:$`)},
		{'p', regexp.MustCompile(`^\t/\S*$`)},
		{'C', regexp.MustCompile(`^Connections dump:$`)},
		{'K', regexp.MustCompile(`^Connections Sets \(\d+\)/\(\d+\):$`)},
		{'c', regexp.MustCompile(`^\tip: /[0-9.]+:\d+ sessionId: 0x[0-9a-f]+$`)},
	}
	dumpGrammar = regexp.MustCompile(`^TS(Bi*)*EW(sp*)*CK(Bc*)*$`)

	// wordForms are words whose whole reply must match a pattern.
	wordForms = map[string]*regexp.Regexp{
		"ruok": regexp.MustCompile(`^imok$`),
		"isro": regexp.MustCompile(`^rw$`),
		"gtmk": regexp.MustCompile(`^-?\d+$`),
		"crst": regexp.MustCompile(`^Connection stats reset\.\n$`),
		"srst": regexp.MustCompile(`^Server stats reset\.\n$`),
		"wchs": regexp.MustCompile(`^\d+ connections watching \d+ paths\nTotal watches:\d+\n$`),
		"wchc": regexp.MustCompile(`^(0x[0-9a-f]+\n(\t/\S*\n)+)*\n$`),
		"wchp": regexp.MustCompile(`^(/\S*\n(\t0x[0-9a-f]+\n)+)*\n$`),
		"dirs": regexp.MustCompile(`^datadir_size: \d+\nlogdir_size: \d+\n$`),
		"hash": regexp.MustCompile(`^([0-9a-f]+: -?\d+\n)*$`),
		"cons": regexp.MustCompile(`^( /[0-9.]+:\d+\[[01]\]\([a-z]+=[^,()]+(,[a-z]+=[^,()]+)*\)\n)+\n$`),
	}
	intRE    = regexp.MustCompile(`^-?\d+$`)
	doubleRE = regexp.MustCompile(`^-?\d+\.\d+(E-?\d+)?$`)
)

func valueKind(s string) string {
	switch {
	case intRE.MatchString(s):
		return "integer"
	case doubleRE.MatchString(s):
		return "double"
	}
	return "string"
}

// compareWord reports how zkd's reply to word differs in form from ZooKeeper's.
func compareWord(word, got, want string) []string {
	var diffs []string
	bad := func(format string, args ...any) { diffs = append(diffs, word+": "+fmt.Sprintf(format, args...)) }
	if re, ok := wordForms[word]; ok {
		if !re.MatchString(want) {
			bad("ZooKeeper's reply %q does not match %v (the test's pattern is wrong)", want, re)
		}
		if !re.MatchString(got) {
			bad("reply %q does not match %v", got, re)
		}
		return diffs
	}
	lines := func(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }
	keyed := func(s, sep string, skip func(string) bool) (keys, kinds []string) {
		for _, l := range lines(s) {
			if skip != nil && skip(l) {
				continue
			}
			k, v, _ := strings.Cut(l, sep)
			keys, kinds = append(keys, k), append(kinds, valueKind(strings.TrimSpace(v)))
		}
		return keys, kinds
	}
	switch word {
	case "srvr", "stat":
		client := func(l string) bool { return strings.HasPrefix(l, " /") }
		gk, _ := keyed(got, ":", client)
		wk, _ := keyed(want, ":", client)
		if !slices.Equal(gk, wk) {
			bad("lines %q, ZooKeeper %q", gk, wk)
		}
	case "conf":
		gk, gv := keyed(got, "=", nil)
		wk, wv := keyed(want, "=", nil)
		if !slices.Equal(gk, wk) {
			bad("keys %q, ZooKeeper %q", gk, wk)
		} else if !slices.Equal(gv, wv) {
			bad("value kinds %q, ZooKeeper %q", gv, wv)
		}
	case "envi":
		gk, _ := keyed(got, "=", nil)
		wk, _ := keyed(want, "=", nil)
		if !slices.Equal(gk, wk) {
			bad("keys %q, ZooKeeper %q", gk, wk)
		}
	case "mntr":
		gk, gv := keyed(got, "\t", nil)
		wk, wv := keyed(want, "\t", nil)
		ref := map[string]string{}
		for i := range wk {
			ref[wk[i]] = wv[i]
		}
		for i, k := range gk {
			w, ok := ref[k]
			switch {
			case !ok:
				bad("key %s is not one of ZooKeeper's", k)
			case w != gv[i]:
				bad("%s is a %s, ZooKeeper's a %s", k, gv[i], w)
			}
		}
		if len(gk) < 2 || gk[0] != "zk_version" || gk[1] != "zk_server_state" {
			bad("does not start with zk_version, zk_server_state: %q", gk)
		}
	case "dump":
		for who, out := range map[string]string{"zkd": got, "ZooKeeper": want} {
			var b bytes.Buffer
			for _, l := range lines(out) {
				c := byte('?')
				for _, d := range dumpLines {
					if d.re.MatchString(l) {
						c = d.class
						break
					}
				}
				b.WriteByte(c)
			}
			if !dumpGrammar.Match(b.Bytes()) {
				bad("%s's dump has line classes %q, not %v", who, b.String(), dumpGrammar)
			}
		}
	default:
		bad("no comparison for this word")
	}
	return diffs
}
