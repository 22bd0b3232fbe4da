package difftest

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"zkd/jute"
)

// view normalises one server's answers within one run. Values that legitimately
// differ between servers are mapped to something both must agree on:
//
//   - zxids: W<k> is the zxid of the k-th successful write of the run on this server
//     (W0 creates the root). A Stat zxid must be exactly some W<k>. A reply header of
//     a read or a failed write shows ~W<k>, the last write at or before it: ZooKeeper
//     logs failed writes (and session creation) as txns of their own and zkd does not
//     (README compatibility table, row "failed writes"), so only the position among
//     successful writes is comparable.
//   - ctime and mtime are dropped.
//   - session ids (ephemeralOwner) become s<slot>.<generation>.
//   - paths under the root are shown relative to it (R/a), and child and ephemeral
//     lists are sorted (servers return them in hash order).
type view struct {
	root   string
	writes []int64           // zxids of successful writes, in run order
	labels map[int64]string  // session id -> slot label
	digest map[string]string // digest id -> the user:password it came from
	notes  []string          // set when this server's write zxids stop increasing
}

func newView(root string) *view {
	v := &view{root: root, labels: map[int64]string{}, digest: map[string]string{}}
	for _, a := range authTable {
		if a.scheme == "digest" {
			v.digest[digestID(a.auth)] = a.auth
		}
	}
	return v
}

// addWrite records the header zxid of a successful write.
func (v *view) addWrite(z int64) {
	if n := len(v.writes); n > 0 && z <= v.writes[n-1] {
		v.notes = append(v.notes, fmt.Sprintf("write zxid %#x not above the previous write's %#x", z, v.writes[n-1]))
		return
	}
	v.writes = append(v.writes, z)
}

// zxid maps a Stat zxid: W<k> if it is the zxid of write k, W<k>+ if it lies between
// writes k and k+1 (no Stat should carry such a zxid), W<-1>+ before the run.
func (v *view) zxid(z int64) string {
	k := sort.Search(len(v.writes), func(i int) bool { return v.writes[i] > z }) - 1
	if k >= 0 && v.writes[k] == z {
		return "W" + strconv.Itoa(k)
	}
	return "W" + strconv.Itoa(k) + "+"
}

// headerZxid maps a ReplyHeader zxid of anything but a successful write (see view).
func (v *view) headerZxid(z int64) string {
	if z == 0 || z == -1 {
		return strconv.FormatInt(z, 10)
	}
	k := sort.Search(len(v.writes), func(i int) bool { return v.writes[i] > z }) - 1
	return "~W" + strconv.Itoa(k)
}

func (v *view) owner(sid int64) string {
	if sid == 0 {
		return "-"
	}
	if l, ok := v.labels[sid]; ok {
		return l
	}
	return "foreign-session"
}

// path shows p relative to the root.
func (v *view) path(p string) string {
	switch {
	case p == v.root:
		return showPath("")
	case strings.HasPrefix(p, v.root+"/"):
		return showPath(p[len(v.root):])
	}
	return strconv.Quote(p)
}

func (v *view) stat(s *jute.Stat) string {
	return fmt.Sprintf("{c=%s m=%s p=%s v=%d cv=%d av=%d eph=%s len=%d kids=%d}",
		v.zxid(s.Czxid), v.zxid(s.Mzxid), v.zxid(s.Pzxid), s.Version, s.Cversion, s.Aversion,
		v.owner(s.EphemeralOwner), s.DataLength, s.NumChildren)
}

func (v *view) names(list []string, paths bool) string {
	out := make([]string, len(list))
	for i, s := range list {
		if paths {
			out[i] = v.path(s)
		} else if s != "" && strconv.CanBackquote(s) && !strings.ContainsAny(s, " []") {
			out[i] = s
		} else {
			out[i] = strconv.Quote(s)
		}
	}
	slices.Sort(out)
	return "[" + strings.Join(out, " ") + "]"
}

func permString(p int32) string {
	var b strings.Builder
	for i, c := range "rwcda" {
		if p&(1<<i) != 0 {
			b.WriteRune(c)
		}
	}
	if rest := p &^ jute.PermAll; rest != 0 {
		b.WriteString("+" + strconv.Itoa(int(rest)))
	}
	return b.String()
}

// acl formats an ACL list in its order, except that each run of consecutive digest
// entries with equal perms is sorted: such a run is what an "auth" ACL expands to,
// one entry per digest id of the caller, and ZooKeeper takes those ids from the
// connection's hash set (ServerCnxn.authInfo), so their order carries no meaning.
// No explicit ACL the generator sends has two such entries in a row.
func (v *view) acl(list []jute.ACL) string {
	parts := make([]string, len(list))
	for i, a := range list {
		id := a.ID.ID
		if a.ID.Scheme == "digest" {
			if up, ok := v.digest[id]; ok {
				id = "H(" + up + ")"
			}
		}
		parts[i] = permString(a.Perms) + ":" + a.ID.Scheme + ":" + id
	}
	for i := 0; i < len(list); {
		j := i + 1
		for j < len(list) && list[i].ID.Scheme == "digest" && list[j].ID.Scheme == "digest" && list[j].Perms == list[i].Perms {
			j++
		}
		slices.Sort(parts[i:j])
		i = j
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// codeName prints an error code with its number.
func codeName(c jute.Code) string {
	if c == jute.CodeOK {
		return "ok"
	}
	return strings.ReplaceAll(c.Error(), " ", "") + "(" + strconv.Itoa(int(c)) + ")"
}

// multiOK reports whether a multi reply says every op was applied.
func multiOK(body []byte) bool {
	var r jute.MultiResponse
	d := jute.NewDecoder(body)
	r.Decode(&d)
	if d.Err() != nil {
		return false
	}
	for _, res := range r.Results {
		if res.Type == jute.OpError {
			return false
		}
	}
	return true
}

// succeeded reports whether op, answered with rep, changed the tree.
func succeeded(op Op, rep reply) bool {
	if !op.isWrite() || rep.hdr.Err != jute.CodeOK {
		return false
	}
	if op.Code == jute.OpMulti {
		return len(op.Ops) > 0 && multiOK(rep.body)
	}
	return true
}

// reply formats rep, the answer to op; write says whether it was a successful write
// (its header zxid is then a W<k> of its own).
func (v *view) reply(op Op, rep reply, write bool) string {
	var b strings.Builder
	b.WriteString(codeName(rep.hdr.Err))
	if write {
		b.WriteString(" zx=" + v.zxid(int64(rep.hdr.Zxid)))
	} else {
		b.WriteString(" zx=" + v.headerZxid(int64(rep.hdr.Zxid)))
	}
	if rep.hdr.Err != jute.CodeOK {
		if len(rep.body) > 0 {
			fmt.Fprintf(&b, " (+%d body bytes after an error header)", len(rep.body))
		}
		return b.String()
	}
	d := jute.NewDecoder(rep.body)
	b.WriteString(v.body(op, &d))
	if d.Err() != nil {
		fmt.Fprintf(&b, " undecodable body (%v): % x", d.Err(), rep.body)
	} else if n := d.Remaining(); n > 0 {
		fmt.Fprintf(&b, " (+%d trailing bytes)", n)
	}
	return b.String()
}

func (v *view) body(op Op, d *jute.Decoder) string {
	switch op.Code {
	case jute.OpCreate:
		return " " + v.path(d.String())
	case jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		var r jute.Create2Response
		r.Decode(d)
		return " " + v.path(r.Path) + " " + v.stat(&r.Stat)
	case jute.OpExists, jute.OpSetData, jute.OpSetACL:
		var s jute.Stat
		s.Decode(d)
		return " " + v.stat(&s)
	case jute.OpGetData:
		var r jute.GetDataResponse
		r.Decode(d)
		return " data=" + showData(r.Data) + " " + v.stat(&r.Stat)
	case jute.OpGetACL:
		var r jute.GetACLResponse
		r.Decode(d)
		return " " + v.acl(r.ACL) + " " + v.stat(&r.Stat)
	case jute.OpGetChildren:
		return " " + v.names(d.Strings(), false)
	case jute.OpGetChildren2:
		r := jute.ChildrenResponse{HasStat: true}
		r.Decode(d)
		return " " + v.names(r.Children, false) + " " + v.stat(&r.Stat)
	case jute.OpSync:
		return " " + v.path(d.String())
	case jute.OpGetEphemerals:
		return " " + v.names(d.Strings(), true)
	case jute.OpGetAllChildrenNumber, jute.OpAddWatch:
		return " " + strconv.Itoa(int(d.Int()))
	case jute.OpWhoAmI:
		var r jute.WhoAmIResponse
		r.Decode(d)
		parts := make([]string, len(r.ClientInfo))
		for i, ci := range r.ClientInfo {
			parts[i] = ci.AuthScheme + ":" + ci.User
		}
		// In order: ZooKeeper lists a connection's ids in its hash set's
		// order (ServerCnxn.authInfo), and zkd in the same.
		return " [" + strings.Join(parts, " ") + "]"
	case jute.OpMulti, jute.OpMultiRead:
		var r jute.MultiResponse
		r.Decode(d)
		parts := make([]string, len(r.Results))
		for i := range r.Results {
			parts[i] = v.opResult(&r.Results[i])
		}
		return " [" + strings.Join(parts, "; ") + "]"
	}
	return ""
}

func (v *view) opResult(r *jute.OpResult) string {
	switch r.Type {
	case jute.OpCreate:
		return "create " + v.path(r.Path)
	case jute.OpCreate2:
		return "create2 " + v.path(r.Path) + " " + v.stat(&r.Stat)
	case jute.OpSetData:
		return "setData " + v.stat(&r.Stat)
	case jute.OpGetData:
		return "getData data=" + showData(r.Data) + " " + v.stat(&r.Stat)
	case jute.OpGetChildren:
		return "getChildren " + v.names(r.Children, false)
	case jute.OpError:
		return "error " + codeName(r.Err)
	}
	return r.Type.String()
}

var eventNames = map[jute.EventType]string{
	jute.EventNodeCreated: "NodeCreated", jute.EventNodeDeleted: "NodeDeleted",
	jute.EventNodeDataChanged: "NodeDataChanged", jute.EventNodeChildrenChanged: "NodeChildrenChanged",
}

// events formats one session's notifications, sorted if sorted is set. 3.8 sends
// every notification with zxid -1 and state SyncConnected; anything else is shown.
func (v *view) events(evs []event, sorted bool) string {
	parts := make([]string, len(evs))
	for i, e := range evs {
		name, ok := eventNames[e.typ]
		if !ok {
			name = "event(" + strconv.Itoa(int(e.typ)) + ")"
		}
		s := name + " " + v.path(e.path)
		if e.state != jute.StateSyncConnected {
			s += " state=" + strconv.Itoa(int(e.state))
		}
		if e.zxid != -1 {
			s += " zx=" + v.headerZxid(e.zxid)
		}
		parts[i] = s
	}
	if sorted {
		slices.Sort(parts)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
