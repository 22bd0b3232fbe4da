package peer

import (
	"bytes"
	"errors"
	"maps"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// secretAuth is a test Authenticator: the dialer sends its id and a secret, the
// acceptor answers "ok" when the secret is its own, and both sides count.
type secretAuth struct {
	secret   string
	dials    bool
	required bool
	accepted atomic.Int64
	refused  atomic.Int64
}

func (a *secretAuth) Dials() bool    { return a.dials }
func (a *secretAuth) Required() bool { return a.required }

func (a *secretAuth) Dial(ex Exchange, _ uint64, _ string) error {
	if err := ex.Send([]byte(a.secret)); err != nil {
		return err
	}
	ans, err := ex.Recv()
	if err != nil {
		return err
	}
	if string(ans) != "ok" {
		return errors.New("refused by the peer")
	}
	return nil
}

func (a *secretAuth) Accept(ex Exchange, _ uint64, remote net.Addr) error {
	tok, err := ex.Recv()
	if err != nil {
		return err
	}
	if remote == nil || !bytes.Equal(tok, []byte(a.secret)) {
		a.refused.Add(1)
		_ = ex.Send([]byte("no"))
		return errors.New("wrong secret")
	}
	a.accepted.Add(1)
	return ex.Send([]byte("ok"))
}

// startAuthPair starts members 1 and 2 with the given authenticators (nil: none)
// without waiting for their streams.
func startAuthPair(t *testing.T, a1, a2 Authenticator) (m1, m2 *member) {
	t.Helper()
	var ms []*member
	addrs := map[uint64]string{}
	for i, a := range []Authenticator{a1, a2} {
		id := uint64(i + 1)
		rec := newRecorder()
		cfg := testConfig(id, rec)
		cfg.Auth = a
		cfg.HandshakeTimeout = 2 * time.Second
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tr.Stop)
		ms = append(ms, &member{Transport: tr, rec: rec})
		addrs[id] = tr.Addr()
	}
	for _, m := range ms {
		m.SetPeers(maps.Clone(addrs))
	}
	return ms[0], ms[1]
}

func TestAuthenticatedStreams(t *testing.T) {
	t.Run("both authenticate", func(t *testing.T) {
		a1 := &secretAuth{secret: "s", dials: true, required: true}
		a2 := &secretAuth{secret: "s", dials: true, required: true}
		m1, m2 := startAuthPair(t, a1, a2)
		waitConnected(t, m1.Transport, 1)
		waitConnected(t, m2.Transport, 1)
		if !m1.SendApp(2, []byte("hello")) {
			t.Fatal("SendApp refused")
		}
		checkFor(t, "delivery", func() bool { return m2.rec.count(1) == 1 })
		if a1.accepted.Load() == 0 || a2.accepted.Load() == 0 {
			t.Fatalf("accepted %d / %d", a1.accepted.Load(), a2.accepted.Load())
		}
	})
	t.Run("optional on both sides", func(t *testing.T) {
		m1, m2 := startAuthPair(t, &secretAuth{secret: "a"}, &secretAuth{secret: "b"})
		waitConnected(t, m1.Transport, 1)
		waitConnected(t, m2.Transport, 1)
	})

	// The refusals: member 2's stream to member 1 never comes up, whatever the
	// retries (the other direction may be allowed).
	for _, tc := range []struct {
		name   string
		a1, a2 func() Authenticator
	}{
		{"wrong secret", func() Authenticator { return &secretAuth{secret: "a", dials: true, required: true} },
			func() Authenticator { return &secretAuth{secret: "b", dials: true, required: true} }},
		{"acceptor requires, dialer does not ask", func() Authenticator { return &secretAuth{secret: "s", required: true} },
			func() Authenticator { return nil }},
		{"dialer requires, acceptor does not authenticate", func() Authenticator { return nil },
			func() Authenticator { return &secretAuth{secret: "s", dials: true} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a1, a2 := tc.a1(), tc.a2()
			m1, m2 := startAuthPair(t, a1, a2)
			// Long enough for many redials at the test backoff; no assertion on time.
			checkFor(t, "redials", func() bool {
				return statsOf(m1.Transport, 2).Dials+statsOf(m2.Transport, 1).Dials >= 10
			})
			if st := statsOf(m1.Transport, 2); st.Inbound {
				t.Fatal("member 1 took a stream from member 2")
			}
			if m2.rec.count(1) != 0 || m1.rec.count(2) != 0 {
				t.Fatal("a message crossed")
			}
		})
	}
}
