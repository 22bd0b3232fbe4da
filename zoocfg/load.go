package zoocfg

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Warning is something loading accepted but an operator should hear about.
type Warning struct {
	File string // where the key was read: a file name, or "" for a -D property
	Line int    // its line; 0 when not from a file
	Key  string
	Msg  string
}

// String returns "file:line: key: msg", leaving out what is unknown.
func (w Warning) String() string {
	switch {
	case w.File == "":
		return w.Key + ": " + w.Msg
	case w.Line == 0:
		return fmt.Sprintf("%s: %s: %s", w.File, w.Key, w.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", w.File, w.Line, w.Key, w.Msg)
}

// Attrs returns the warning's place and key as log attributes (file, line, key).
func (w Warning) Attrs() []slog.Attr {
	var attrs []slog.Attr
	if w.File != "" {
		attrs = append(attrs, slog.String("file", w.File))
	}
	if w.Line > 0 {
		attrs = append(attrs, slog.Int("line", w.Line))
	}
	return append(attrs, slog.String("key", w.Key))
}

// Load reads a zoo.cfg file (Parse) and records its path in ConfigFile.
func Load(path string) (Config, error) {
	return load(path, NoMyID)
}

func load(path string, fallbackMyID int64) (Config, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("zoocfg: %w", err)
	}
	c, err := parse(path, text, fallbackMyID)
	c.ConfigFile = path
	return c, err
}

// Parse reads the text of a zoo.cfg, named name in errors, onto ZooKeeper's
// defaults, as QuorumPeerConfig.parse does:
//
//   - the text is a Java properties file; a key given twice keeps its last value;
//   - a bad value is an error naming name:line and the key; an unknown key is a
//     Warning, and becomes the system property zookeeper.<key>;
//   - dataDir is required; without clientPort (and no client part in this server's
//     own server.N line) there is no plain client port;
//   - dynamicConfigFile is read for the server list; <dataDir>/myid for MyID;
//     this server's server.N line supplies the client address and peer type.
//
// The result is not yet validated: apply overrides (-D properties, flags), then
// call Validate.
func Parse(name string, text []byte) (Config, error) {
	return parse(name, text, NoMyID)
}

// parse is Parse; fallbackMyID is the myid to use when <dataDir>/myid does not
// exist (the Docker image writes ZOO_MY_ID there before ZooKeeper starts).
func parse(name string, text []byte, fallbackMyID int64) (Config, error) {
	c := zooKeeperDefaults()
	c.ConfigText = string(text)
	props, err := readProperties(name, text)
	if err != nil {
		return c, err
	}
	p := parser{Config: &c, file: name}
	for _, pr := range props {
		if pr.key == "dynamicConfigFile" {
			p.forbidServers = true
		}
	}
	for _, pr := range props {
		if err := p.applyFileKey(pr); err != nil {
			return c, err
		}
	}
	return c, p.finish(fallbackMyID)
}

// parser applies keys to one Config.
type parser struct {
	*Config
	defaulting    bool   // applying the table's defaults: nothing is "set"
	forbidServers bool   // the static file names a dynamic one
	key           string // the key being applied; families read their N from it
	file          string // where keys come from, for errors and warnings
	line          int

	// clientPort and clientPortAddress combine into ClientAddr once the whole file
	// is read, whatever their order.
	clientPort        int
	clientPortAddress string
}

// warn records a Warning about key at the current place.
func (p *parser) warn(key, msg string) {
	if !p.defaulting {
		p.Warnings = append(p.Warnings, Warning{File: p.file, Line: p.line, Key: key, Msg: msg})
	}
}

// setProperty records a system property for system_properties.
func (p *parser) setProperty(key, value string) {
	if p.SystemProperties == nil {
		p.SystemProperties = make(map[string]string)
	}
	p.SystemProperties[key] = value
}

// noteOrigin remembers where key was read, and where its family was first seen.
func (p *parser) noteOrigin(key string, k *key) {
	if p.origins == nil {
		p.origins = map[string]string{}
	}
	where := fmt.Sprintf("%s:%d", p.file, p.line)
	p.origins[key] = where
	if k != nil && k.family {
		if _, ok := p.origins[k.name]; !ok {
			p.origins[k.name] = where
		}
	}
}

// applyFileKey applies one zoo.cfg property.
func (p *parser) applyFileKey(pr property) error {
	p.key, p.line = pr.key, pr.line
	k := lookupFileKey(pr.key)
	p.noteOrigin(pr.key, k)
	if k == nil {
		p.setProperty("zookeeper."+pr.key, pr.value)
		p.warn(pr.key, "unknown configuration key ignored")
		return nil
	}
	if k.apply != nil {
		if err := k.apply(p, pr.value); err != nil {
			return fmt.Errorf("%s:%d: %s=%q: %w", p.file, pr.line, pr.key, pr.value, err)
		}
	}
	if k.fromZooCfg(pr.key) {
		p.setProperty("zookeeper."+pr.key, pr.value)
	}
	return nil
}

// finish resolves what depends on the whole file: ZooKeeper's refusals, the
// dynamic file, myid, and this server's own server.N line.
func (p *parser) finish(fallbackMyID int64) error {
	c := p.Config
	p.line = 0
	p.finishConnThrottle()
	if c.DataDir == "" {
		return fmt.Errorf("%s: %w", p.file, ErrNoDataDir)
	}
	if p.clientPort == 0 {
		// ZooKeeper: "clientPort is not set", and no plain client port.
		if p.clientPortAddress != "" {
			return fmt.Errorf("%s: clientPortAddress is set but clientPort is not set", p.origins["clientPortAddress"])
		}
		c.ClientAddr = ""
	} else {
		host := strings.TrimSuffix(strings.TrimPrefix(p.clientPortAddress, "["), "]")
		if host == "" {
			host = "0.0.0.0"
		}
		c.ClientAddr = net.JoinHostPort(host, strconv.Itoa(p.clientPort))
	}
	if c.Quorum.DynamicConfigFile != "" {
		if err := p.loadDynamicFile(c.Quorum.DynamicConfigFile); err != nil {
			return err
		}
	}
	id, found, err := readMyID(c.DataDir)
	if err != nil {
		return err
	}
	if !found {
		id = fallbackMyID
	}
	c.Quorum.MyID = id
	return p.resolveSelf()
}

// resolveSelf applies this server's own server.N line, as ZooKeeper's
// setupClientPort and setupPeerType do.
func (p *parser) resolveSelf() error {
	c := p.Config
	q := &c.Quorum
	role := Participant
	if q.MyID >= 0 {
		if s, ok := q.Membership.Lookup(q.MyID); ok {
			role = s.Type
			if s.ClientAddr != "" {
				if c.ClientAddr != "" && clientAddrsConflict(c.ClientAddr, s.ClientAddr) {
					return fmt.Errorf("%s: client address for this server (id = %d) in static config file is %s, "+
						"different from the client address in its server line: %s", p.file, s.ID, c.ClientAddr, s.ClientAddr)
				}
				c.ClientAddr = s.ClientAddr
			}
		}
	}
	if role != q.PeerType {
		p.warn("peerType", fmt.Sprintf("peer type from the servers list (%s) does not match peerType (%s); using the servers list",
			role, q.PeerType))
		q.PeerType = role
	}
	participants, _ := q.Membership.Counts()
	if c.Ensemble() {
		switch {
		case participants <= 2:
			p.warn("server.N", "no server failure will be tolerated: an ensemble needs at least 3 participants")
		case participants%2 == 0:
			p.warn("server.N", "non-optimal configuration: consider an odd number of participants")
		}
	}
	return nil
}

// clientAddrsConflict applies ZooKeeper's check between clientPortAddress:clientPort
// and this server's own client part: a wildcard static address must agree on the
// port, any other on the whole address. Hosts that are not both IP literals are
// not compared (ZooKeeper compares resolved addresses, zkd does not resolve).
func clientAddrsConflict(static, line string) bool {
	sh, sp, _ := net.SplitHostPort(static)
	lh, lp, _ := net.SplitHostPort(line)
	if sp != lp {
		return true
	}
	sip, lip := net.ParseIP(sh), net.ParseIP(lh)
	if sip == nil || lip == nil || sip.IsUnspecified() {
		return false
	}
	return !sip.Equal(lip)
}

// loadDynamicFile reads the server list from a dynamic configuration file:
// server.N, group.N and weight.N lines only; the version comes from the file's
// name (zoo.cfg.dynamic.100000000 is version 0x100000000), never from inside it.
func (p *parser) loadDynamicFile(path string) error {
	text, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: dynamicConfigFile: %w", p.file, err)
	}
	props, err := readProperties(path, text)
	if err != nil {
		return err
	}
	static := p.file
	p.file, p.forbidServers = path, false
	defer func() { p.file = static }()
	for _, pr := range props {
		switch {
		case pr.key == "version":
			return fmt.Errorf("%s:%d: version: a dynamic configuration file must not have a version inside (its name carries it)",
				path, pr.line)
		case strings.HasPrefix(pr.key, "server."), strings.HasPrefix(pr.key, "group."), strings.HasPrefix(pr.key, "weight."):
			if err := p.applyFileKey(pr); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s:%d: %s: unrecognised parameter in a dynamic configuration file", path, pr.line, pr.key)
		}
	}
	p.Quorum.Membership.Version, _ = versionFromFileName(path)
	return nil
}

// readMyID reads <dataDir>/myid as ZooKeeper does: when the file exists, its
// first line must be a decimal id (no blanks; only the line terminator is
// stripped). found is false when there is no such file.
func readMyID(dataDir string) (id int64, found bool, err error) {
	path := filepath.Join(dataDir, "myid")
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return NoMyID, false, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return NoMyID, false, fmt.Errorf("zoocfg: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	first = strings.TrimSuffix(first, "\r")
	if i := strings.IndexByte(first, '\r'); i >= 0 {
		first = first[:i] // a lone CR ends a line too (BufferedReader.readLine)
	}
	id, err = strconv.ParseInt(first, 10, 64)
	if err != nil || id < 0 {
		return NoMyID, false, fmt.Errorf("%s: serverid %q is not a number", path, first)
	}
	return id, true, nil
}

// property is one key=value line of a properties text.
type property struct {
	key, value string
	line       int
}

// readProperties returns the key=value lines of a Java properties text, in the
// order keys first appear; a key given twice keeps its last value and line, as
// java.util.Properties does. Comment (# or !) and blank lines are skipped.
func readProperties(name string, text []byte) ([]property, error) {
	var props []property
	index := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' || t[0] == '!' {
			continue
		}
		key, value, ok := cutProperty(t)
		if !ok {
			return nil, fmt.Errorf("%s:%d: cannot parse %q as key=value", name, line, t)
		}
		pr := property{key: key, value: value, line: line}
		if i, dup := index[key]; dup {
			props[i] = pr
			continue
		}
		index[key] = len(props)
		props = append(props, pr)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("zoocfg: read %s: %w", name, err)
	}
	return props, nil
}

// cutProperty splits a Java properties line: key=value, key:value or key value.
func cutProperty(line string) (key, value string, ok bool) {
	i := strings.IndexAny(line, "=: \t")
	if i <= 0 {
		return "", "", false
	}
	key = strings.TrimSpace(line[:i])
	value = strings.TrimSpace(line[i:])
	// As in java.util.Properties, whitespace around one separator is skipped.
	if value != "" && (value[0] == '=' || value[0] == ':') {
		value = strings.TrimSpace(value[1:])
	}
	return key, value, key != ""
}

// ApplySystemProperties applies ZooKeeper settings given as JVM system properties
// (-Dkey=value, as deployments pass them in SERVER_JVMFLAGS, JVMFLAGS or on the
// command line), on top of what is there. A property is matched by the name
// ZooKeeper reads (zookeeper.snapCount, jute.maxbuffer, ...); keys ZooKeeper only
// takes from zoo.cfg (tickTime, dataDir, ...) have no property and are not
// matched. Properties zkd does not know (log4j, JMX, GC ...) are ignored; every
// property is listed in SystemProperties.
func (c *Config) ApplySystemProperties(props []string) error {
	p := parser{Config: c}
	for _, prop := range props {
		key, value, ok := strings.Cut(strings.TrimPrefix(prop, "-D"), "=")
		if !ok {
			continue
		}
		p.key = key
		if k := lookupProperty(key); k != nil && k.apply != nil {
			if err := k.apply(&p, value); err != nil {
				return fmt.Errorf("system property %s=%q: %w", key, value, err)
			}
		}
		p.setProperty(key, value)
	}
	return nil
}

// SystemProperties collects -Dkey=value arguments from the JVM flag variables of
// ZooKeeper's scripts (JVMFLAGS, then SERVER_JVMFLAGS) and from args, returning
// the remaining args.
func SystemProperties(args []string, getenv func(string) string) (props, rest []string) {
	for _, env := range []string{"JVMFLAGS", "SERVER_JVMFLAGS"} {
		for _, f := range strings.Fields(getenv(env)) {
			if strings.HasPrefix(f, "-D") {
				props = append(props, f)
			}
		}
	}
	for _, a := range args {
		if strings.HasPrefix(a, "-D") && strings.Contains(a, "=") {
			props = append(props, a)
			continue
		}
		rest = append(rest, a)
	}
	return props, rest
}

// finishConnThrottle corrects the connection throttle's session weights as
// ZooKeeper's BlueThrottle does, warning of each correction: weights must be
// positive, and neither a global session nor a reconnection may weigh less
// than a local session.
func (p *parser) finishConnThrottle() {
	t := &p.ConnThrottle
	local := t.LocalWeight // as read: ZooKeeper compares with it before correcting it
	atLeastLocal := func(key string, w *int, def int) {
		switch {
		case *w <= 0:
			p.warn(key, fmt.Sprintf("must be positive; using %d, as ZooKeeper does", def))
			*w = def
		case *w < local:
			p.warn(key, "less than the local session weight; using that, as ZooKeeper does")
			*w = local
		}
	}
	atLeastLocal("connection_throttle_global_session_weight", &t.GlobalWeight, 3)
	if local <= 0 {
		p.warn("connection_throttle_local_session_weight", "must be positive; using 1, as ZooKeeper does")
		t.LocalWeight = 1
	}
	atLeastLocal("connection_throttle_renew_session_weight", &t.RenewWeight, 2)
}
