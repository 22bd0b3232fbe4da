package session

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// fourLetterWords maps the first four bytes of a connection to the command's name,
// as the whitelist and the not-in-whitelist reply spell it (spec/ops.md §1).
var fourLetterWords = map[string]string{
	"ruok": "ruok", "stat": "stat", "srvr": "srvr", "conf": "conf", "cons": "cons", "crst": "crst",
	"dump": "dump", "envi": "envi", "mntr": "mntr", "srst": "srst", "wchs": "wchs", "wchc": "wchc",
	"wchp": "wchp", "dirs": "dirs", "isro": "isro", "gtmk": "gtmk", "stmk": "stmk", "hash": "hash",
	// A telnet client's interrupt (IAC IP IAC DO) is registered as a word too.
	"\xff\xf4\xff\xfd": "telnet close",
}

// IsFourLetterWord reports whether the first four bytes of a connection are a
// four-letter word rather than a frame length.
func IsFourLetterWord(b []byte) bool {
	return len(b) >= 4 && fourLetterWords[string(b[:4])] != ""
}

// FourLetterWordSize returns how many bytes the word that b starts with takes:
// 12 for stmk (the word and a big-endian trace mask), 4 for the others. netloop
// waits until that many bytes are buffered before calling FourLetterWord.
func FourLetterWordSize(b []byte) int {
	if len(b) >= 4 && string(b[:4]) == "stmk" {
		return 12
	}
	return 4
}

// whitelisted applies 4lw.commands.whitelist as ZooKeeper 3.8 does: srvr is
// always on (zkServer.sh status uses it), isro too with readonlymode.enabled, and
// "*" enables every word.
func (s *Server) whitelisted(name string) bool {
	if name == "srvr" || name == "isro" && s.opsConfig().ReadOnlyMode {
		return true
	}
	return slices.Contains(s.cfg.FourLetterWords, "*") || slices.Contains(s.cfg.FourLetterWords, name)
}

// logWhitelist logs the enabled words once, on the first four-letter word, as
// ZooKeeper does.
func (s *Server) logWhitelist() {
	s.ops().whitelistOnce.Do(func() {
		var on []string
		for _, name := range fourLetterWords {
			if s.whitelisted(name) {
				on = append(on, name)
			}
		}
		slices.Sort(on)
		s.log.Info("The list of enabled four letter word commands is : [" + strings.Join(on, ", ") + "]")
	})
}

// notServing is ZooKeeper's answer to a four-letter word that needs a serving
// server.
const notServing = "This ZooKeeper instance is not currently serving requests"

// FourLetterWord returns the reply to a four-letter word (for stmk, the word
// followed by its 8-byte argument); the connection is closed after it is written.
// An empty reply means: close without writing.
func (s *Server) FourLetterWord(word string) string {
	cmd, arg := word, ""
	if len(word) > 4 {
		cmd, arg = word[:4], word[4:]
	}
	name := fourLetterWords[cmd]
	if name == "" {
		return ""
	}
	s.logWhitelist()
	if !s.whitelisted(name) {
		return name + " is not executed because it is not in the whitelist.\n"
	}
	if s.r.Mode() == "" || s.r.RefusesClients() {
		// An ensemble member with no leader (or outside the configuration)
		// answers as ZooKeeper's does while it is not serving.
		switch name {
		case "ruok", "envi", "gtmk", "stmk":
		case "isro":
			return "null"
		case "hash":
			return notServing
		default:
			return notServing + "\n"
		}
	}
	var b strings.Builder
	switch name {
	case "ruok":
		return "imok"
	case "isro":
		if s.ReadOnly() {
			return "ro"
		}
		return "rw"
	case "srvr":
		s.writeSrvr(&b, false)
	case "stat":
		s.writeSrvr(&b, true)
	case "conf":
		s.writeConf(&b)
	case "cons":
		s.writeConns(&b, true)
	case "crst":
		s.ResetConnStats()
		return "Connection stats reset.\n"
	case "dump":
		s.writeDump(&b)
	case "envi":
		b.WriteString("Environment:\n")
		for _, kv := range s.Environment() {
			b.WriteString(kv[0] + "=" + kv[1] + "\n")
		}
	case "mntr":
		for _, st := range s.Monitor() {
			b.WriteString("zk_" + st.Key + "\t" + FormatStat(st.Value) + "\n")
		}
	case "srst":
		s.ResetStats()
		return "Server stats reset.\n"
	case "wchs":
		conns, paths, total := s.WatchSummary()
		fmt.Fprintf(&b, "%d connections watching %d paths\nTotal watches:%d\n", conns, paths, total)
	case "wchc":
		for _, sw := range s.WatchesBySession() {
			b.WriteString(sw.Session.String() + "\n")
			for _, p := range sw.Paths {
				b.WriteString("\t" + p + "\n")
			}
		}
		b.WriteByte('\n')
	case "wchp":
		for _, pw := range s.WatchesByPath() {
			b.WriteString(pw.Path + "\n")
			for _, id := range pw.Sessions {
				b.WriteString("\t" + id.String() + "\n")
			}
		}
		b.WriteByte('\n')
	case "dirs":
		data, log := s.DirSizes()
		fmt.Fprintf(&b, "datadir_size: %d\nlogdir_size: %d\n", data, log)
	case "gtmk":
		return strconv.FormatInt(s.TraceMask(), 10)
	case "stmk":
		if len(arg) != 8 {
			return "" // ZooKeeper fails reading the mask and closes
		}
		return strconv.FormatInt(s.SetTraceMask(int64(binary.BigEndian.Uint64([]byte(arg)))), 10)
	case "hash":
		for _, d := range s.Digests() {
			fmt.Fprintf(&b, "%x: %d\n", int64(d.Zxid), d.Digest)
		}
	case "telnet close":
		return ""
	}
	return b.String()
}

// FormatStat prints an mntr value: integers in decimal, floats as Java prints a
// double, strings as they are.
func FormatStat(v any) string {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return JavaDouble(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// VersionLine is srvr's first line. go-zookeeper's FLWSrvr and tools built on it
// parse only the pre-3.7 form "<version>, built on MM/DD/YYYY HH:MM GMT".
func (s *Server) VersionLine() string {
	return "Zookeeper version: " + s.versionString()
}

// versionString is "<version>, built on MM/DD/YYYY HH:MM GMT", shared by srvr, envi
// and mntr.
func (s *Server) versionString() string {
	built := s.cfg.BuildTime
	if built.IsZero() {
		built = s.started
	}
	return s.cfg.FullVersion() + ", built on " + built.UTC().Format("01/02/2006 15:04") + " GMT"
}

func (s *Server) writeSrvr(b *strings.Builder, withClients bool) {
	qs := s.quorumStats()
	b.WriteString(s.VersionLine())
	b.WriteByte('\n')
	if qs.Mode == "read-only" {
		b.WriteString("READ-ONLY mode; serving only read-only clients\n")
	}
	if withClients {
		b.WriteString("Clients:\n")
		s.writeConns(b, false)
	}
	minL, avgL, maxL := s.Latency()
	recv, sent := s.Packets()
	fmt.Fprintf(b, "Latency min/avg/max: %d/%s/%d\n", minL, JavaDouble(avgL), maxL)
	fmt.Fprintf(b, "Received: %d\n", recv)
	fmt.Fprintf(b, "Sent: %d\n", sent)
	fmt.Fprintf(b, "Connections: %d\n", s.ConnCount())
	fmt.Fprintf(b, "Outstanding: %d\n", s.Outstanding())
	fmt.Fprintf(b, "Zxid: 0x%x\n", int64(s.Tree().LastZxid()))
	b.WriteString("Mode: " + qs.Mode + "\n")
	fmt.Fprintf(b, "Node count: %d\n", s.NodeCount())
	if l := qs.Leader; l != nil && l.LastProposalSize.Known && l.MinProposalSize.Known && l.MaxProposalSize.Known {
		fmt.Fprintf(b, "Proposal sizes last/min/max: %d/%d/%d\n",
			l.LastProposalSize.Value, l.MinProposalSize.Value, l.MaxProposalSize.Value)
	}
}

func (s *Server) writeConf(b *strings.Builder) {
	c := s.Conf()
	data, log := s.DirSizes()
	fmt.Fprintf(b, "clientPort=%d\nsecureClientPort=%d\n", c.ClientPort, c.SecureClientPort)
	fmt.Fprintf(b, "dataDir=%s\ndataDirSize=%d\ndataLogDir=%s\ndataLogSize=%d\n", c.DataDir, data, c.DataLogDir, log)
	fmt.Fprintf(b, "tickTime=%d\nmaxClientCnxns=%d\nminSessionTimeout=%d\nmaxSessionTimeout=%d\n",
		c.TickTime, c.MaxClientCnxns, c.MinSessionTimeout, c.MaxSessionTimeout)
	fmt.Fprintf(b, "clientPortListenBacklog=%d\nserverId=%d\n", c.ClientPortListenBacklog, c.ServerID)
	if q := s.opsConfig().QuorumConf; q != nil {
		b.WriteString(q())
	}
}

// javaDate is java.util.Date.toString's layout.
const javaDate = "Mon Jan 02 15:04:05 MST 2006"

func (s *Server) writeDump(b *strings.Builder) {
	d := s.Dump()
	b.WriteString("SessionTracker dump:\n")
	fmt.Fprintf(b, "Session Sets (%d)/(%d):\n", len(d.Sessions), d.NumSessions)
	for _, bk := range d.Sessions {
		fmt.Fprintf(b, "%d expire at %s:\n", len(bk.Sessions), bk.Wall.Format(javaDate))
		for _, id := range bk.Sessions {
			b.WriteString("\t" + id.String() + "\n")
		}
	}
	b.WriteString("ephemeral nodes dump:\n")
	fmt.Fprintf(b, "Sessions with Ephemerals (%d):\n", len(d.Ephemerals))
	for _, se := range d.Ephemerals {
		b.WriteString(se.Session.String() + ":\n")
		for _, p := range se.Paths {
			b.WriteString("\t" + p + "\n")
		}
	}
	b.WriteString("Connections dump:\n")
	fmt.Fprintf(b, "Connections Sets (%d)/(%d):\n", len(d.Connections), d.NumConns)
	for _, bk := range d.Connections {
		fmt.Fprintf(b, "%d expire at %s:\n", len(bk.Conns), bk.Wall.Format(javaDate))
		for _, c := range bk.Conns {
			fmt.Fprintf(b, "\tip: /%s sessionId: 0x%x\n", c.Remote, int64(c.SessionID))
		}
	}
}

// JavaDouble prints a value rounded to 4 decimals the way Java prints a double: at
// least one decimal (0.0, 0.5202), and 1.0E-4 style below 10^-3.
func JavaDouble(v float64) string {
	v = math.Round(v*1e4) / 1e4
	if a := math.Abs(v); a != 0 && a < 1e-3 {
		return strconv.FormatFloat(v*1e4, 'f', 1, 64) + "E-4"
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

func (s *Server) connList() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		out = append(out, c)
	}
	return out
}

// writeConns lists every connection as cons (full) or stat (brief) prints it,
// then the empty line that ends the list.
func (s *Server) writeConns(b *strings.Builder, full bool) {
	for _, ci := range s.Connections() {
		ci.appendLine(b, full)
	}
	b.WriteByte('\n')
}

// appendLine writes one connection as cons (full) or stat (brief) prints it.
func (ci *ConnInfo) appendLine(b *strings.Builder, full bool) {
	fmt.Fprintf(b, " /%s[%d](queued=%d,recved=%d,sent=%d", ci.Remote, ci.Interest, ci.Queued, ci.Received, ci.Sent)
	if full && ci.HasSession {
		fmt.Fprintf(b, ",sid=%s,lop=%s,est=%d,to=%d", ci.SessionID, ci.LastOp, ci.Established, ci.Timeout)
		if ci.LastCxid >= 0 {
			fmt.Fprintf(b, ",lcxid=0x%x", ci.LastCxid)
		}
		fmt.Fprintf(b, ",lzxid=0x%x,lresp=%d,llat=%d,minlat=%d,avglat=%d,maxlat=%d",
			uint64(ci.LastZxid), ci.LastResponse, ci.LastLatency, ci.MinLatency, ci.AvgLatency, ci.MaxLatency)
	}
	b.WriteString(")\n")
}
