package sasl

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"zkd/internal/testutil"
)

const testRealm = "ZKD.TEST"

// kdc is an MIT krb5kdc serving a throw-away realm on a loopback port.
type kdc struct{ *testutil.KDC }

// startKDC runs realm ZKD.TEST with the given principals (each mapped to a
// keytab file name also gets that keytab) until the test ends.
func startKDC(t *testing.T, principals map[string]string) *kdc {
	t.Helper()
	return &kdc{testutil.StartKDC(t, testRealm, principals)}
}

// javaClient runs the JDK's GSSAPI SASL client as principal (logged in from
// keytab) against s, for service/host.
func (k *kdc) javaClient(t *testing.T, s Server, principal, keytab, service, host string, mutual bool) (string, error) {
	t.Helper()
	jaas := filepath.Join(k.Dir, "client-"+strings.NewReplacer("/", "_", "@", "_").Replace(principal)+".conf")
	writeTestFile(t, jaas, fmt.Sprintf(`Client {
	com.sun.security.auth.module.Krb5LoginModule required
	useKeyTab=true keyTab="%s" storeKey=true useTicketCache=false doNotPrompt=true
	principal="%s";
};
`, filepath.Join(k.Dir, keytab), principal))
	jvm := []string{"-Djava.security.krb5.conf=" + k.Conf, "-Djava.security.auth.login.config=" + jaas,
		"-Dsun.security.krb5.disableReferrals=true"}
	args := []string{"GSSAPI", "Client", principal, service, host}
	if mutual {
		args = append(args, "mutual")
	}
	return converseWithJava(t, s, jvm, args...)
}

func (k *kdc) provider(t *testing.T, principal, keytab string, edit func(*Config)) *Provider {
	t.Helper()
	j, err := ParseJAAS(fmt.Sprintf(`Server {
	com.sun.security.auth.module.Krb5LoginModule required
	useKeyTab=true
	keyTab="%s"
	storeKey=true
	useTicketCache=false
	principal="%s";
};`, filepath.Join(k.Dir, keytab), principal), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := FromProperties(map[string]string{PropKrb5Conf: k.Conf})
	if edit != nil {
		edit(&c)
	}
	p, err := NewProvider(c, j, quietEnv(4))
	if err != nil {
		t.Fatal(err)
	}
	if p.Mechanism() != MechGSSAPI {
		t.Fatalf("mechanism %s", p.Mechanism())
	}
	return p
}

// TestKerberosWithLoopbackKDC runs the JDK's GSSAPI SASL client, with a service
// ticket from a real MIT KDC, against the GSSAPI server.
func TestKerberosWithLoopbackKDC(t *testing.T) {
	harness(t) // compile first: fail fast without a JDK
	k := startKDC(t, map[string]string{
		"zookeeper/localhost": "zk.keytab",
		"other/localhost":     "",
		"zkclient":            "client.keytab",
		"zkcli/app1.example":  "client.keytab",
	})
	p := k.provider(t, "zookeeper/localhost@"+testRealm, "zk.keytab", nil)
	if p.Config().DefaultRealm != testRealm {
		t.Fatalf("default realm %q from %s", p.Config().DefaultRealm, k.Conf)
	}

	for _, tc := range []struct {
		name, principal string
		mutual          bool
		edit            func(*Config)
		want            string
	}{
		{"as ZooKeeper's client", "zkclient@" + testRealm, false, nil, "zkclient@" + testRealm},
		{"mutual authentication (AP-REP)", "zkclient@" + testRealm, true, nil, "zkclient@" + testRealm},
		{"host kept", "zkcli/app1.example@" + testRealm, false, nil, "zkcli/app1.example@" + testRealm},
		{"host and realm removed", "zkcli/app1.example@" + testRealm, false, func(c *Config) {
			c.RemoveHostFromPrincipal, c.RemoveRealmFromPrincipal = true, true
		}, "zkcli"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prov := p
			if tc.edit != nil {
				prov = k.provider(t, "zookeeper/localhost@"+testRealm, "zk.keytab", tc.edit)
			}
			s := prov.NewServer(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000})
			clientErr, serverErr := k.javaClient(t, s, tc.principal, "client.keytab", "zookeeper", "localhost", tc.mutual)
			if clientErr != "" || serverErr != nil {
				log, _ := os.ReadFile(filepath.Join(k.Dir, "kdc.log"))
				t.Fatalf("client %q, server %v\nkdc.log:\n%s", clientErr, serverErr, log)
			}
			if !s.Complete() || s.AuthorizationID() != tc.want {
				t.Fatalf("complete %v id %q, want %q", s.Complete(), s.AuthorizationID(), tc.want)
			}
		})
	}

	t.Run("ticket for another service", func(t *testing.T) {
		s := p.NewServer(nil)
		clientErr, serverErr := k.javaClient(t, s, "zkclient@"+testRealm, "client.keytab", "other", "localhost", false)
		if !errors.Is(serverErr, ErrAuthFailed) || !strings.Contains(serverErr.Error(), "ticket is for other/localhost") || s.Complete() {
			t.Fatalf("client %q, server %v", clientErr, serverErr)
		}
	})
	t.Run("replayed AP-REQ", func(t *testing.T) {
		rec := &recordingServer{Server: p.NewServer(nil)}
		if clientErr, serverErr := k.javaClient(t, rec, "zkclient@"+testRealm, "client.keytab", "zookeeper", "localhost", false); clientErr != "" || serverErr != nil {
			t.Fatalf("client %q, server %v", clientErr, serverErr)
		}
		s := p.NewServer(nil)
		if _, err := s.Evaluate(rec.first); !errors.Is(err, ErrAuthFailed) || !strings.Contains(err.Error(), "replay") {
			t.Fatalf("replayed AP-REQ: %v", err)
		}
	})
}

// recordingServer keeps the first client token.
type recordingServer struct {
	Server
	first []byte
}

func (r *recordingServer) Evaluate(tok []byte) ([]byte, error) {
	if r.first == nil {
		r.first = append([]byte{}, tok...)
	}
	return r.Server.Evaluate(tok)
}

func TestKerberosLoginConfigErrors(t *testing.T) {
	cases := map[string]string{
		"no keytab":      `Server { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true principal="zk/h@R"; };`,
		"no useKeyTab":   `Server { com.sun.security.auth.module.Krb5LoginModule required keyTab="/k" principal="zk/h@R"; };`,
		"no host":        `Server { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab="/k" principal="zk@R"; };`,
		"missing keytab": `Server { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab="/nonexistent/zk.keytab" principal="zk/h@R"; };`,
	}
	for name, src := range cases {
		j, err := ParseJAAS(src, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewProvider(DefaultConfig(), j, quietEnv(5)); !errors.Is(err, ErrKerberosConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	j, _ := ParseJAAS(`Client { a.B required; };`, nil)
	if _, err := NewProvider(DefaultConfig(), j, quietEnv(5)); !errors.Is(err, ErrNoSection) {
		t.Errorf("no Server section: %v", err)
	}
}
