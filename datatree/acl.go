package datatree

import (
	"net"
	"strconv"
	"strings"
	"sync/atomic"

	"zkd/jute"
)

// Identity is what a connection has authenticated as: the ids used for ACL checks.
// A slice is never modified after it is published, so it may be shared freely.
type Identity []jute.Id

// IsSuper reports whether the identity bypasses every ACL check.
func (id Identity) IsSuper() bool {
	for _, x := range id {
		if x.Scheme == "super" {
			return true
		}
	}
	return false
}

// CheckACL reports whether id holds perm on a node with the given ACL
// (spec/semantics.md §10.1).
func (t *Tree) CheckACL(acl []jute.ACL, id Identity, perm int32) bool {
	if t.cfg.SkipACL || len(acl) == 0 {
		return true
	}
	if id.IsSuper() {
		return true
	}
	for i := range acl {
		a := &acl[i]
		if a.Perms&perm == 0 {
			continue
		}
		if a.ID.Scheme == "world" && a.ID.ID == "anyone" {
			return true
		}
		for _, x := range id {
			if x.Scheme == a.ID.Scheme && t.idMatches(x.Scheme, x.ID, a.ID.ID) {
				return true
			}
		}
	}
	return false
}

func (t *Tree) idMatches(scheme, have, want string) bool {
	if scheme == "ip" {
		return ipMatches(have, want)
	}
	if s, ok := t.scheme(scheme); ok && scheme != "digest" {
		return s.Matches(have, want)
	}
	return have == want
}

// ipMatches reports whether address addr lies in want ("a.b.c.d" or "a.b.c.d/bits").
func ipMatches(addr, want string) bool {
	ip := net.ParseIP(addr)
	if ip == nil {
		return false
	}
	network, ok := parseIPACL(want)
	if !ok {
		return false
	}
	if ip4 := ip.To4(); ip4 != nil && len(network.IP) == net.IPv4len {
		ip = ip4
	}
	return network.Contains(ip)
}

func parseIPACL(s string) (*net.IPNet, bool) {
	addr, bitsStr, hasBits := strings.Cut(s, "/")
	ip := net.ParseIP(addr)
	if ip == nil {
		return nil, false
	}
	total := 128
	if ip4 := ip.To4(); ip4 != nil {
		ip, total = ip4, 32
	}
	bits := total
	if hasBits {
		n, err := strconv.Atoi(bitsStr)
		if err != nil || n < 0 || n > total {
			return nil, false
		}
		bits = n
	}
	mask := net.CIDRMask(bits, total)
	return &net.IPNet{IP: ip.Mask(mask), Mask: mask}, true
}

// authenticatedScheme reports whether ids of this scheme stand for an authenticated
// user, so that an "auth" ACL entry expands to them (ip does not).
func authenticatedScheme(scheme string) bool {
	return scheme == "digest" || scheme == "sasl" || scheme == "x509"
}

// FixupACL validates an ACL list from create or setACL and expands "auth" entries
// to the caller's authenticated ids, removing duplicates (spec/semantics.md §10.3).
// Only the built-in schemes are known; Tree.FixupACL adds the registered ones. A
// list that needs neither (nearly all) is returned as it came, not copied.
func FixupACL(acl []jute.ACL, id Identity) ([]jute.ACL, jute.Code) {
	return fixupACL(acl, id, func(string) (Scheme, bool) { return nil, false })
}

func fixupACL(acl []jute.ACL, id Identity, registered func(string) (Scheme, bool)) ([]jute.ACL, jute.Code) {
	if len(acl) == 0 {
		return nil, jute.CodeInvalidACL
	}
	// The result is acl[:kept] until an entry differs from the input's at the
	// same place (an expansion, or one after a dropped duplicate); then out.
	var out []jute.ACL
	kept := 0
	add := func(a jute.ACL) {
		sofar := out
		if out == nil {
			sofar = acl[:kept]
		}
		for _, b := range sofar {
			if b == a {
				return
			}
		}
		if out == nil {
			if acl[kept] == a {
				kept++
				return
			}
			out = append(make([]jute.ACL, 0, len(acl)+len(id)), acl[:kept]...)
		}
		out = append(out, a)
	}
	for _, a := range acl {
		switch a.ID.Scheme {
		case "world":
			if a.ID.ID != "anyone" {
				return nil, jute.CodeInvalidACL
			}
			add(a)
		case "auth":
			found := false
			for _, x := range id {
				if authenticatedScheme(x.Scheme) {
					add(jute.ACL{Perms: a.Perms, ID: x})
					found = true
				}
			}
			if !found {
				return nil, jute.CodeInvalidACL
			}
		case "digest":
			if !validDigestID(a.ID.ID) {
				return nil, jute.CodeInvalidACL
			}
			add(a)
		case "ip":
			if _, ok := parseIPACL(a.ID.ID); !ok {
				return nil, jute.CodeInvalidACL
			}
			add(a)
		default:
			s, ok := registered(a.ID.Scheme)
			if !ok || !s.Valid(a.ID.ID) {
				return nil, jute.CodeInvalidACL
			}
			add(a)
		}
	}
	if out == nil {
		return acl[:kept], jute.CodeOK
	}
	return out, jute.CodeOK
}

// validDigestID is DigestAuthenticationProvider.isValid: Java's id.split(":"), which
// drops trailing empty strings, must give exactly two parts. So "user:" and ":" are
// invalid while "user:hash:" is valid.
func validDigestID(id string) bool {
	parts := strings.Split(id, ":")
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return len(parts) == 2
}

// aclTable interns ACL lists so that the million nodes sharing OPEN_ACL_UNSAFE share
// one list, which a node names by a uint32 index. Interning is done only by the
// applier (and New and Restore), so ids needs no lock. Readers resolve an index
// through chunks published like the node slab's: a chunk slot is written before
// any node refers to it (under that node's stripe lock), and lists are never
// modified or removed.
type aclTable struct {
	ids  map[string]uint32 // applier-only: encoded list -> index
	key  []byte            // applier-only scratch
	dir  atomic.Pointer[[]*aclChunk]
	next uint32 // applier-only: the next index
}

const aclChunkBits = 8

type aclChunk [1 << aclChunkBits][]jute.ACL

func (t *aclTable) init() {
	t.ids = make(map[string]uint32)
	dir := []*aclChunk{}
	t.dir.Store(&dir)
}

// list returns the ACL list with index id. The caller holds the stripe lock of a
// node that refers to id.
func (t *aclTable) list(id uint32) []jute.ACL {
	return (*t.dir.Load())[id>>aclChunkBits][id&(1<<aclChunkBits-1)]
}

func (t *aclTable) intern(acl []jute.ACL) uint32 {
	t.key = t.key[:0]
	for i := range acl {
		t.key = acl[i].Append(t.key)
	}
	if id, ok := t.ids[string(t.key)]; ok {
		return id
	}
	own := make([]jute.ACL, len(acl))
	for i, a := range acl {
		own[i] = jute.ACL{Perms: a.Perms, ID: jute.Id{Scheme: jute.Clone(a.ID.Scheme), ID: jute.Clone(a.ID.ID)}}
	}
	id := t.next
	dir := *t.dir.Load()
	if int(id>>aclChunkBits) == len(dir) {
		grown := append(dir[:len(dir):len(dir)], new(aclChunk))
		t.dir.Store(&grown)
		dir = grown
	}
	dir[id>>aclChunkBits][id&(1<<aclChunkBits-1)] = own
	t.next++
	t.ids[string(t.key)] = id
	return id
}
