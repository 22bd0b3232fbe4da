package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"zkd/replica"
	"zkd/zoocfg"
)

// ensembleWatcher takes the replica's membership changes (on its apply
// goroutine, which must not block) to a goroutine of its own, which updates the
// peer transport and rewrites the dynamic configuration file. Only the newest
// change matters, so changes that come faster than they are handled are
// coalesced.
type ensembleWatcher struct {
	s      *Server
	latest atomic.Pointer[replica.Ensemble]
	wake   chan struct{} // buffer 1
	// written is the configuration version the configuration files hold; only
	// the watcher's goroutine uses it.
	written int64
	// current is the newest membership, for conf.
	current atomic.Pointer[replica.Ensemble]
}

func newEnsembleWatcher(s *Server) *ensembleWatcher {
	return &ensembleWatcher{s: s, wake: make(chan struct{}, 1), written: s.cfg.Quorum.Membership.Version}
}

// EnsembleChanged implements replica.ConfigListener.
func (w *ensembleWatcher) EnsembleChanged(e replica.Ensemble) {
	w.latest.Store(&e)
	w.current.Store(&e)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *ensembleWatcher) run(stop <-chan struct{}, done *sync.WaitGroup) {
	defer done.Done()
	for {
		select {
		case <-stop:
			return
		case <-w.wake:
		}
		if e := w.latest.Swap(nil); e != nil {
			w.apply(e)
		}
	}
}

func (w *ensembleWatcher) apply(e *replica.Ensemble) {
	s := w.s
	// A server that has been a member and whose configuration (there is one: it
	// is not waiting for the leader's snapshot) no longer names it was removed.
	s.identMu.Lock()
	removed := s.ident.Member && !e.Member && len(e.Members.Servers) > 0
	s.identMu.Unlock()
	switch {
	case removed:
		// Removed from the ensemble: nothing more to send anyone, and no member
		// would accept it.
		s.ens.tr.SetPeers(nil)
		return
	case len(e.Peers) > 0:
		s.ens.setPeers(e.Peers)
	}
	if !e.Member || len(e.Members.Servers) == 0 {
		return
	}
	s.noteMember()
	if s.cfg.ConfigFile == "" || e.Version == w.written {
		return
	}
	if err := writeDynamicConfig(s.cfg.ConfigFile, e.Members, e.Version, replica.ServerID(s.ens.id)); err != nil {
		s.log.Error("cannot write the new dynamic configuration file", "version", "0x"+strconv.FormatInt(e.Version, 16), "err", err)
		return
	}
	w.written = e.Version
	s.log.Info("dynamic configuration file written", "file", zoocfg.DynamicFileName(s.cfg.ConfigFile, e.Version),
		"version", "0x"+strconv.FormatInt(e.Version, 16))
}

// writeDynamicConfig writes the membership to <configFile>.dynamic.<hex version>
// and points configFile at it, as ZooKeeper does after a reconfig
// (QuorumPeerConfig.writeDynamicConfig and editStaticConfig): the static file
// loses its server.N, group, weight, peerType and dynamicConfigFile lines (and
// clientPort and clientPortAddress, when this server's own line has a client
// part), keeps every other line as it was, and gets a dynamicConfigFile line
// with the new file's absolute path. The first time the static file held the
// server list, it is kept as <configFile>.bak. Both files are written to a
// temporary file, synced and renamed.
func writeDynamicConfig(configFile string, m zoocfg.Membership, version int64, myid int64) error {
	dyn, err := filepath.Abs(zoocfg.DynamicFileName(configFile, version))
	if err != nil {
		return err
	}
	if err := writeFileAtomic(dyn, []byte(m.DynamicFileText())); err != nil {
		return err
	}
	static, err := os.ReadFile(configFile)
	if err != nil {
		return err
	}
	self, _ := m.Lookup(myid)
	eraseClient := self.ClientAddr != ""
	var out bytes.Buffer
	hadServers := false
	sc := bufio.NewScanner(bytes.NewReader(static))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		key := propertyKey(line)
		switch {
		case strings.HasPrefix(key, "server."):
			hadServers = true
			continue
		case strings.HasPrefix(key, "group") || strings.HasPrefix(key, "weight") ||
			key == "dynamicConfigFile" || key == "peerType":
			continue
		case eraseClient && (key == "clientPort" || key == "clientPortAddress"):
			continue
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", configFile, err)
	}
	fmt.Fprintf(&out, "dynamicConfigFile=%s\n", dyn)
	if hadServers {
		bak := configFile + ".bak"
		if _, err := os.Stat(bak); errors.Is(err, os.ErrNotExist) {
			if err := writeFileAtomic(bak, static); err != nil {
				return err
			}
		}
	}
	return writeFileAtomic(configFile, out.Bytes())
}

// propertyKey returns the key of a Java properties line ("" for a comment or
// blank line).
func propertyKey(line string) string {
	t := strings.TrimSpace(line)
	if t == "" || t[0] == '#' || t[0] == '!' {
		return ""
	}
	if i := strings.IndexAny(t, "=: \t"); i > 0 {
		return t[:i]
	}
	return t
}

// quorumConf is what conf prints for an ensemble member after serverId
// (ZooKeeper's QuorumZooKeeperServer.dumpConf): its quorum settings, its own
// ports and role as the current membership has them, and the membership.
func (w *ensembleWatcher) quorumConf() string {
	s := w.s
	e := w.current.Load()
	if e == nil || !e.Member {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "initLimit=%d\nsyncLimit=%d\nelectionAlg=%d\n", s.cfg.Quorum.InitLimit, s.cfg.Quorum.SyncLimit,
		s.cfg.Quorum.ElectionAlg)
	self, ok := e.Members.Lookup(replica.ServerID(s.ens.id))
	if !ok {
		self = s.ens.self
	}
	fmt.Fprintf(&b, "electionPort=%d\nquorumPort=%d\npeerType=%d\n", self.Addrs[0].ElectionPort, self.Addrs[0].QuorumPort, self.Type)
	b.WriteString("membership: \n")
	b.Write(e.Config)
	return b.String()
}
