package zoocfg

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// PeerType is the role of an ensemble member: ZooKeeper's LearnerType, whose
// ordinal the conf four-letter word prints as peerType (0 participant, 1 observer).
type PeerType uint8

const (
	Participant PeerType = 0 // votes, and may lead
	Observer    PeerType = 1 // follows the log and serves clients, never votes
)

// String returns the word a server.N line and peerType use.
func (t PeerType) String() string {
	if t == Observer {
		return "observer"
	}
	return "participant"
}

// parsePeerType accepts the words ZooKeeper accepts: participant or observer, in
// any case, surrounding blanks ignored.
func parsePeerType(s string) (PeerType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "participant":
		return Participant, nil
	case "observer":
		return Observer, nil
	}
	return 0, fmt.Errorf("unrecognised peer type %q: want participant or observer", s)
}

// PeerAddr is one host:quorumPort:electionPort triple of a server.N line.
type PeerAddr struct {
	// Host is the host as ZooKeeper prints it (javaHost): a name as written, an IPv4
	// literal, or an IPv6 literal in Java's uncompressed form, without brackets.
	Host         string
	QuorumPort   int // followers to leader (zkd: the raft peer transport)
	ElectionPort int // leader election; differs from QuorumPort
}

// QuorumAddr returns host:quorumPort.
func (a PeerAddr) QuorumAddr() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.QuorumPort)) }

// ElectionAddr returns host:electionPort.
func (a PeerAddr) ElectionAddr() string {
	return net.JoinHostPort(a.Host, strconv.Itoa(a.ElectionPort))
}

// String returns host:quorumPort:electionPort, an IPv6 host in brackets.
func (a PeerAddr) String() string {
	return bracketHost(a.Host) + ":" + strconv.Itoa(a.QuorumPort) + ":" + strconv.Itoa(a.ElectionPort)
}

// Server is one ensemble member: one server.N line (spec/ops.md §4.2),
//
//	server.<id>=<host>:<quorumPort>:<electionPort>[:participant|:observer][|<host>:...][;[<clientHost>:]<clientPort>]
//
// ParseServer and String are inverses: ParseServer(s.ID, value of s.String())
// returns s again, and String prints what ZooKeeper prints for the same line in
// /zookeeper/config, the conf four-letter word and a dynamic configuration file.
type Server struct {
	ID int64 // the N of server.N: that server's myid; never negative
	// Addrs holds one triple per multiAddress alternative (at least one), sorted by
	// host as ZooKeeper prints them.
	Addrs []PeerAddr
	Type  PeerType
	// ClientAddr is the client address of the ";" part as host:port ("0.0.0.0" when
	// the part is a bare port), or "" when the line has none.
	ClientAddr string
}

// QuorumAddrs returns the server's quorum addresses, host:quorumPort, joined by
// "|" as in its server.N line when it has several (multiAddress).
func (s Server) QuorumAddrs() string {
	addrs := make([]string, len(s.Addrs))
	for i, a := range s.Addrs {
		addrs[i] = a.QuorumAddr()
	}
	return strings.Join(addrs, "|")
}

// ErrBadServer matches (errors.Is) every ServerError.
var ErrBadServer = errors.New("zoocfg: bad server line")

// ServerError is returned by ParseServer and ParseServerLine when a server.N line
// does not have ZooKeeper's form.
type ServerError struct {
	Key, Value string // server.N and the value as given
	Reason     string
}

func (e *ServerError) Error() string { return fmt.Sprintf("%s=%q: %s", e.Key, e.Value, e.Reason) }

// Is makes errors.Is(err, ErrBadServer) true.
func (e *ServerError) Is(target error) bool { return target == ErrBadServer }

// ParseServer parses the value of a server.N line with ZooKeeper's rules
// (QuorumPeer.QuorumServer): one to many host:quorumPort:electionPort triples
// joined by '|', each optionally typed :participant or :observer (the types must
// agree), then an optional ;clientPort or ;clientHost:clientPort. An IPv6 host is
// written in brackets. Empty trailing parts are ignored, as Java's String.split
// ignores them. zkd refuses what ZooKeeper lets through but no peer could use: an
// empty host (Java reads it as localhost), a host with blanks or brackets, and quorum or
// election port 0.
func ParseServer(id int64, value string) (Server, error) {
	key := "server." + strconv.FormatInt(id, 10)
	bad := func(why string) error { return &ServerError{Key: key, Value: value, Reason: why} }
	if id < 0 {
		return Server{}, bad("the server id must not be negative")
	}
	parts := splitJava(strings.TrimSpace(value), ";")
	if len(parts) == 0 || len(parts) > 2 {
		return Server{}, bad("want host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]")
	}
	s := Server{ID: id}
	typed := false
	for _, alt := range splitJava(parts[0], "|") {
		f, err := hostAndPorts(alt)
		if err != nil {
			return Server{}, bad(err.Error())
		}
		if len(f) < 3 || len(f) > 4 {
			return Server{}, bad("want host:quorumPort:electionPort[:participant|:observer] for each address")
		}
		if err := checkHost(f[0]); err != nil {
			return Server{}, bad(err.Error())
		}
		a := PeerAddr{Host: javaHost(f[0])}
		if a.QuorumPort, err = parsePort(f[1], 1); err != nil {
			return Server{}, bad("quorum port: " + err.Error())
		}
		if a.ElectionPort, err = parsePort(f[2], 1); err != nil {
			return Server{}, bad("election port: " + err.Error())
		}
		if a.QuorumPort == a.ElectionPort {
			return Server{}, bad("the quorum and election ports must differ")
		}
		if len(f) == 4 {
			t, err := parsePeerType(f[3])
			if err != nil {
				return Server{}, bad(err.Error())
			}
			if typed && t != s.Type {
				return Server{}, bad("the addresses of one server must have the same peer type")
			}
			s.Type, typed = t, true
		}
		s.Addrs = append(s.Addrs, a)
	}
	if len(s.Addrs) == 0 {
		return Server{}, bad("no address")
	}
	// ZooKeeper keeps the alternatives in a set and prints them sorted by host; a
	// stable sort keeps equal hosts in the order written.
	slices.SortStableFunc(s.Addrs, func(a, b PeerAddr) int { return strings.Compare(a.Host, b.Host) })
	if len(parts) == 2 {
		f, err := hostAndPorts(parts[1])
		if err != nil {
			return Server{}, bad(err.Error())
		}
		host := "0.0.0.0"
		switch len(f) {
		case 1:
		case 2:
			if err := checkHost(f[0]); err != nil {
				return Server{}, bad("client " + err.Error())
			}
			host = javaHost(f[0])
		default:
			return Server{}, bad("the client part must be port or host:port")
		}
		port, err := parsePort(f[len(f)-1], 0)
		if err != nil {
			return Server{}, bad("client port: " + err.Error())
		}
		s.ClientAddr = net.JoinHostPort(host, strconv.Itoa(port))
	}
	return s, nil
}

// ParseServerLine parses a whole "server.N=value" line, as reconfig's joining
// list and a dynamic configuration file carry them.
func ParseServerLine(line string) (Server, error) {
	key, value, ok := strings.Cut(line, "=")
	if !ok {
		return Server{}, &ServerError{Key: "server line", Value: line, Reason: "want server.N=value"}
	}
	key = strings.TrimSpace(key)
	id, err := serverID(key)
	if err != nil {
		return Server{}, &ServerError{Key: key, Value: value, Reason: err.Error()}
	}
	return ParseServer(id, value)
}

// serverID returns the N of a "server.N" key.
func serverID(key string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(key, "server."), 10, 64)
	if err != nil || !strings.HasPrefix(key, "server.") {
		return 0, errors.New("the server id must be a number")
	}
	return id, nil
}

// String returns the line as ZooKeeper prints it: "server.N=" then the address
// triples joined by '|', ":participant" or ":observer" (always written), then
// ";host:port" when the line has a client part.
func (s Server) String() string {
	b := make([]byte, 0, 64)
	b = append(b, "server."...)
	b = strconv.AppendInt(b, s.ID, 10)
	b = append(b, '=')
	for i, a := range s.Addrs {
		if i > 0 {
			b = append(b, '|')
		}
		b = append(b, a.String()...)
	}
	b = append(b, ':')
	b = append(b, s.Type.String()...)
	if s.ClientAddr != "" {
		b = append(b, ';')
		b = append(b, s.ClientAddr...)
	}
	return string(b)
}

// Voting reports whether the server is a participant.
func (s Server) Voting() bool { return s.Type == Participant }

// Membership is an ensemble's member list with its configuration version: the
// content of /zookeeper/config and of a dynamic configuration file (spec/ops.md
// §4.2). Servers is sorted by ID and holds each ID once; Version is the zxid of
// the reconfig that made this membership, 0 for a static configuration.
type Membership struct {
	Servers []Server
	Version int64
}

// ErrBadMembership is returned (wrapped) by ParseMembership for text that is not
// server.N lines and one version line.
var ErrBadMembership = errors.New("zoocfg: bad membership")

// ParseMembership parses the /zookeeper/config form: server.N=... lines and an
// optional version=<hex> line, in any order (blank lines and # comments skipped).
// Other keys, a repeated server id and a repeated version are errors.
func ParseMembership(text string) (Membership, error) {
	var m Membership
	seenVersion := false
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		key, value, ok := cutProperty(line)
		switch {
		case !ok:
			return Membership{}, fmt.Errorf("%w: line %d: %q is not key=value", ErrBadMembership, i+1, line)
		case key == "version":
			v, err := parseVersion(value)
			if err != nil || seenVersion {
				return Membership{}, fmt.Errorf("%w: line %d: version=%q: want one hex version", ErrBadMembership, i+1, value)
			}
			m.Version, seenVersion = v, true
		case strings.HasPrefix(key, "server."):
			id, err := serverID(key)
			if err != nil {
				return Membership{}, fmt.Errorf("line %d: %w", i+1, &ServerError{Key: key, Value: value, Reason: err.Error()})
			}
			s, err := ParseServer(id, value)
			if err != nil {
				return Membership{}, fmt.Errorf("line %d: %w", i+1, err)
			}
			if _, dup := m.Lookup(id); dup {
				return Membership{}, fmt.Errorf("%w: line %d: server.%d appears twice", ErrBadMembership, i+1, id)
			}
			m.put(s)
		default:
			return Membership{}, fmt.Errorf("%w: line %d: unrecognised parameter %q", ErrBadMembership, i+1, key)
		}
	}
	return m, nil
}

// parseVersion reads a configuration version: a hex zxid without 0x, as
// Long.parseLong(s, 16) reads it.
func parseVersion(s string) (int64, error) { return strconv.ParseInt(s, 16, 64) }

// put adds s, or replaces the server with its ID, keeping Servers sorted.
func (m *Membership) put(s Server) {
	i, found := slices.BinarySearchFunc(m.Servers, s.ID, func(x Server, id int64) int { return cmp.Compare(x.ID, id) })
	if found {
		m.Servers[i] = s
		return
	}
	m.Servers = slices.Insert(m.Servers, i, s)
}

// Lookup returns the server with the given ID.
func (m Membership) Lookup(id int64) (Server, bool) {
	i, found := slices.BinarySearchFunc(m.Servers, id, func(x Server, id int64) int { return cmp.Compare(x.ID, id) })
	if !found {
		return Server{}, false
	}
	return m.Servers[i], true
}

// Counts returns how many participants and observers there are.
func (m Membership) Counts() (participants, observers int) {
	for _, s := range m.Servers {
		if s.Voting() {
			participants++
		} else {
			observers++
		}
	}
	return participants, observers
}

// String returns the /zookeeper/config text: one server line per member by ID,
// then "version=<hex>", with no newline after it (QuorumMaj.toString).
//
// NB: ZooKeeper lists the members in its HashMap's order, which is by ID for the
// small IDs ensembles use; clients read the lines, not their order.
func (m Membership) String() string {
	var b strings.Builder
	for _, s := range m.Servers {
		b.WriteString(s.String())
		b.WriteByte('\n')
	}
	b.WriteString("version=")
	b.WriteString(strconv.FormatInt(m.Version, 16))
	return b.String()
}

// DynamicFileText returns the content ZooKeeper writes to a dynamic configuration
// file (QuorumPeerConfig.writeDynamicConfig): the server lines sorted as strings
// (server.10 before server.2), no version (the file name carries it), joined by
// newlines with none at the end.
func (m Membership) DynamicFileText() string {
	lines := make([]string, len(m.Servers))
	for i, s := range m.Servers {
		lines[i] = s.String()
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// DynamicFileName returns the name ZooKeeper gives the dynamic configuration file
// of a version: <static config file>.dynamic.<hex version>.
func DynamicFileName(configFile string, version int64) string {
	return configFile + ".dynamic." + strconv.FormatInt(version, 16)
}

// versionFromFileName returns the version a dynamic file's name carries: the hex
// number after its last dot (QuorumPeerConfig.getVersionFromFilename); ok is false
// when there is none, and the version is then 0.
func versionFromFileName(name string) (int64, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return 0, false
	}
	v, err := parseVersion(name[i+1:])
	return v, err == nil
}

// splitJava splits s as Java's String.split does for a literal separator:
// trailing empty fields are dropped.
func splitJava(s, sep string) []string {
	f := strings.Split(s, sep)
	for len(f) > 0 && f[len(f)-1] == "" {
		f = f[:len(f)-1]
	}
	return f
}

// hostAndPorts splits host:a:b... where host may be a bracketed IPv6 literal
// (ConfigUtils.getHostAndPort).
func hostAndPorts(s string) ([]string, error) {
	if !strings.HasPrefix(s, "[") {
		return strings.Split(s, ":"), nil
	}
	end := strings.IndexByte(s, ']')
	switch {
	case end < 0:
		return nil, fmt.Errorf("%q starts with '[' but has no matching ']'", s)
	case end+1 == len(s):
		return []string{s[1:end]}, nil
	case s[end+1] != ':' || end+2 == len(s):
		return nil, fmt.Errorf("%q does not have a port after ']:'", s)
	}
	return append([]string{s[1:end]}, strings.Split(s[end+2:], ":")...), nil
}

// checkHost refuses a host zkd could neither print back nor dial: empty (Java
// would read it as localhost), or with blanks, brackets or control characters.
func checkHost(h string) error {
	if h == "" {
		return errors.New("the host is empty")
	}
	if strings.IndexFunc(h, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '[' || r == ']'
	}) >= 0 {
		return fmt.Errorf("the host %q contains blanks, brackets or control characters", h)
	}
	return nil
}

// parsePort reads a port as Integer.parseInt does (an optional sign, decimal
// digits) and checks it is in [lo, 65535].
func parsePort(s string, lo int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if n < lo || n > 65535 {
		return 0, fmt.Errorf("%d is out of range [%d, 65535]", n, lo)
	}
	return n, nil
}

// javaHost returns the host string Java's InetSocketAddress.getHostString gives
// for a host as written: IP literals in Java's text form (an IPv6 address with
// all eight groups, no zero compression; an IPv4-mapped one as IPv4), names as
// written. An address with a zone is left as written.
func javaHost(h string) string {
	ip, err := netip.ParseAddr(h)
	if err != nil || ip.Zone() != "" {
		return h
	}
	if ip.Is4() || ip.Is4In6() {
		return ip.Unmap().String()
	}
	b := ip.As16()
	groups := make([]string, 8)
	for i := range groups {
		groups[i] = strconv.FormatUint(uint64(b[2*i])<<8|uint64(b[2*i+1]), 16)
	}
	return strings.Join(groups, ":")
}

// bracketHost puts an IPv6 host in brackets (QuorumServer.delimitedHostString).
func bracketHost(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}
