package sasl

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// learnerLogin is the QuorumLearner section's login as principal from keytab.
func (k *kdc) learnerLogin(t *testing.T, principal, keytab string) *KerberosLogin {
	t.Helper()
	j, err := ParseJAAS(fmt.Sprintf(`QuorumLearner {
	com.sun.security.auth.module.Krb5LoginModule required
	useKeyTab=true keyTab="%s" storeKey=true useTicketCache=false
	principal="%s";
};`, filepath.Join(k.Dir, keytab), principal), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewKerberosLogin(j, "QuorumLearner", map[string]string{PropKrb5Conf: k.Conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// gssConverse runs c against s to the end: the server's last token (nil when
// it sends none) is not given to a client that is already complete, as
// ZooKeeper's learner stops evaluating once its client is.
func gssConverse(c *GSSAPIClient, s Server, tamper func(round int, tok []byte) []byte) error {
	tok, err := c.Start()
	if err != nil {
		return err
	}
	for round := 0; round < 5; round++ {
		out, err := s.Evaluate(tok)
		if err != nil {
			return err
		}
		if c.Complete() {
			if !s.Complete() || out != nil {
				return errors.New("client complete, server not")
			}
			return nil
		}
		if tamper != nil {
			out = tamper(round, out)
		}
		if tok, err = c.Evaluate(out); err != nil {
			return err
		}
	}
	return errors.New("exchange did not end")
}

// TestGSSAPIClientAgainstServer: a learner's Kerberos login, with tickets from a
// real MIT KDC, authenticates to zkd's GSSAPI server and checks the server's
// proof of identity.
func TestGSSAPIClientAgainstServer(t *testing.T) {
	k := startKDC(t, map[string]string{
		"zkquorum/localhost": "server.keytab",
		"learner/localhost":  "learner.keytab",
		"other/localhost":    "other.keytab",
	})
	p := k.provider(t, "zkquorum/localhost@"+testRealm, "server.keytab", nil)
	login := k.learnerLogin(t, "learner/localhost@"+testRealm, "learner.keytab")
	if login.Principal() != "learner/localhost@"+testRealm {
		t.Fatalf("principal %q", login.Principal())
	}
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}

	c := login.NewClient("zkquorum", "localhost")
	s := p.NewServer(remote)
	if err := gssConverse(c, s, nil); err != nil {
		log, _ := os.ReadFile(filepath.Join(k.Dir, "kdc.log"))
		t.Fatalf("%v\nkdc.log:\n%s", err, log)
	}
	if !c.Complete() || s.AuthorizationID() != "learner/localhost@"+testRealm {
		t.Fatalf("client complete %v, server id %q", c.Complete(), s.AuthorizationID())
	}
	// A second exchange uses the kept tickets.
	if err := gssConverse(login.NewClient("zkquorum", "localhost"), p.NewServer(remote), nil); err != nil {
		t.Fatalf("second exchange: %v", err)
	}

	refused := func(t *testing.T, err error, want string) {
		t.Helper()
		if !errors.Is(err, ErrAuthFailed) || !strings.Contains(err.Error(), want) {
			t.Fatalf("err %v, want ErrAuthFailed with %q", err, want)
		}
	}
	t.Run("a server with another service's key", func(t *testing.T) {
		// The ticket is for zkquorum/localhost; a server holding only other's
		// key cannot read it, and says so.
		other := k.provider(t, "other/localhost@"+testRealm, "other.keytab", nil)
		refused(t, gssConverse(login.NewClient("zkquorum", "localhost"), other.NewServer(remote), nil), "ticket is for zkquorum/localhost")
	})
	t.Run("an AP-REP that does not decrypt", func(t *testing.T) {
		c := login.NewClient("zkquorum", "localhost")
		err := gssConverse(c, p.NewServer(remote), func(round int, tok []byte) []byte {
			if round == 0 {
				tok = bytes.Clone(tok)
				tok[len(tok)-3] ^= 0x40 // inside the encrypted part
			}
			return tok
		})
		refused(t, err, "does not decrypt")
		if c.Complete() {
			t.Fatal("client complete")
		}
	})
	t.Run("a server that does not prove itself", func(t *testing.T) {
		// The security-layer offer straight after the AP-REQ, as a server that
		// ignores the request for mutual authentication would send it.
		c := login.NewClient("zkquorum", "localhost")
		s := p.NewServer(remote)
		err := gssConverse(c, s, func(round int, tok []byte) []byte {
			if round == 0 {
				offer, err := s.Evaluate(nil)
				if err != nil {
					t.Fatal(err)
				}
				return offer
			}
			return tok
		})
		refused(t, err, "did not prove its identity")
	})
	t.Run("a tampered security-layer offer", func(t *testing.T) {
		c := login.NewClient("zkquorum", "localhost")
		err := gssConverse(c, p.NewServer(remote), func(round int, tok []byte) []byte {
			if round == 1 {
				tok = bytes.Clone(tok)
				tok[16] ^= 0x01 // the offered layers
			}
			return tok
		})
		refused(t, err, "checksum mismatch")
	})
	t.Run("a service the KDC does not know", func(t *testing.T) {
		_, err := login.NewClient("nosuch", "localhost").Start()
		refused(t, err, "service ticket for nosuch/localhost")
	})
	t.Run("closed", func(t *testing.T) {
		l := k.learnerLogin(t, "learner/localhost@"+testRealm, "learner.keytab")
		l.Close()
		if _, err := l.NewClient("zkquorum", "localhost").Start(); !errors.Is(err, ErrLoginClosed) {
			t.Fatalf("start after close: %v", err)
		}
	})
}

// TestGSSAPIClientAgainstJavaAcceptor: the same client against the JDK's GSSAPI
// server, created as a ZooKeeper quorum member creates it: the exchange is the
// standard one, not only one zkd's server agrees to.
func TestGSSAPIClientAgainstJavaAcceptor(t *testing.T) {
	harness(t)
	k := startKDC(t, map[string]string{
		"zkquorum/localhost": "server.keytab",
		"learner/localhost":  "learner.keytab",
	})
	login := k.learnerLogin(t, "learner/localhost@"+testRealm, "learner.keytab")
	jaas := filepath.Join(k.Dir, "server-jaas.conf")
	writeTestFile(t, jaas, fmt.Sprintf(`QuorumServer {
	com.sun.security.auth.module.Krb5LoginModule required
	useKeyTab=true keyTab="%s" storeKey=true useTicketCache=false isInitiator=false doNotPrompt=true
	principal="zkquorum/localhost@%s";
};
`, filepath.Join(k.Dir, "server.keytab"), testRealm))
	jvm := []string{"-Djava.security.krb5.conf=" + k.Conf, "-Djava.security.auth.login.config=" + jaas}

	j := startJavaAcceptor(t, jvm, "QuorumServer", "zkquorum", "localhost")
	c := login.NewClient("zkquorum", "localhost")
	tok, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; !c.Complete(); round++ {
		if round == 4 {
			t.Fatal("exchange did not end")
		}
		out, done, id := j.evaluate(t, tok)
		if done {
			t.Fatalf("Java's server completed (as %q) before the client", id)
		}
		if tok, err = c.Evaluate(out); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	out, done, id := j.evaluate(t, tok)
	if !done || out != nil || id != "learner/localhost@"+testRealm {
		t.Fatalf("Java's server: complete %v, token %x, authorization id %q", done, out, id)
	}
}

// javaAcceptor is the harness's SERVER-GSSAPI mode: client tokens in, server
// tokens out.
type javaAcceptor struct{ *javaHarness }

func startJavaAcceptor(t *testing.T, jvmArgs []string, args ...string) javaAcceptor {
	t.Helper()
	h, stop := startHarness(t, jvmArgs, append([]string{"SERVER-GSSAPI"}, args...)...)
	t.Cleanup(stop)
	return javaAcceptor{h}
}

// evaluate sends one client token and returns the server's answer (nil for an
// absent one) and, once it completes, the authorization id it settled on.
func (j javaAcceptor) evaluate(t *testing.T, tok []byte) (out []byte, complete bool, authz string) {
	t.Helper()
	if _, err := io.WriteString(j.in, hex.EncodeToString(tok)+"\n"); err != nil {
		t.Fatal(err)
	}
	if !j.lines.Scan() {
		t.Fatalf("java ended early: %v\n%s", j.lines.Err(), j.stderr.String())
	}
	line := j.lines.Text()
	if strings.HasPrefix(line, "ERROR ") {
		t.Fatalf("Java's server refused: %s", line)
	}
	tokHex, authz, complete := strings.Cut(line, " COMPLETE ")
	if tokHex == "-" {
		return nil, complete, authz
	}
	out, err := hex.DecodeString(tokHex)
	if err != nil {
		t.Fatalf("java printed %q", line)
	}
	return out, complete, authz
}

func TestKerberosLoginErrors(t *testing.T) {
	k := startKDC(t, map[string]string{"learner/localhost": "learner.keytab"})
	kt := filepath.Join(k.Dir, "learner.keytab")
	props := map[string]string{PropKrb5Conf: k.Conf}
	for name, tc := range map[string]struct {
		entry string
		props map[string]string
		want  string
	}{
		"no keytab":            {`useKeyTab=true principal="learner/localhost"`, props, "useKeyTab=true and keyTab"},
		"ticket cache":         {`useTicketCache=true principal="learner/localhost"`, props, "useKeyTab=true and keyTab"},
		"missing keytab":       {`useKeyTab=true keyTab="/nonexistent/k.keytab" principal="learner/localhost"`, props, "/nonexistent/k.keytab"},
		"another principal":    {`useKeyTab=true keyTab="` + kt + `" principal="zkquorum/localhost"`, props, "no key for zkquorum/localhost@" + testRealm},
		"another realm":        {`useKeyTab=true keyTab="` + kt + `" principal="learner/localhost@ELSEWHERE"`, props, "no key for learner/localhost@ELSEWHERE"},
		"no Kerberos settings": {`useKeyTab=true keyTab="` + kt + `" principal="learner/localhost"`, map[string]string{PropKrb5Conf: "/nonexistent/krb5.conf"}, "/nonexistent/krb5.conf"},
	} {
		t.Run(name, func(t *testing.T) {
			j, err := ParseJAAS("QuorumLearner { "+Krb5LoginModule+" required "+tc.entry+"; };", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := NewKerberosLogin(j, "QuorumLearner", tc.props); !errors.Is(err, ErrKerberosConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrKerberosConfig with %q", err, tc.want)
			}
		})
	}
}

// TestKeysRotatedWithoutARestart: when an operator rotates a principal's keys
// (kadmin's ktadd rewrites the keytab), the acceptor takes tickets under the new
// key version and the learner logs in with its new keys, without a restart, as
// a JDK server does at its next login.
func TestKeysRotatedWithoutARestart(t *testing.T) {
	k := startKDC(t, map[string]string{
		"zkquorum/localhost": "server.keytab",
		"learner/localhost":  "learner.keytab",
	})
	p := k.provider(t, "zkquorum/localhost@"+testRealm, "server.keytab", nil)
	login := k.learnerLogin(t, "learner/localhost@"+testRealm, "learner.keytab")
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	exchange := func(t *testing.T, l *KerberosLogin) {
		t.Helper()
		if err := gssConverse(l.NewClient("zkquorum", "localhost"), p.NewServer(remote), nil); err != nil {
			log, _ := os.ReadFile(filepath.Join(k.Dir, "kdc.log"))
			t.Fatalf("%v\nkdc.log:\n%s", err, log)
		}
	}
	exchange(t, login)

	t.Run("the service's keys", func(t *testing.T) {
		k.Rotate(t, "zkquorum/localhost@"+testRealm, "server.keytab")
		// A learner that logs in now gets a ticket under the new key version,
		// which only the rewritten keytab holds.
		exchange(t, k.learnerLogin(t, "learner/localhost@"+testRealm, "learner.keytab"))
		// One holding a ticket from before still gets in: the keytab keeps the
		// old version beside the new, as ktadd leaves it.
		exchange(t, login)
	})
	t.Run("the learner's keys", func(t *testing.T) {
		before := login.cl
		k.Rotate(t, "learner/localhost@"+testRealm, "learner.keytab")
		exchange(t, login)
		if login.cl == before {
			t.Fatal("the learner kept the login of its old keys")
		}
	})
}

// A learner talks to whatever answers on a member's quorum port: no token from
// it, whatever its bytes, is taken for the server's proof or its offer, and
// none panics the client.
func FuzzGSSAPIClientTokens(f *testing.F) {
	key := testKey(f, 18)
	f.Add(frameInitial(tokIDAPRep, []byte{0x6f, 0x03, 0x30, 0x01, 0x00}))
	f.Add([]byte{0x60, 0x80})
	f.Add(wrapHeader(0, 12, 3, 1))
	login := &KerberosLogin{principal: "zkquorum/learner@EXAMPLE.COM"}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, state := range []gssClientState{gssClientSentAPReq, gssClientGotAPRep} {
			c := &GSSAPIClient{login: login, spn: "zkquorum/server", state: state, key: key}
			if _, err := c.Evaluate(b); err == nil {
				t.Fatalf("state %d: random token accepted: % x", state, b)
			}
		}
	})
}
