package session

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

// fourLetterWords are the commands recognised in place of a first frame length.
var fourLetterWords = map[string]bool{
	"ruok": true, "stat": true, "srvr": true, "conf": true, "cons": true, "crst": true,
	"dump": true, "envi": true, "mntr": true, "srst": true, "wchs": true, "wchc": true,
	"wchp": true, "dirs": true, "isro": true, "gtmk": true, "stmk": true, "hash": true,
}

// IsFourLetterWord reports whether the first four bytes of a connection are a
// four-letter word rather than a frame length.
func IsFourLetterWord(b []byte) bool {
	return len(b) >= 4 && fourLetterWords[string(b[:4])]
}

func (s *Server) whitelisted(word string) bool {
	if word == "srvr" {
		return true
	}
	for _, w := range s.cfg.FourLetterWords {
		if w == "*" || w == word {
			return true
		}
	}
	return false
}

// FourLetterWord returns the reply to a four-letter word; the connection is closed
// after it is written.
func (s *Server) FourLetterWord(word string) string {
	if !s.whitelisted(word) {
		return word + " is not executed because it is not in the whitelist.\n"
	}
	switch word {
	case "ruok":
		return "imok"
	case "isro":
		return "rw"
	case "srvr":
		return s.srvr(false)
	case "stat":
		return s.srvr(true)
	case "envi":
		return s.envi()
	case "srst":
		s.stats.received.Store(0)
		s.stats.sent.Store(0)
		s.stats.latencySum.Store(0)
		s.stats.latencyN.Store(0)
		s.stats.minLatency.Store(-1)
		s.stats.maxLatency.Store(0)
		return "Server stats reset.\n"
	case "cons":
		var b strings.Builder
		s.writeConns(&b, true)
		return b.String()
	case "crst":
		for _, c := range s.connList() {
			c.last.reset()
			c.recv.Store(0)
			c.sentCount.Store(0)
		}
		return "Connection stats reset.\n"
	case "gtmk":
		return "306"
	}
	return word + " is not executed because it is not in the whitelist.\n"
}

// VersionLine is srvr's first line. go-zookeeper's FLWSrvr and tools built on it
// parse only the pre-3.7 form "<version>, built on MM/DD/YYYY HH:MM GMT".
func (s *Server) VersionLine() string {
	return "Zookeeper version: " + s.versionString()
}

// versionString is "<version>, built on MM/DD/YYYY HH:MM GMT", shared by srvr and envi.
func (s *Server) versionString() string {
	built := s.cfg.BuildTime
	if built.IsZero() {
		built = s.started
	}
	return s.cfg.FullVersion() + ", built on " + built.UTC().Format("01/02/2006 15:04") + " GMT"
}

func (s *Server) srvr(withClients bool) string {
	var b strings.Builder
	b.WriteString(s.VersionLine())
	b.WriteByte('\n')
	if withClients {
		b.WriteString("Clients:\n")
		s.writeConns(&b, false)
	}
	st := &s.stats
	minL, n := st.minLatency.Load(), st.latencyN.Load()
	avg := 0.0
	if n > 0 {
		avg = float64(st.latencySum.Load()) / float64(n)
	}
	if minL < 0 {
		minL = 0
	}
	fmt.Fprintf(&b, "Latency min/avg/max: %d/%s/%d\n", minL, formatJavaDouble(avg), st.maxLatency.Load())
	fmt.Fprintf(&b, "Received: %d\n", st.received.Load())
	fmt.Fprintf(&b, "Sent: %d\n", st.sent.Load())
	fmt.Fprintf(&b, "Connections: %d\n", s.ConnCount())
	fmt.Fprintf(&b, "Outstanding: %d\n", 0)
	fmt.Fprintf(&b, "Zxid: 0x%x\n", int64(s.tree.LastZxid()))
	b.WriteString("Mode: standalone\n")
	// ZooKeeper's node map holds the root twice ("" and "/"); keep its count.
	fmt.Fprintf(&b, "Node count: %d\n", s.tree.NodeCount()+1)
	return b.String()
}

// formatJavaDouble prints a value rounded to 4 decimals the way Java prints a double
// (at least one decimal: 0.0, 0.5202).
func formatJavaDouble(v float64) string {
	s := fmt.Sprintf("%.4f", v)
	s = strings.TrimRight(s, "0")
	if strings.HasSuffix(s, ".") {
		s += "0"
	}
	return s
}

func (s *Server) envi() string {
	host, _ := os.Hostname()
	wd, _ := os.Getwd()
	var b strings.Builder
	b.WriteString("Environment:\n")
	kv := [][2]string{
		{"zookeeper.version", s.versionString()},
		{"host.name", host},
		{"java.version", runtime.Version()},
		{"java.vendor", "zkd"},
		{"java.home", ""},
		{"java.class.path", ""},
		{"java.library.path", ""},
		{"java.io.tmpdir", os.TempDir()},
		{"java.compiler", "<NA>"},
		{"os.name", runtime.GOOS},
		{"os.arch", runtime.GOARCH},
		{"os.version", ""},
		{"user.name", os.Getenv("USER")},
		{"user.home", os.Getenv("HOME")},
		{"user.dir", wd},
		{"os.memory.free", fmt.Sprintf("%dMB", 0)},
		{"os.memory.max", fmt.Sprintf("%dMB", 0)},
		{"os.memory.total", fmt.Sprintf("%dMB", 0)},
	}
	for _, p := range kv {
		fmt.Fprintf(&b, "%s=%s\n", p[0], p[1])
	}
	return b.String()
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

// writeConns lists every connection, then the empty line that ends the list.
// It holds s.mu so that no connection attaches its session meanwhile.
func (s *Server) writeConns(b *strings.Builder, full bool) {
	s.mu.Lock()
	for c := range s.mu.conns {
		c.appendConsLine(b, full)
	}
	s.mu.Unlock()
	b.WriteByte('\n')
}
