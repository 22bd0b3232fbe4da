package difftest

import (
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"strings"

	"zkd/jute"
)

// Op is one client operation of a sequence. Paths are relative to the run's root
// ("" is the root itself), so the same sequence can run under any root.
type Op struct {
	Session int         // session slot that sends it
	Code    jute.OpCode // the request opcode; OpAuth is addauth, OpCloseSession closes the slot's session and opens a new one
	Path    string      // relative to the root; may be deliberately malformed
	Data    []byte      // create, setData; nil is sent as a null buffer
	Mode    int32       // create flags, addWatch mode, or watcher type of check/removeWatches
	TTL     int64       // createTTL
	Version int32       // delete, setData, setACL, check
	ACL     int         // index into aclTable: create, setACL
	Watch   bool        // exists, getData, getChildren, getChildren2
	Auth    int         // index into authTable: addauth
	Ops     []Op        // multi and multiRead sub-ops (their Session is ignored)
	Mangle  Mangle      // how the request body is damaged before it is sent
}

// Mangle names a way of damaging a request body that no Java client produces
// but any client can send: the servers must answer it alike.
type Mangle uint8

const (
	MangleNone      Mangle = iota
	MangleTruncated        // the body's last byte is left off
	MangleTrailing         // three bytes follow the body
	// MangleACLCount sends an ACL vector count of -2 and no entries (create and
	// setACL only). Java's jute reads any negative count as an empty vector, so
	// the answer is that of an empty ACL list.
	MangleACLCount
)

var mangleNames = [...]string{"", "truncated", "trailing-bytes", "acl-count=-2"}

// aclChoice is a named ACL list the generator picks from.
type aclChoice struct {
	name string
	acl  []jute.ACL
}

// digestID returns the digest scheme id of user:password, as ZooKeeper's
// DigestAuthenticationProvider computes it: user:base64(sha1(user:password)).
func digestID(userPassword string) string {
	user, _, _ := strings.Cut(userPassword, ":")
	sum := sha1.Sum([]byte(userPassword))
	return user + ":" + base64.StdEncoding.EncodeToString(sum[:])
}

func world(perms int32) jute.ACL {
	return jute.ACL{Perms: perms, ID: jute.Id{Scheme: "world", ID: "anyone"}}
}

func digest(perms int32, userPassword string) jute.ACL {
	return jute.ACL{Perms: perms, ID: jute.Id{Scheme: "digest", ID: digestID(userPassword)}}
}

func ip(perms int32, addr string) jute.ACL {
	return jute.ACL{Perms: perms, ID: jute.Id{Scheme: "ip", ID: addr}}
}

const noRead = jute.PermAll &^ jute.PermRead

// aclTable is every ACL the generator uses: index 0 is the open ACL; the rest grant
// or deny in ways that make sessions with and without addauth see different things.
// The last four are invalid (INVALIDACL).
var aclTable = []aclChoice{
	{"open", []jute.ACL{world(jute.PermAll)}},
	{"world:r", []jute.ACL{world(jute.PermRead)}},
	{"alice:all", []jute.ACL{digest(jute.PermAll, "alice:secret")}},
	{"alice:all+world:r", []jute.ACL{digest(jute.PermAll, "alice:secret"), world(jute.PermRead)}},
	{"auth:all", []jute.ACL{{Perms: jute.PermAll, ID: jute.Id{Scheme: "auth", ID: ""}}}},
	{"ip:127.0.0.1", []jute.ACL{ip(jute.PermAll, "127.0.0.1")}},
	{"ip:10/8", []jute.ACL{ip(jute.PermAll, "10.0.0.0/8")}},
	{"world:cdwa", []jute.ACL{world(noRead)}},
	{"bob:ra+world:cd", []jute.ACL{digest(jute.PermRead|jute.PermAdmin, "bob:secret"), world(jute.PermCreate | jute.PermDelete)}},
	{"ip:127/8:r+alice:all", []jute.ACL{ip(jute.PermRead, "127.0.0.0/8"), digest(jute.PermAll, "alice:secret")}},
	{"open,open(dup)", []jute.ACL{world(jute.PermAll), world(jute.PermAll)}},
	{"bad:world:bob", []jute.ACL{{Perms: jute.PermAll, ID: jute.Id{Scheme: "world", ID: "bob"}}}},
	{"bad:empty", []jute.ACL{}},
	{"bad:digest-no-colon", []jute.ACL{{Perms: jute.PermAll, ID: jute.Id{Scheme: "digest", ID: "alice"}}}},
	{"bad:ip/33", []jute.ACL{ip(jute.PermAll, "127.0.0.1/33")}},
}

// authChoice is an addauth the generator may send.
type authChoice struct {
	scheme, auth string
}

// authTable: the last entry has a scheme no server knows (AUTHFAILED, then close).
var authTable = []authChoice{
	{"digest", "alice:secret"},
	{"digest", "bob:secret"},
	{"digest", "alice:wrong"},
	{"nosuchscheme", "x"},
}

var createModeNames = map[int32]string{
	0: "persistent", 1: "ephemeral", 2: "sequential", 3: "ephemeral-sequential",
	4: "container", 5: "ttl", 6: "sequential-ttl",
}

var watcherTypeNames = map[int32]string{1: "children", 2: "data", 3: "any"}

// showPath prints a root-relative path: the root is R.
func showPath(rel string) string {
	s := "R" + rel
	if strconv.CanBackquote(s) && !strings.ContainsAny(s, "\x00") {
		return s
	}
	return strconv.Quote(s)
}

func showData(b []byte) string {
	if b == nil {
		return "null"
	}
	return strconv.Quote(string(b))
}

func modeName(m int32) string {
	if s, ok := createModeNames[m]; ok {
		return s
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// String prints the op in a form a reader can replay with any client.
func (op Op) String() string {
	s := "s" + strconv.Itoa(op.Session) + " " + op.body()
	if op.Mangle != MangleNone {
		s += " body=" + mangleNames[op.Mangle]
	}
	return s
}

func (op Op) body() string {
	var b strings.Builder
	b.WriteString(op.Code.String())
	switch op.Code {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		b.WriteString(" " + showPath(op.Path) + " " + modeName(op.Mode) + " data=" + showData(op.Data) +
			" acl=" + aclTable[op.ACL].name)
		if op.Code == jute.OpCreateTTL {
			b.WriteString(" ttl=" + strconv.FormatInt(op.TTL, 10))
		}
	case jute.OpDelete, jute.OpCheck:
		b.WriteString(" " + showPath(op.Path) + " v=" + strconv.Itoa(int(op.Version)))
	case jute.OpSetData:
		b.WriteString(" " + showPath(op.Path) + " data=" + showData(op.Data) + " v=" + strconv.Itoa(int(op.Version)))
	case jute.OpSetACL:
		b.WriteString(" " + showPath(op.Path) + " acl=" + aclTable[op.ACL].name + " v=" + strconv.Itoa(int(op.Version)))
	case jute.OpExists, jute.OpGetData, jute.OpGetChildren, jute.OpGetChildren2:
		b.WriteString(" " + showPath(op.Path))
		if op.Watch {
			b.WriteString(" watch")
		}
	case jute.OpGetACL, jute.OpSync, jute.OpGetEphemerals, jute.OpGetAllChildrenNumber:
		b.WriteString(" " + showPath(op.Path))
	case jute.OpAddWatch:
		mode := "persistent"
		if op.Mode == jute.AddWatchPersistentRecursive {
			mode = "persistent-recursive"
		}
		b.WriteString(" " + showPath(op.Path) + " " + mode)
	case jute.OpRemoveWatches, jute.OpCheckWatches:
		b.WriteString(" " + showPath(op.Path) + " type=" + watcherTypeNames[op.Mode])
	case jute.OpAuth:
		a := authTable[op.Auth]
		b.Reset()
		b.WriteString("addauth " + a.scheme + " " + a.auth)
	case jute.OpCloseSession:
		b.WriteString(" (then a new session in this slot)")
	case jute.OpMulti, jute.OpMultiRead:
		b.WriteString(" [")
		for i, s := range op.Ops {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(s.body())
		}
		b.WriteString("]")
	}
	return b.String()
}

// request returns the opcode, xid (0: next normal xid) and body of op under root,
// damaged as op.Mangle says.
func (op Op) request(root string) (xid int32, code jute.OpCode, body []byte) {
	xid, code, body = op.wellFormed(root)
	switch op.Mangle {
	case MangleTruncated:
		if len(body) > 0 {
			body = body[:len(body)-1]
		}
	case MangleTrailing:
		body = append(body, 1, 2, 3)
	case MangleACLCount:
		path := root + op.Path
		switch op.Code {
		case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
			body = jute.AppendInt(jute.AppendInt(jute.AppendBuffer(jute.AppendString(nil, path), op.Data), -2), op.Mode)
			if op.Code == jute.OpCreateTTL {
				body = jute.AppendLong(body, op.TTL)
			}
		case jute.OpSetACL:
			body = jute.AppendInt(jute.AppendInt(jute.AppendString(nil, path), -2), op.Version)
		}
	}
	return xid, code, body
}

// wellFormed returns the opcode, xid and body of op under root, undamaged.
func (op Op) wellFormed(root string) (xid int32, code jute.OpCode, body []byte) {
	path := root + op.Path
	switch op.Code {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer:
		r := jute.CreateRequest{Path: path, Data: op.Data, ACL: aclTable[op.ACL].acl, Flags: op.Mode}
		return 0, op.Code, r.Append(nil)
	case jute.OpCreateTTL:
		r := jute.CreateTTLRequest{CreateRequest: jute.CreateRequest{Path: path, Data: op.Data, ACL: aclTable[op.ACL].acl, Flags: op.Mode}, TTL: op.TTL}
		return 0, op.Code, r.Append(nil)
	case jute.OpDelete:
		r := jute.PathVersionRequest{Path: path, Version: op.Version}
		return 0, op.Code, r.Append(nil)
	case jute.OpSetData:
		r := jute.SetDataRequest{Path: path, Data: op.Data, Version: op.Version}
		return 0, op.Code, r.Append(nil)
	case jute.OpSetACL:
		r := jute.SetACLRequest{Path: path, ACL: aclTable[op.ACL].acl, Version: op.Version}
		return 0, op.Code, r.Append(nil)
	case jute.OpExists, jute.OpGetData, jute.OpGetChildren, jute.OpGetChildren2:
		r := jute.PathWatchRequest{Path: path, Watch: op.Watch}
		return 0, op.Code, r.Append(nil)
	case jute.OpGetACL, jute.OpSync, jute.OpGetEphemerals, jute.OpGetAllChildrenNumber:
		r := jute.PathRequest{Path: path}
		return 0, op.Code, r.Append(nil)
	case jute.OpAddWatch, jute.OpRemoveWatches, jute.OpCheckWatches:
		r := jute.PathTypeRequest{Path: path, Type: op.Mode}
		return 0, op.Code, r.Append(nil)
	case jute.OpAuth:
		a := authTable[op.Auth]
		r := jute.AuthPacket{Scheme: a.scheme, Auth: []byte(a.auth)}
		return jute.XidAuth, op.Code, r.Append(nil)
	case jute.OpMulti, jute.OpMultiRead:
		r := jute.MultiRequest{Read: op.Code == jute.OpMultiRead}
		for _, s := range op.Ops {
			r.Ops = append(r.Ops, jute.MultiOp{
				Type: s.Code, Path: root + s.Path, Data: s.Data, ACL: aclTable[s.ACL].acl,
				Flags: s.Mode, TTL: s.TTL, Version: s.Version, Watch: s.Watch,
			})
		}
		return 0, op.Code, r.Append(nil)
	}
	// whoAmI, closeSession: header only.
	return 0, op.Code, nil
}

// isWrite reports whether op changes the tree when it succeeds.
func (op Op) isWrite() bool {
	switch op.Code {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL,
		jute.OpDelete, jute.OpSetData, jute.OpSetACL, jute.OpMulti, jute.OpCloseSession:
		return true
	}
	return false
}
