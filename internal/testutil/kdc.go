package testutil

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// KDC is an MIT krb5kdc serving a throw-away realm on a loopback port, for the
// Kerberos (GSSAPI) tests. Debian's krb5-kdc and krb5-admin-server provide it
// (scripts/deps.sh installs them).
type KDC struct {
	Realm string
	Dir   string
	Conf  string   // krb5.conf for clients and servers (java.security.krb5.conf, KRB5_CONFIG)
	Env   []string // the environment MIT tools need
}

// krbTool finds an MIT Kerberos program; the admin tools live in /usr/sbin, which
// is not always on PATH.
func krbTool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := filepath.Join("/usr/sbin", name); fileExists(p) {
		return p
	}
	Missing(t, name+" (Debian packages krb5-kdc, krb5-admin-server)")
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// StartKDC creates realm in a temporary directory with the given principals
// (random keys; a principal mapped to a file name also gets a keytab of that
// name in Dir, several principals may share one) and runs krb5kdc on a free
// loopback port until the test ends.
func StartKDC(t testing.TB, realm string, principals map[string]string) *KDC {
	t.Helper()
	kdb5Util, kadmin, krb5kdc := krbTool(t, "kdb5_util"), krbTool(t, "kadmin.local"), krbTool(t, "krb5kdc")
	dir := t.TempDir()
	port := FreePort(t)
	k := &KDC{Realm: realm, Dir: dir, Conf: filepath.Join(dir, "krb5.conf")}
	write := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(k.Conf, fmt.Sprintf(`[libdefaults]
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
`, realm, port))
	kdcConf := filepath.Join(dir, "kdc.conf")
	write(kdcConf, fmt.Sprintf(`[kdcdefaults]
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
`, realm, port, dir))
	write(filepath.Join(dir, "kadm5.acl"), "")
	k.Env = append(os.Environ(), "KRB5_CONFIG="+k.Conf, "KRB5_KDC_PROFILE="+kdcConf)
	run := func(name string, args ...string) { k.run(t, name, args...) }
	run(kdb5Util, "create", "-s", "-r", realm, "-P", "master-pw-for-tests")
	for name, keytab := range principals {
		run(kadmin, "-r", realm, "-q", "addprinc -randkey "+name)
		if keytab != "" {
			run(kadmin, "-r", realm, "-q", "ktadd -k "+k.Keytab(keytab)+" "+name)
		}
	}
	cmd := exec.Command(krb5kdc, "-n", "-r", realm)
	cmd.Env = k.Env
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
			return k
		}
		if i == 100 {
			log, _ := os.ReadFile(filepath.Join(dir, "kdc.log"))
			t.Fatalf("krb5kdc did not listen on %s: %v\n%s", addr, err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// run runs an MIT tool against the realm, failing the test on an error.
func (k *KDC) run(t testing.TB, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = k.Env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// Rotate gives principal new random keys (the next key version) and adds them
// to the keytab named keytab, as an operator rotating a service's keys does
// with kadmin's ktadd. Tickets issued from now on use the new keys.
func (k *KDC) Rotate(t testing.TB, principal, keytab string) {
	t.Helper()
	k.run(t, krbTool(t, "kadmin.local"), "-r", k.Realm, "-q", "ktadd -k "+k.Keytab(keytab)+" "+principal)
}

// Keytab returns the path of a keytab named name.
func (k *KDC) Keytab(name string) string { return filepath.Join(k.Dir, name) }
