package sasl

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zkd/internal/testutil"
)

func writeTestFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func quietEnv(seed int64) Env {
	return Env{Rand: rand.New(rand.NewSource(seed)), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func digestProvider(t *testing.T, edit func(*Config)) *Provider {
	t.Helper()
	j, err := ParseJAAS(zkJAAS, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.DefaultRealm = "EXAMPLE.COM"
	if edit != nil {
		edit(&c)
	}
	p, err := NewProvider(c, j, quietEnv(1))
	if err != nil {
		t.Fatal(err)
	}
	if p.Mechanism() != MechDigestMD5 {
		t.Fatalf("mechanism %s", p.Mechanism())
	}
	return p
}

// digestClient is a test-side RFC 2831 client, written from the RFC.
type digestClient struct {
	user, password, authzid string
	cnonce                  string
	uri                     string
	realm                   string // "" means take the server's
	nc                      string
	qop                     string
	extra                   string // appended directives
}

func (c digestClient) respond(t *testing.T, challenge []byte) []byte {
	t.Helper()
	d, err := ParseDigestDirectives(challenge, []string{"realm", "nonce", "qop", "charset", "algorithm", "maxbuf", "cipher"})
	if err != nil {
		t.Fatal(err)
	}
	if string(d["algorithm"]) != "md5-sess" || string(d["charset"]) != "utf-8" {
		t.Fatalf("challenge %q", challenge)
	}
	realm := c.realm
	if realm == "" {
		realm = string(d["realm"])
	}
	uri, nc, qop := c.uri, c.nc, c.qop
	if uri == "" {
		uri = "zookeeper/zk-sasl-md5"
	}
	if nc == "" {
		nc = "00000001"
	}
	if qop == "" {
		qop = "auth"
	}
	var az []byte
	if c.authzid != "" {
		az = []byte(c.authzid)
	}
	resp := digestResponseFor(realm, "AUTHENTICATE:"+uri, c.user, c.password, d["nonce"], []byte(c.cnonce), nc, qop, az)
	out := fmt.Sprintf(`charset=utf-8,username="%s",realm="%s",nonce="%s",nc=%s,cnonce="%s",digest-uri="%s",maxbuf=65536,response=%s,qop=%s`,
		c.user, realm, d["nonce"], nc, c.cnonce, uri, resp, qop)
	if c.authzid != "" {
		out += `,authzid="` + c.authzid + `"`
	}
	return []byte(out + c.extra)
}

// digestResponseFor is RFC 2831 §2.1.2.1 for a given realm and nonce count (the
// server's own digestResponse fixes both).
func digestResponseFor(realm, a2, user, password string, nonce, cnonce []byte, nc, qop string, authzid []byte) string {
	h := func(b []byte) []byte { s := md5sum(b); return []byte(hex.EncodeToString(s[:])) }
	inner := md5sum([]byte(user + ":" + realm + ":" + password))
	a1 := append(inner[:], []byte(":"+string(nonce)+":"+string(cnonce))...)
	if authzid != nil {
		a1 = append(a1, append([]byte(":"), authzid...)...)
	}
	kd := string(h(a1)) + ":" + string(nonce) + ":" + nc + ":" + string(cnonce) + ":" + qop + ":" + string(h([]byte(a2)))
	return string(h([]byte(kd)))
}

func TestDigestExchangeWithGoClient(t *testing.T) {
	p := digestProvider(t, nil)
	s := p.NewServer(nil)
	ch, err := s.Evaluate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(ch, []byte(`realm="zk-sasl-md5",nonce="`)) || !bytes.HasSuffix(ch, []byte(`",charset=utf-8,algorithm=md5-sess`)) || len(ch) != len(`realm="zk-sasl-md5",nonce="`)+40+len(`",charset=utf-8,algorithm=md5-sess`) {
		t.Fatalf("challenge %q", ch)
	}
	c := digestClient{user: "bob", password: "bobsecret", authzid: "bob", cnonce: "OA6MHXh6VqTrRk"}
	rsp, err := s.Evaluate(c.respond(t, ch))
	if err != nil {
		t.Fatal(err)
	}
	nonce := ch[len(`realm="zk-sasl-md5",nonce="`) : len(`realm="zk-sasl-md5",nonce="`)+40]
	want := "rspauth=" + digestResponseFor("zk-sasl-md5", ":zookeeper/zk-sasl-md5", "bob", "bobsecret", nonce, []byte(c.cnonce), "00000001", "auth", []byte("bob"))
	if string(rsp) != want {
		t.Fatalf("rspauth %q, want %q", rsp, want)
	}
	if !s.Complete() || s.AuthorizationID() != "bob" {
		t.Fatalf("complete %v id %q", s.Complete(), s.AuthorizationID())
	}
	if _, err := s.Evaluate(nil); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("token after completion: %v", err)
	}
}

func TestDigestRefusals(t *testing.T) {
	good := digestClient{user: "bob", password: "bobsecret", cnonce: "abc"}
	cases := []struct {
		name   string
		client digestClient
		mangle func([]byte) []byte
		want   string
	}{
		{"wrong password", digestClient{user: "bob", password: "nope", cnonce: "abc"}, nil, "mismatched response"},
		{"unknown user", digestClient{user: "eve", password: "x", cnonce: "abc"}, nil, "cannot acquire password for eve"},
		{"wrong realm", digestClient{user: "bob", password: "bobsecret", cnonce: "abc", realm: "other"}, nil, "nonexistent realm"},
		{"wrong uri", digestClient{user: "bob", password: "bobsecret", cnonce: "abc", uri: "ldap/zk-sasl-md5"}, nil, "mismatched URI"},
		{"nonce count 2", digestClient{user: "bob", password: "bobsecret", cnonce: "abc", nc: "00000002"}, nil, "nonce count"},
		{"auth-int", digestClient{user: "bob", password: "bobsecret", cnonce: "abc", qop: "auth-int"}, nil, "does not support qop auth-int"},
		{"bad qop", digestClient{user: "bob", password: "bobsecret", cnonce: "abc", qop: "x"}, nil, "invalid QOP"},
		{"duplicate directive", good, func(b []byte) []byte { return append(b, `,username="bob"`...) }, "more than one username"},
		{"other nonce", good, func(b []byte) []byte {
			i := bytes.Index(b, []byte(`nonce="`)) + 7
			b[i] ^= 1
			return b
		}, "mismatched nonce"},
		{"no cnonce", good, func(b []byte) []byte { return bytes.Replace(b, []byte(`cnonce="abc",`), nil, 1) }, "missing cnonce"},
		{"bad charset", good, func(b []byte) []byte { return bytes.Replace(b, []byte("charset=utf-8"), []byte("charset=latin1"), 1) }, "incompatible charset"},
		{"unterminated quote", good, func(b []byte) []byte { return append(b, `,x="open`...) }, "unmatched quote"},
		{"too long", good, func(b []byte) []byte { return append(b, bytes.Repeat([]byte(" "), 4096)...) }, "invalid digest response length"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := digestProvider(t, nil).NewServer(nil)
			ch, err := s.Evaluate(nil)
			if err != nil {
				t.Fatal(err)
			}
			resp := tc.client.respond(t, ch)
			if tc.mangle != nil {
				resp = tc.mangle(resp)
			}
			_, err = s.Evaluate(resp)
			if !errors.Is(err, ErrAuthFailed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if s.Complete() || s.AuthorizationID() != "" {
				t.Fatal("failed exchange reports completion")
			}
			if _, err := s.Evaluate(resp); !errors.Is(err, ErrAuthFailed) {
				t.Fatal("a failed exchange accepted another token")
			}
		})
	}
}

func TestDigestSuperPasswordAndAuthzid(t *testing.T) {
	// superPassword replaces the JAAS password of a listed "super".
	p := digestProvider(t, func(c *Config) { c.SuperPassword, c.HasSuperPassword = "override", true })
	for _, tc := range []struct {
		pw string
		ok bool
	}{{"adminsecret", false}, {"override", true}} {
		s := p.NewServer(nil)
		ch, _ := s.Evaluate(nil)
		_, err := s.Evaluate(digestClient{user: "super", password: tc.pw, cnonce: "n"}.respond(t, ch))
		if tc.ok != (err == nil) {
			t.Fatalf("super with %q: %v", tc.pw, err)
		}
	}
	// The id is the authenticated user, whatever authorization id is asked for.
	s := p.NewServer(nil)
	ch, _ := s.Evaluate(nil)
	if _, err := s.Evaluate(digestClient{user: "bob", password: "bobsecret", authzid: "super", cnonce: "n"}.respond(t, ch)); err != nil {
		t.Fatal(err)
	}
	if s.AuthorizationID() != "bob" {
		t.Fatalf("id %q", s.AuthorizationID())
	}
}

func TestParseDigestDirectives(t *testing.T) {
	d, err := ParseDigestDirectives([]byte(" ,USERNAME = \"a\\\"b\" ,, realm=r\t,cnonce=\"x,y\",ignored=1, nc=00000001"), digestKeys)
	if err != nil {
		t.Fatal(err)
	}
	if string(d["username"]) != `a"b` || string(d["realm"]) != "r" || string(d["cnonce"]) != "x,y" || string(d["nc"]) != "00000001" || len(d) != 4 {
		t.Fatalf("%q", d)
	}
	for _, bad := range []string{`=x`, `a b=c`, `k="v"x`, `k=`, `key,x=1`, `k="v\`} {
		if _, err := ParseDigestDirectives([]byte(bad), digestKeys); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzDigestResponse(f *testing.F) {
	p := &Provider{cfg: DefaultConfig(), users: map[string]string{"bob": "bobsecret"}, env: quietEnv(2)}
	p.rules, _ = ParseRules("DEFAULT", "")
	f.Add([]byte(`charset=utf-8,username="bob",realm="zk-sasl-md5",nonce="x",nc=00000001,cnonce="y",digest-uri="zookeeper/zk-sasl-md5",maxbuf=65536,response=0123,qop=auth`))
	f.Add([]byte(`k="\`))
	f.Add([]byte(`,,,= "`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := &digestServer{p: p}
		if _, err := s.Evaluate(nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Evaluate(b); err == nil {
			t.Fatalf("random response %q accepted", b)
		}
		d, err := ParseDigestDirectives(b, digestKeys)
		if err == nil {
			n := 0
			for _, v := range d {
				n += len(v)
			}
			if n > len(b) {
				t.Fatalf("directive values of %d bytes from %d input bytes", n, len(b))
			}
		}
	})
}

// --- the JDK's own SASL client ---

var saslHarness = &testutil.JavaClasses{Name: "SaslClientHarness"}

// harness compiles testdata/SaslClientHarness.java once and returns the class dir.
func harness(t *testing.T) string {
	t.Helper()
	javac, err := exec.LookPath("javac")
	if err != nil {
		testutil.Missing(t, "javac")
	}
	if _, err := exec.LookPath("java"); err != nil {
		testutil.Missing(t, "java")
	}
	return saslHarness.Compile(t, javac, filepath.Join("testdata", "SaslClientHarness.java"))
}

func TestMain(m *testing.M) {
	testutil.Main(m, saslHarness.Remove)
}

// javaHarness is a running SaslClientHarness: tokens as lines on its standard
// input and output.
type javaHarness struct {
	in     io.WriteCloser
	lines  *bufio.Scanner
	stderr *bytes.Buffer
}

// startHarness runs the harness with jvmArgs and args (for two minutes at the
// most); stop ends it, showing what it printed on stderr if the test failed.
func startHarness(t *testing.T, jvmArgs []string, args ...string) (h *javaHarness, stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	// A short-lived JVM starts faster without the optimising compiler.
	jvm := append([]string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"}, jvmArgs...)
	cmd := exec.CommandContext(ctx, "java", append(append(jvm, "-cp", harness(t), "SaslClientHarness"), args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h = &javaHarness{in: stdin, stderr: &bytes.Buffer{}}
	cmd.Stderr = h.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.lines = bufio.NewScanner(stdout)
	h.lines.Buffer(make([]byte, 1<<20), 1<<20)
	return h, func() {
		stdin.Close()
		_ = cmd.Wait()
		cancel()
		if t.Failed() {
			t.Logf("java stderr:\n%s", h.stderr.String())
		}
	}
}

// converseWithJava runs the JDK client with args against s, relaying tokens the
// way ZooKeeper's client and server do, and returns the client's error line, if
// any, and the server's error, if any.
func converseWithJava(t *testing.T, s Server, jvmArgs []string, args ...string) (clientErr string, serverErr error) {
	t.Helper()
	h, stop := startHarness(t, jvmArgs, args...)
	defer stop()
	lines, stderr, stdin := h.lines, h.stderr, h.in
	for round := 0; round < 10; round++ {
		if !lines.Scan() {
			t.Fatalf("java ended early: %v\n%s", lines.Err(), stderr.String())
		}
		line := lines.Text()
		if strings.HasPrefix(line, "ERROR ") {
			return line, nil
		}
		tokHex, complete := strings.CutSuffix(line, " COMPLETE")
		if tokHex == "-" {
			if !complete {
				t.Fatalf("client sent no token without completing")
			}
			return "", nil // ZooKeeper's client sends nothing more
		}
		tok, err := hex.DecodeString(tokHex)
		if err != nil {
			t.Fatalf("java printed %q", line)
		}
		out, err := s.Evaluate(tok)
		if err != nil {
			return "", err
		}
		if complete {
			if !s.Complete() {
				t.Fatal("client completed, server did not")
			}
			return "", nil
		}
		reply := "-"
		if out != nil {
			reply = hex.EncodeToString(out)
		}
		if _, err := io.WriteString(stdin, reply+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("exchange did not finish in 10 rounds")
	return "", nil
}

func TestDigestWithJavaSaslClient(t *testing.T) {
	p := digestProvider(t, nil)
	for _, tc := range []struct {
		name, user, pw, authzid string
		ok                      bool
	}{
		{"as ZooKeeper's client", "bob", "bobsecret", "bob", true},
		{"no authzid", "bob", "bobsecret", "-", true},
		{"escaped password", "kafka", "k\"af\\ka\tpw", "kafka", true},
		{"wrong password", "bob", "wrong", "bob", false},
		{"unknown user", "mallory", "bobsecret", "mallory", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := p.NewServer(nil)
			clientErr, serverErr := converseWithJava(t, s, nil, "DIGEST-MD5", tc.user, tc.pw, tc.authzid)
			if tc.ok {
				if clientErr != "" || serverErr != nil || !s.Complete() || s.AuthorizationID() != tc.user {
					t.Fatalf("client %q server %v complete %v id %q", clientErr, serverErr, s.Complete(), s.AuthorizationID())
				}
				return
			}
			if !errors.Is(serverErr, ErrAuthFailed) || s.Complete() {
				t.Fatalf("server err %v complete %v (client %q)", serverErr, s.Complete(), clientErr)
			}
		})
	}
}

func md5sum(b []byte) [16]byte { return md5.Sum(b) }
