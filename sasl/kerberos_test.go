package sasl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zkd/internal/testutil"
)

const testRealm = "ZKD.TEST"

// kdc is an MIT krb5kdc serving a throw-away realm on a loopback port.
type kdc struct {
	dir  string
	conf string // krb5.conf for clients
	env  []string
}

// krbTool finds an MIT Kerberos program; the admin tools live in /usr/sbin,
// which is not always on PATH.
func krbTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := filepath.Join("/usr/sbin", name); fileExists(p) {
		return p
	}
	testutil.Missing(t, name+" (Debian packages krb5-kdc, krb5-admin-server)")
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// startKDC creates realm ZKD.TEST in a temporary directory with the given
// principals (random keys; each "name=keytab" also writes a keytab), runs krb5kdc
// on a free loopback port until the test ends.
func startKDC(t *testing.T, principals map[string]string) *kdc {
	t.Helper()
	kdb5Util, kadmin, krb5kdc := krbTool(t, "kdb5_util"), krbTool(t, "kadmin.local"), krbTool(t, "krb5kdc")
	dir := t.TempDir()
	port := testutil.FreePort(t)
	k := &kdc{dir: dir, conf: filepath.Join(dir, "krb5.conf")}
	writeTestFile(t, k.conf, fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
	dns_canonicalize_hostname = false
	udp_preference_limit = 1
	permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
[realms]
	%[1]s = {
		kdc = 127.0.0.1:%[2]d
	}
[domain_realm]
	localhost = %[1]s
`, testRealm, port))
	kdcConf := filepath.Join(dir, "kdc.conf")
	writeTestFile(t, kdcConf, fmt.Sprintf(`[kdcdefaults]
	kdc_listen = 127.0.0.1:%[2]d
	kdc_tcp_listen = 127.0.0.1:%[2]d
[realms]
	%[1]s = {
		database_name = %[3]s/principal
		key_stash_file = %[3]s/stash
		acl_file = %[3]s/kadm5.acl
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
		max_life = 1h
	}
[logging]
	kdc = FILE:%[3]s/kdc.log
`, testRealm, port, dir))
	writeTestFile(t, filepath.Join(dir, "kadm5.acl"), "")
	k.env = append(os.Environ(), "KRB5_CONFIG="+k.conf, "KRB5_KDC_PROFILE="+kdcConf)
	runKrb := func(name string, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = k.env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	runKrb(kdb5Util, "create", "-s", "-r", testRealm, "-P", "master-pw-for-tests")
	for name, keytab := range principals {
		runKrb(kadmin, "-r", testRealm, "-q", "addprinc -randkey "+name)
		if keytab != "" {
			runKrb(kadmin, "-r", testRealm, "-q", "ktadd -k "+filepath.Join(dir, keytab)+" "+name)
		}
	}
	cmd := exec.Command(krb5kdc, "-n", "-r", testRealm)
	cmd.Env = k.env
	out, err := os.Create(filepath.Join(dir, "krb5kdc.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.Close()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			log, _ := os.ReadFile(filepath.Join(dir, "kdc.log"))
			t.Fatalf("krb5kdc did not listen on %s: %v\n%s", addr, err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return k
}

// javaClient runs the JDK's GSSAPI SASL client as principal (logged in from
// keytab) against s, for service/host.
func (k *kdc) javaClient(t *testing.T, s Server, principal, keytab, service, host string, mutual bool) (string, error) {
	t.Helper()
	jaas := filepath.Join(k.dir, "client-"+strings.NewReplacer("/", "_", "@", "_").Replace(principal)+".conf")
	writeTestFile(t, jaas, fmt.Sprintf(`Client {
	com.sun.security.auth.module.Krb5LoginModule required
	useKeyTab=true keyTab="%s" storeKey=true useTicketCache=false doNotPrompt=true
	principal="%s";
};
`, filepath.Join(k.dir, keytab), principal))
	jvm := []string{"-Djava.security.krb5.conf=" + k.conf, "-Djava.security.auth.login.config=" + jaas,
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
};`, filepath.Join(k.dir, keytab), principal), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := FromProperties(map[string]string{PropKrb5Conf: k.conf})
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
		t.Fatalf("default realm %q from %s", p.Config().DefaultRealm, k.conf)
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
				log, _ := os.ReadFile(filepath.Join(k.dir, "kdc.log"))
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
