package server

import (
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/internal/testutil"
)

// ZooKeeper's rolling change of a running ensemble to sslQuorum, one member at a
// time and with no outage: every member is restarted with portUnification (it
// takes TLS peers, still dials in the clear), then with sslQuorum as well (it
// dials over TLS), then without portUnification (TLS only). After every restart
// a write reaches all three members. At the end a member restarted in the
// clear is kept out.
func TestRollingChangeToSSLQuorumThroughPortUnification(t *testing.T) {
	p := testutil.NewPKI(t, t.TempDir())
	ms := newReconfigMembers(t, 3)
	stores := make([]string, len(ms))
	for i, m := range ms {
		cert := p.Issue(t, fmt.Sprintf("member%d", m.myid), pkix.Name{CommonName: fmt.Sprintf("zkd member %d", m.myid)}, testutil.CertOptions{})
		stores[i] = "ssl.quorum.keyStore.location=" + cert.PEM + "\nssl.quorum.trustStore.location=" + p.CAFile + "\n"
		m.writeConfig(t, ms)
	}
	startMembers(t, ms)
	var addrs []string
	for _, m := range ms {
		addrs = append(addrs, m.srv.Addr().String())
	}
	c, _, err := zk.Connect(addrs, 10*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	writeEverywhere := func(path string) {
		t.Helper()
		eventually(t, "create "+path, func() error {
			if _, err := c.Create(path, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
				return err
			}
			return nil
		})
		for _, m := range ms {
			checkForT(t, fmt.Sprintf("member %d applies %s", m.myid, path), func() bool {
				_, code := m.srv.Replica().Tree().Exists(path, nil, nil)
				return code == 0
			})
		}
	}
	writeEverywhere("/plain")
	for _, step := range []struct{ name, cfg string }{
		{"unified", "portUnification=true\n"},
		{"tls-unified", "portUnification=true\nsslQuorum=true\n"},
		{"tls", "sslQuorum=true\n"},
	} {
		for i, m := range ms {
			if err := m.srv.Stop(); err != nil {
				t.Fatal(err)
			}
			m.extra = step.cfg + stores[i]
			m.writeConfig(t, ms)
			m.start(t)
			writeEverywhere(fmt.Sprintf("/%s-%d", step.name, m.myid))
		}
	}

	last := ms[2]
	if err := last.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	last.extra = ""
	last.writeConfig(t, ms)
	last.start(t)
	eventually(t, "create /without-3", func() error {
		_, err := c.Create("/without-3", nil, 0, zk.WorldACL(zk.PermAll))
		if errors.Is(err, zk.ErrNodeExists) {
			return nil
		}
		return err
	})
	// Give member 3 time to try (this bounds a wait; nothing is asserted about speed).
	time.Sleep(2 * time.Second)
	if _, code := last.srv.Replica().Tree().Exists("/without-3", nil, nil); code == 0 {
		t.Fatal("a member dialing in the clear got the data of a TLS-only ensemble")
	}
	if mode := last.srv.Replica().Mode(); strings.Contains(mode, "leader") || mode == "follower" {
		t.Fatalf("a member dialing in the clear is a %s", mode)
	}
}
