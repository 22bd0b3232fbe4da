package session_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"math/rand"
	"testing"
	"time"

	"zkd/datatree"
	"zkd/jute"
	"zkd/replica/replicatest"
	"zkd/sasl"
	"zkd/session"
	"zkd/tlsconf"
)

// clientCert makes a self-signed certificate for subject, as the handshake would
// have verified it.
func clientCert(t *testing.T, subject pkix.Name) tls.ConnectionState {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.New(rand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: subject,
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0)}
	der, err := x509.CreateCertificate(rand.New(rand.NewSource(2)), tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
}

// newSecureHarness is newHarness with the tree knowing the registered schemes.
func newSecureHarness(t *testing.T, auth session.AuthConfig, mutate func(*session.Config)) *harness {
	t.Helper()
	opts := replicatest.StandaloneOptions{Logger: quiet, Tree: datatree.Config{Schemes: auth.TreeSchemes()}}
	return newHarnessWith(t, opts, func(c *session.Config) {
		c.Auth = auth
		if mutate != nil {
			mutate(c)
		}
	})
}

// connectTLS is connect for a client whose TLS handshake gave cs.
func (h *harness) connectTLS(cs tls.ConnectionState) *client {
	h.t.Helper()
	cl := h.dial()
	if err := cl.c.TLSHandshakeDone(cs); err != nil {
		h.t.Fatalf("TLSHandshakeDone: %v", err)
	}
	resp, ok := cl.handshake(jute.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16), HasReadOnly: true})
	if !ok || resp.SessionID == 0 {
		h.t.Fatal("handshake refused")
	}
	cl.sid = jute.SessionID(resp.SessionID)
	return cl
}

func hasID(infos []jute.ClientInfo, scheme, user string) bool {
	for _, ci := range infos {
		if ci.AuthScheme == scheme && ci.User == user {
			return true
		}
	}
	return false
}

func TestX509IdentityFromClientCertificate(t *testing.T) {
	alice := clientCert(t, pkix.Name{CommonName: "alice", Organization: []string{"Acme, Inc."}})
	admin := clientCert(t, pkix.Name{CommonName: "admin"})
	const aliceID, adminID = `CN=alice,O=Acme\, Inc.`, "CN=admin"
	h := newSecureHarness(t, session.AuthConfig{X509: &tlsconf.X509Provider{SuperUser: adminID}}, nil)

	a := h.connectTLS(alice)
	if got := a.whoAmI(); len(got) != 2 || !hasID(got, "x509", aliceID) || hasID(got, "super", aliceID) {
		t.Fatalf("alice whoAmI %+v", got)
	}
	x509ACL := []jute.ACL{{Perms: jute.PermAll, ID: jute.Id{Scheme: "x509", ID: aliceID}}}
	a.create("/alice", []byte("a"), 0, x509ACL)
	if r := a.call(jute.OpCreate, &jute.CreateRequest{Path: "/bad", ACL: []jute.ACL{{Perms: 31, ID: jute.Id{Scheme: "x509", ID: "alice"}}}}); r.hdr.Err != jute.CodeInvalidACL {
		t.Fatalf("unparsable x509 id: %v, want INVALIDACL", r)
	}
	a.create("/mine", nil, 0, jute.CreatorAllACL) // auth: expands to the certificate's id

	plain := h.connect()
	for _, p := range []string{"/alice", "/mine"} {
		if r := plain.call(jute.OpGetData, &jute.PathWatchRequest{Path: p}); r.hdr.Err != jute.CodeNoAuth {
			t.Fatalf("getData %s without a certificate: %v, want NOAUTH", p, r)
		}
		if r := a.call(jute.OpGetData, &jute.PathWatchRequest{Path: p}); r.hdr.Err != jute.CodeOK {
			t.Fatalf("getData %s as alice: %v", p, r)
		}
	}
	su := h.connectTLS(admin)
	if got := su.whoAmI(); !hasID(got, "super", adminID) || !hasID(got, "x509", adminID) {
		t.Fatalf("admin whoAmI %+v", got)
	}
	if r := su.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/alice"}); r.hdr.Err != jute.CodeOK {
		t.Fatalf("super user getData: %v", r)
	}

	t.Run("addauth x509", func(t *testing.T) {
		if r := a.auth("x509", ""); r.hdr.Err != jute.CodeOK {
			t.Fatalf("addauth x509 with a certificate: %v", r)
		}
		if r := plain.auth("x509", ""); r.hdr.Err != jute.CodeAuthFailed || !plain.closing {
			t.Fatalf("addauth x509 without a certificate: %v closing=%v", r, plain.closing)
		}
	})
	t.Run("no certificate", func(t *testing.T) {
		cl := h.connectTLS(tls.ConnectionState{})
		if got := cl.whoAmI(); len(got) != 1 || got[0].AuthScheme != "ip" {
			t.Fatalf("whoAmI %+v", got)
		}
	})
	t.Run("provider not registered", func(t *testing.T) {
		h := newHarness(t, nil)
		cl := h.dial()
		if err := cl.c.TLSHandshakeDone(alice); !errors.Is(err, session.ErrNoX509Provider) {
			t.Fatalf("TLSHandshakeDone without a provider: %v", err)
		}
		if err := cl.c.TLSHandshakeDone(tls.ConnectionState{}); err != nil {
			t.Fatalf("no certificate, no provider: %v", err)
		}
	})
}

const saslJAAS = `Server {
	org.apache.zookeeper.server.auth.DigestLoginModule required
	user_bob="bobsecret"
	user_admin="adminsecret";
};`

func saslAuth(t *testing.T, edit func(*sasl.Config)) session.AuthConfig {
	t.Helper()
	j, err := sasl.ParseJAAS(saslJAAS, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := sasl.DefaultConfig()
	if edit != nil {
		edit(&c)
	}
	p, err := sasl.NewProvider(c, j, sasl.Env{Rand: rand.New(rand.NewSource(3)), Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return session.AuthConfig{SASL: p, SASLScheme: &c}
}

// saslCall sends one opcode-102 token and returns the reply and its token.
func (cl *client) saslCall(token []byte) (reply, []byte) {
	cl.t.Helper()
	r := cl.call(jute.OpSASL, &jute.BufferRecord{Token: token})
	var resp jute.BufferRecord
	d := jute.NewDecoder(r.body)
	resp.Decode(&d)
	if d.Err() != nil || d.Remaining() != 0 {
		cl.t.Fatalf("sasl reply %v: body % x is not a SetSASLResponse", r, r.body)
	}
	return r, resp.Token
}

// digestLogin runs DIGEST-MD5 as user; it returns the first reply that is not OK.
func (cl *client) digestLogin(user, password string) reply {
	cl.t.Helper()
	c := sasl.NewDigestClient(user, password, sasl.ClientProtocol, sasl.ClientServerName, rand.New(rand.NewSource(4)))
	tok, _ := c.Start() // DIGEST-MD5 starts empty, never failing
	for i := 0; i < 3; i++ {
		r, srvTok := cl.saslCall(tok)
		if r.hdr.Err != jute.CodeOK || r.hdr.Zxid != 0 {
			return r
		}
		next, err := c.Evaluate(srvTok)
		if err != nil {
			cl.t.Fatalf("client: %v", err)
		}
		if next == nil {
			if !c.Complete() {
				cl.t.Fatal("exchange ended incomplete")
			}
			return r
		}
		tok = next
	}
	cl.t.Fatal("exchange did not end")
	return reply{}
}

func TestSASLDigestOverOpcode102(t *testing.T) {
	h := newSecureHarness(t, saslAuth(t, func(c *sasl.Config) { c.SuperUsers = []string{"admin"} }), nil)
	bob := h.connect()
	if r := bob.digestLogin("bob", "bobsecret"); r.hdr.Err != jute.CodeOK {
		t.Fatalf("login: %v", r)
	}
	if got := bob.whoAmI(); !hasID(got, "sasl", "bob") || hasID(got, "super", "") {
		t.Fatalf("whoAmI %+v", got)
	}
	bob.create("/bob", nil, 0, []jute.ACL{{Perms: jute.PermAll, ID: jute.Id{Scheme: "sasl", ID: "bob"}}})
	other := h.connect()
	if r := other.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/bob"}); r.hdr.Err != jute.CodeNoAuth {
		t.Fatalf("getData without sasl: %v", r)
	}
	admin := h.connect()
	if r := admin.digestLogin("admin", "adminsecret"); r.hdr.Err != jute.CodeOK {
		t.Fatalf("admin login: %v", r)
	}
	if got := admin.whoAmI(); !hasID(got, "super", "") {
		t.Fatalf("admin whoAmI %+v", got)
	}
	if r := admin.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/bob"}); r.hdr.Err != jute.CodeOK {
		t.Fatalf("super getData: %v", r)
	}

	t.Run("wrong password", func(t *testing.T) {
		cl := h.connect()
		r := cl.digestLogin("bob", "wrong")
		if r.hdr.Err != jute.CodeAuthFailed || r.hdr.Zxid != 0 || !cl.closing {
			t.Fatalf("reply %v closing=%v, want AUTHFAILED and a close", r, cl.closing)
		}
		// Others are not affected.
		if r := bob.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/bob"}); r.hdr.Err != jute.CodeOK {
			t.Fatalf("bob after another client's failure: %v", r)
		}
	})
	t.Run("garbage token", func(t *testing.T) {
		cl := h.connect()
		if r, _ := cl.saslCall(nil); r.hdr.Err != jute.CodeOK { // challenge
			t.Fatalf("first token: %v", r)
		}
		if r, tok := cl.saslCall([]byte("username=\"x")); r.hdr.Err != jute.CodeAuthFailed || tok != nil || !cl.closing {
			t.Fatalf("reply %v token %q", r, tok)
		}
	})
	t.Run("token after completion", func(t *testing.T) {
		cl := h.connect()
		if r := cl.digestLogin("bob", "bobsecret"); r.hdr.Err != jute.CodeOK {
			t.Fatal(r)
		}
		if r, _ := cl.saslCall([]byte("again")); r.hdr.Err != jute.CodeAuthFailed || !cl.closing {
			t.Fatalf("reply %v", r)
		}
	})
	t.Run("allowSaslFailedClients", func(t *testing.T) {
		auth := saslAuth(t, nil)
		auth.AllowSASLFailed = true
		h := newSecureHarness(t, auth, nil)
		cl := h.connect()
		c := sasl.NewDigestClient("bob", "wrong", sasl.ClientProtocol, sasl.ClientServerName, rand.New(rand.NewSource(5)))
		first, _ := c.Start()
		_, challenge := cl.saslCall(first)
		resp, err := c.Evaluate(challenge)
		if err != nil {
			t.Fatal(err)
		}
		r, tok := cl.saslCall(resp)
		if r.hdr.Err != jute.CodeOK || tok != nil || cl.closing {
			t.Fatalf("reply %v token %q closing=%v, want OK, no token, and the connection kept", r, tok, cl.closing)
		}
		if got := cl.whoAmI(); hasID(got, "sasl", "bob") {
			t.Fatalf("failed login gave an id: %+v", got)
		}
	})
}

func TestSASLWithoutJAASSectionFailsAndCloses(t *testing.T) {
	h := newSecureHarness(t, session.AuthConfig{SASLScheme: &sasl.Config{}}, nil)
	cl := h.connect()
	r := cl.call(jute.OpSASL, &jute.BufferRecord{Token: []byte{}})
	if r.hdr.Err != jute.CodeAuthFailed || !cl.closing {
		t.Fatalf("reply %v closing=%v", r, cl.closing)
	}
}

func TestEnforcedAuthentication(t *testing.T) {
	t.Run("sessionRequireClientSASLAuth", func(t *testing.T) {
		auth := saslAuth(t, nil)
		auth.Enforce = []string{"sasl"}
		h := newSecureHarness(t, auth, nil)

		anon := h.connect()
		xid := anon.send(jute.OpGetData, &jute.PathWatchRequest{Path: "/"})
		if r := anon.nextReply(); r.hdr.Xid != xid || r.hdr.Zxid != 0 || r.hdr.Err != jute.CodeSessionClosedRequireSASL || len(r.body) != 0 || !anon.closing {
			t.Fatalf("unauthenticated getData: %v closing=%v, want SESSIONCLOSEDREQUIRESASLAUTH and a close", r, anon.closing)
		}
		pinger := h.connect()
		pinger.send(jute.OpPing, nil)
		if r := pinger.nextReply(); r.hdr.Err != jute.CodeSessionClosedRequireSASL {
			t.Fatalf("unauthenticated ping: %v", r)
		}

		bob := h.connect()
		if r := bob.auth("digest", "bob:x"); r.hdr.Err != jute.CodeOK { // auth is allowed, and is not sasl
			t.Fatalf("digest auth: %v", r)
		}
		if r := bob.digestLogin("bob", "bobsecret"); r.hdr.Err != jute.CodeOK {
			t.Fatalf("login: %v", r)
		}
		if r := bob.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/"}); r.hdr.Err != jute.CodeOK {
			t.Fatalf("getData after SASL: %v", r)
		}

		failed := h.connect()
		if r := failed.digestLogin("bob", "wrong"); r.hdr.Err != jute.CodeSessionClosedRequireSASL || !failed.closing {
			t.Fatalf("failed login with SASL required: %v", r)
		}
	})
	t.Run("enforce.auth.schemes=digest,x509", func(t *testing.T) {
		auth := session.AuthConfig{X509: &tlsconf.X509Provider{}, Enforce: []string{"digest", "x509"}}
		h := newSecureHarness(t, auth, nil)
		cert := h.connectTLS(clientCert(t, pkix.Name{CommonName: "c"}))
		if r := cert.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/"}); r.hdr.Err != jute.CodeOK {
			t.Fatalf("x509 client: %v", r)
		}
		dig := h.connect()
		dig.auth("digest", "u:p")
		if r := dig.call(jute.OpGetData, &jute.PathWatchRequest{Path: "/"}); r.hdr.Err != jute.CodeOK {
			t.Fatalf("digest client: %v", r)
		}
		anon := h.connect()
		if r := anon.call(jute.OpExists, &jute.PathWatchRequest{Path: "/"}); r.hdr.Err != jute.CodeSessionClosedRequireSASL {
			t.Fatalf("anonymous client: %v", r)
		}
	})
	t.Run("scheme without provider", func(t *testing.T) {
		cfg := session.DefaultConfig()
		cfg.Auth.Enforce = []string{"sasl"}
		if _, err := session.NewServer(cfg, nil); !errors.Is(err, session.ErrSchemeUnavailable) {
			t.Fatalf("NewServer: %v", err)
		}
	})
}

// TestGlobalOutstandingLimit: past globalOutstandingLimit, connections with
// requests in flight stop reading; the others do not; everything resumes as
// replies go out, and a closed connection gives its count back.
func TestGlobalOutstandingLimit(t *testing.T) {
	h := newHarness(t, func(c *session.Config) { c.GlobalOutstandingLimit = 2 })
	a, b, idle := h.connect(), h.connect(), h.connect()
	h.gate.hold()
	for i := 0; i < 3; i++ {
		a.send(jute.OpSetData, &jute.SetDataRequest{Path: "/", Version: -1})
	}
	if got := h.srv.InFlight(); got != 3 {
		t.Fatalf("in flight %d, want 3", got)
	}
	if !a.c.Throttled() {
		t.Fatal("a connection with requests in flight reads on past the global limit")
	}
	if idle.c.Throttled() || b.c.Throttled() {
		t.Fatal("a connection with nothing in flight was stopped")
	}
	b.send(jute.OpSetData, &jute.SetDataRequest{Path: "/", Version: -1})
	if !b.c.Throttled() {
		t.Fatal("b reads on with its own request in flight past the limit")
	}
	h.gate.release()
	for i := 0; i < 3; i++ {
		if r := a.nextReply(); r.hdr.Err != jute.CodeOK {
			t.Fatalf("a: %v", r)
		}
	}
	if r := b.nextReply(); r.hdr.Err != jute.CodeOK {
		t.Fatalf("b: %v", r)
	}
	if a.c.Throttled() || b.c.Throttled() || h.srv.InFlight() != 0 {
		t.Fatalf("after the replies: throttled %v %v, in flight %d", a.c.Throttled(), b.c.Throttled(), h.srv.InFlight())
	}

	h.gate.hold()
	a.send(jute.OpSetData, &jute.SetDataRequest{Path: "/", Version: -1})
	a.c.Closed()
	if got := h.srv.InFlight(); got != 0 {
		t.Fatalf("in flight after the connection closed: %d", got)
	}
	h.gate.release()
}

// FuzzSASLRequest feeds arbitrary opcode-102 bodies (malformed records, tokens of
// any length) to a connection mid-exchange: no panic, and every answer is OK or
// a refusal that closes the connection.
func FuzzSASLRequest(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0}, []byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 3, 'a', 'b', 'c'}, []byte{0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte{}, []byte(`charset=utf-8,username="bob"`))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		h := newSecureHarness(t, saslAuth(t, nil), nil)
		cl := h.connect()
		for i, body := range [][]byte{first, second} {
			frame := (&jute.RequestHeader{Xid: int32(10 + i), Type: jute.OpSASL}).Append(nil)
			if !cl.c.HandleFrame(append(frame, body...)) {
				return
			}
			r := cl.nextReply()
			if r.hdr.Err != jute.CodeOK && !cl.closing {
				t.Fatalf("refusal %v without a close", r)
			}
			if cl.closing {
				return
			}
		}
	})
}
