package zoocfg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadReconfig matches (errors.Is) every ReconfigError.
var ErrBadReconfig = errors.New("zoocfg: bad reconfig")

// ReconfigError is returned by Reconfigure for a request ZooKeeper refuses.
type ReconfigError struct {
	// Runtime marks what ZooKeeper 3.8 fails on with an unchecked exception (a
	// server id that is not a number, observers without participants): its
	// client sees MARSHALLINGERROR instead of BADARGUMENTS.
	Runtime bool
	Reason  string
}

func (e *ReconfigError) Error() string { return "zoocfg: bad reconfig: " + e.Reason }

// Is makes errors.Is(err, ErrBadReconfig) true.
func (e *ReconfigError) Is(target error) bool { return target == ErrBadReconfig }

func badReconfig(format string, args ...any) error {
	return &ReconfigError{Reason: fmt.Sprintf(format, args...)}
}

func runtimeReconfig(format string, args ...any) error {
	return &ReconfigError{Runtime: true, Reason: fmt.Sprintf(format, args...)}
}

// Reconfigure returns the membership a reconfig request makes of m (the version
// is left 0: the reconfig's zxid sets it), by the rules of ZooKeeper's
// PrepRequestProcessor. A nil string is a field the client left null.
//
//   - newMembers set: a non-incremental reconfig; the joining and leaving lists
//     are ignored. newMembers is server.N lines (and an optional version line)
//     separated by commas or newlines; the result is exactly those servers.
//   - otherwise incremental: leaving is server ids separated by commas, removed
//     first; joining is "server.N=spec" entries separated by commas, each of which
//     must have a client port and must not share a quorum or election address with
//     another server; a joining id already present replaces that server (a role or
//     address change).
//
// It checks the syntax only: the caller decides whether the result has enough
// participants and a synced quorum.
func (m Membership) Reconfigure(joining, leaving, newMembers *string) (Membership, error) {
	if newMembers != nil {
		return parseNewMembers(*newMembers)
	}
	next := Membership{Servers: append([]Server(nil), m.Servers...)}
	if leaving != nil {
		for _, f := range splitTrim(*leaving, ",") {
			id, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return Membership{}, runtimeReconfig("leaving server id %q is not a number", f)
			}
			next.remove(id)
		}
	}
	if joining != nil {
		for _, joiner := range splitTrim(*joining, ",") {
			parts := splitTrim(joiner, "=")
			if len(parts) != 2 {
				return Membership{}, badReconfig("wrong format of server string %q", joiner)
			}
			key := parts[0]
			id, err := strconv.ParseInt(key[strings.LastIndexByte(key, '.')+1:], 10, 64)
			if err != nil {
				return Membership{}, runtimeReconfig("joining server %q: the id is not a number", joiner)
			}
			s, err := ParseServer(id, parts[1])
			if err != nil {
				return Membership{}, badReconfig("reconfiguration failed: %v", err)
			}
			if s.ClientAddr == "" {
				return Membership{}, badReconfig("wrong format of server string %q: each server should have at least 3 ports specified", joiner)
			}
			for _, o := range next.Servers {
				if o.ID != s.ID && sharesAddress(s, o) {
					return Membership{}, badReconfig("server.%d and server.%d have the same quorum or election address", s.ID, o.ID)
				}
			}
			next.put(s)
		}
	}
	return next, nil
}

// parseNewMembers reads a non-incremental member list (QuorumPeerConfig.parseDynamicConfig).
func parseNewMembers(text string) (Membership, error) {
	props, err := readProperties("newMembers", []byte(strings.ReplaceAll(text, ",", "\n")))
	if err != nil {
		return Membership{}, badReconfig("%v", err)
	}
	var m Membership
	for _, pr := range props {
		switch {
		case pr.key == "version":
		case strings.HasPrefix(pr.key, "group") || strings.HasPrefix(pr.key, "weight"):
			return Membership{}, badReconfig("hierarchical quorums (%s) are not supported", pr.key)
		case strings.HasPrefix(pr.key, "server."):
			id, err := strconv.ParseInt(pr.key[len("server."):], 10, 64)
			if err != nil {
				return Membership{}, runtimeReconfig("%s: the server id is not a number", pr.key)
			}
			s, err := ParseServer(id, pr.value)
			if err != nil {
				return Membership{}, badReconfig("%v", err)
			}
			m.put(s)
		default:
			return Membership{}, badReconfig("unrecognised parameter: %s", pr.key)
		}
	}
	participants, observers := m.Counts()
	switch {
	case participants == 0 && observers > 0:
		return Membership{}, runtimeReconfig("observers without participants is an invalid configuration")
	case participants == 1 && observers > 0:
		return Membership{}, runtimeReconfig("observers without a quorum is an invalid configuration")
	}
	return m, nil
}

// remove drops the server with the given ID, if present.
func (m *Membership) remove(id int64) {
	for i, s := range m.Servers {
		if s.ID == id {
			m.Servers = append(m.Servers[:i:i], m.Servers[i+1:]...)
			return
		}
	}
}

// sharesAddress reports whether two servers use one host:port for their quorum
// or election addresses (QuorumServer.checkAddressDuplicate).
func sharesAddress(a, b Server) bool {
	for _, x := range a.Addrs {
		for _, y := range b.Addrs {
			xs := []string{x.QuorumAddr(), x.ElectionAddr()}
			ys := []string{y.QuorumAddr(), y.ElectionAddr()}
			for _, p := range xs {
				for _, q := range ys {
					if p == q {
						return true
					}
				}
			}
		}
	}
	return false
}

// splitTrim splits s at sep, trims each field and drops empty ones (ZooKeeper's
// StringUtils.split).
func splitTrim(s, sep string) []string {
	var out []string
	for _, f := range strings.Split(s, sep) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Lines returns the server lines of the /zookeeper/config text, each followed by
// a newline: the text without its version line. Appending "version=<hex>" gives
// String() of the same servers at that version.
func (m Membership) Lines() string {
	var b strings.Builder
	for _, s := range m.Servers {
		b.WriteString(s.String())
		b.WriteByte('\n')
	}
	return b.String()
}
