package zoocfg

import "testing"

// The security keys of a Kafka- or HBase-style zoo.cfg are known (no warning) and
// become the system properties ZooKeeper reads them as; the JDK's own security
// properties, which ZooKeeper takes from -D only, are recorded under their names.
func TestSecurityKeysBecomeProperties(t *testing.T) {
	cfg := mustLoad(t, `dataDir=/var/lib/zk
clientPort=2181
secureClientPort=2281
secureClientPortAddress=127.0.0.1
authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider
authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider
ssl.keyStore.location=/etc/zk/server.p12
ssl.clientAuth=want
ssl.quorum.trustStore.location=/etc/zk/trust.jks
X509AuthenticationProvider.superUser=CN=admin
sessionRequireClientSASLAuth=true
enforce.auth.enabled=true
enforce.auth.schemes=sasl
kerberos.removeHostFromPrincipal=true
kerberos.removeRealmFromPrincipal=true
superUser=admin
superUser.2=ops
allowSaslFailedClients=false
client.certReload=true
java.security.auth.login.config=/etc/zk/jaas.conf
`)
	if len(cfg.Warnings) != 0 {
		t.Fatalf("warnings: %v", cfg.Warnings)
	}
	for k, want := range map[string]string{
		"zookeeper.authProvider.1":                       "org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
		"zookeeper.authProvider.x509":                    "org.apache.zookeeper.server.auth.X509AuthenticationProvider",
		"zookeeper.ssl.keyStore.location":                "/etc/zk/server.p12",
		"zookeeper.ssl.clientAuth":                       "want",
		"zookeeper.ssl.quorum.trustStore.location":       "/etc/zk/trust.jks",
		"zookeeper.X509AuthenticationProvider.superUser": "CN=admin",
		"zookeeper.sessionRequireClientSASLAuth":         "true",
		"zookeeper.enforce.auth.enabled":                 "true",
		"zookeeper.enforce.auth.schemes":                 "sasl",
		"zookeeper.kerberos.removeHostFromPrincipal":     "true",
		"zookeeper.superUser":                            "admin",
		"zookeeper.superUser.2":                          "ops",
		"zookeeper.client.certReload":                    "true",
		"java.security.auth.login.config":                "/etc/zk/jaas.conf",
	} {
		if got := cfg.SystemProperties[k]; got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if cfg.SecureClientPort != 2281 || cfg.SecureClientPortAddr != "127.0.0.1" {
		t.Errorf("secure port %d %q", cfg.SecureClientPort, cfg.SecureClientPortAddr)
	}
	// -D on top, as JVMFLAGS passes them.
	if err := cfg.ApplySystemProperties([]string{"-Djava.security.auth.login.config=/other/jaas.conf",
		"-Dzookeeper.ssl.keyStore.password=secret"}); err != nil {
		t.Fatal(err)
	}
	if got := cfg.SystemProperties["java.security.auth.login.config"]; got != "/other/jaas.conf" {
		t.Errorf("-D did not win: %q", got)
	}
	if got := cfg.SystemProperties["zookeeper.ssl.keyStore.password"]; got != "secret" {
		t.Errorf("password %q", got)
	}
}
