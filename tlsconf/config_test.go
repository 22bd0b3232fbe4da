package tlsconf

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestStoreTypeInferredFromExtensionLikeZooKeeper(t *testing.T) {
	f := func(location string, declared StoreType, want StoreType, wantErr bool) {
		t.Helper()
		got, err := storeType(Store{Location: location, Type: declared})
		if (err != nil) != wantErr || got != want {
			t.Errorf("storeType(%q, %q) = %q, %v; want %q, err=%v", location, declared, got, err, want, wantErr)
		}
		if err != nil && !errors.Is(err, ErrStoreType) {
			t.Errorf("storeType(%q): error %v is not ErrStoreType", location, err)
		}
	}
	f("/etc/zk/server.jks", "", TypeJKS, false)
	f("/etc/zk/server.p12", "", TypePKCS12, false)
	f("/etc/zk/server.pem", "", TypePEM, false)
	f("/etc/zk/server.bcfks", "", TypeBCFKS, false)
	f("/etc/zk/server.tar.p12", "", TypePKCS12, false)
	// ZooKeeper compares the extension case-sensitively and knows no .pfx.
	f("/etc/zk/server.P12", "", "", true)
	f("/etc/zk/server.pfx", "", "", true)
	f("/etc/zk/server", "", "", true)
	f("/etc/zk/server.pfx", TypePKCS12, TypePKCS12, false)
	f("/etc/zk/server.jks", TypePEM, TypePEM, false) // declared type wins
}

func TestParseStoreTypeIsCaseInsensitive(t *testing.T) {
	for in, want := range map[string]StoreType{"jks": TypeJKS, "Pkcs12": TypePKCS12, "PEM": TypePEM, "bcfks": TypeBCFKS} {
		if got, err := ParseStoreType(in); err != nil || got != want {
			t.Errorf("ParseStoreType(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseStoreType("PKCS11"); !errors.Is(err, ErrBadValue) {
		t.Errorf("ParseStoreType(PKCS11) = %v, want ErrBadValue", err)
	}
}

func TestFromPropertiesDefaults(t *testing.T) {
	for _, f := range []Family{Client, Quorum} {
		c, err := FromProperties(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		want := Config{
			Family: f, Protocol: "TLSv1.3", ClientAuth: Need, HostnameVerification: true,
			AllowReverseDNSLookup: f == Quorum, HandshakeDetectionTimeout: 5 * time.Second, AuthProvider: "x509",
		}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("%v defaults:\n got %+v\nwant %+v", f, c, want)
		}
	}
}

func TestFromPropertiesReadsItsFamilyOnly(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	props := map[string]string{
		"zookeeper.ssl.keyStore.location":                      "/k.jks",
		"zookeeper.ssl.keyStore.password":                      "kpw",
		"zookeeper.ssl.trustStore.location":                    "/t.p12",
		"zookeeper.ssl.trustStore.password":                    "ignored",
		"zookeeper.ssl.trustStore.passwordPath":                pwFile,
		"zookeeper.ssl.trustStore.type":                        "pkcs12",
		"zookeeper.ssl.protocol":                               "TLSv1.2",
		"zookeeper.ssl.enabledProtocols":                       "TLSv1.2,TLSv1.3",
		"zookeeper.ssl.ciphersuites":                           "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
		"zookeeper.ssl.clientAuth":                             "want",
		"zookeeper.ssl.hostnameVerification":                   "yes", // not "true": false, as Java's parseBoolean
		"zookeeper.ssl.allowReverseDnsLookup":                  " TRUE ",
		"zookeeper.ssl.handshakeDetectionTimeoutMillis":        "0",
		"zookeeper.ssl.authProvider":                           "x509",
		"zookeeper.ssl.quorum.keyStore.location":               "/q.pem",
		"zookeeper.ssl.quorum.clientAuth":                      "NONE",
		"zookeeper.ssl.quorum.handshakeDetectionTimeoutMillis": "250",
	}
	c, err := FromProperties(props, Client)
	if err != nil {
		t.Fatal(err)
	}
	if c.KeyStore != (Store{Location: "/k.jks", Password: "kpw"}) {
		t.Errorf("key store %+v", c.KeyStore)
	}
	if c.TrustStore != (Store{Location: "/t.p12", Password: "from-file", PasswordPath: pwFile, Type: TypePKCS12}) {
		t.Errorf("trust store %+v", c.TrustStore)
	}
	if c.Protocol != "TLSv1.2" || !reflect.DeepEqual(c.EnabledProtocols, []string{"TLSv1.2", "TLSv1.3"}) {
		t.Errorf("protocols %q %q", c.Protocol, c.EnabledProtocols)
	}
	if c.ClientAuth != Want || c.HostnameVerification || !c.AllowReverseDNSLookup {
		t.Errorf("clientAuth %v hostnameVerification %v reverse %v", c.ClientAuth, c.HostnameVerification, c.AllowReverseDNSLookup)
	}
	if c.HandshakeDetectionTimeout != DefaultHandshakeDetectionTimeout {
		t.Errorf("a 0 ms detection timeout must reset to the default, got %v", c.HandshakeDetectionTimeout)
	}
	q, err := FromProperties(props, Quorum)
	if err != nil {
		t.Fatal(err)
	}
	if q.KeyStore.Location != "/q.pem" || q.TrustStore.Location != "" || q.ClientAuth != None ||
		q.HandshakeDetectionTimeout != 250*time.Millisecond || q.Protocol != "TLSv1.3" {
		t.Errorf("quorum family picked up the wrong keys: %+v", q)
	}
}

func TestFromPropertiesRefusesBadValues(t *testing.T) {
	for _, kv := range [][2]string{
		{"zookeeper.ssl.clientAuth", "required"},
		{"zookeeper.ssl.clientAuth", " need"}, // ClientAuth.valueOf does not trim
		{"zookeeper.ssl.keyStore.type", "PKCS11"},
		{"zookeeper.ssl.handshakeDetectionTimeoutMillis", "5s"},
	} {
		if _, err := FromProperties(map[string]string{kv[0]: kv[1]}, Client); !errors.Is(err, ErrBadValue) {
			t.Errorf("%s=%q: err %v, want ErrBadValue", kv[0], kv[1], err)
		}
	}
	if _, err := FromProperties(map[string]string{"zookeeper.ssl.keyStore.passwordPath": "/nonexistent/pw"}, Client); err == nil {
		t.Error("a missing passwordPath file must be an error")
	}
}

func TestValidateMapsProtocolsAndSuites(t *testing.T) {
	cases := []struct {
		name     string
		edit     func(*Config)
		min, max uint16
		suites   []uint16
		err      error
	}{
		{"default enables 1.2 and 1.3", func(*Config) {}, tls.VersionTLS12, tls.VersionTLS13, nil, nil},
		{"protocol TLS", func(c *Config) { c.Protocol = "TLS" }, tls.VersionTLS12, tls.VersionTLS13, nil, nil},
		{"protocol TLSv1.2 alone", func(c *Config) { c.Protocol = "TLSv1.2" }, tls.VersionTLS12, tls.VersionTLS12, nil, nil},
		{"enabled list wins over protocol", func(c *Config) { c.Protocol = "TLSv1.2"; c.EnabledProtocols = []string{"TLSv1.3"} }, tls.VersionTLS13, tls.VersionTLS13, nil, nil},
		{"SSLv2Hello ignored", func(c *Config) { c.EnabledProtocols = []string{"SSLv2Hello", " TLSv1.2"} }, tls.VersionTLS12, tls.VersionTLS12, nil, nil},
		{"gap in versions", func(c *Config) { c.EnabledProtocols = []string{"TLSv1.1", "TLSv1.3"} }, 0, 0, nil, ErrUnsupported},
		{"SSLv3", func(c *Config) { c.EnabledProtocols = []string{"SSLv3"} }, 0, 0, nil, ErrUnsupported},
		{"unknown protocol", func(c *Config) { c.Protocol = "DTLS" }, 0, 0, nil, ErrUnsupported},
		{"java names map to Go ids", func(c *Config) {
			c.CipherSuites = []string{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "SSL_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"}
		}, tls.VersionTLS12, tls.VersionTLS13,
			[]uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}, nil},
		{"suite Go lacks", func(c *Config) { c.CipherSuites = []string{"TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"} }, 0, 0, nil, ErrUnsupported},
		{"only 1.3 suites with 1.2 enabled", func(c *Config) { c.CipherSuites = []string{"TLS_AES_256_GCM_SHA384"} }, 0, 0, nil, ErrUnsupported},
		{"only 1.3 suites with 1.3 only", func(c *Config) {
			c.EnabledProtocols = []string{"TLSv1.3"}
			c.CipherSuites = []string{"TLS_AES_256_GCM_SHA384"}
		}, tls.VersionTLS13, tls.VersionTLS13, nil, nil},
		{"crl accepted", func(c *Config) { c.CRL = true }, tls.VersionTLS12, tls.VersionTLS13, nil, nil},
		{"ocsp accepted", func(c *Config) { c.OCSP = true }, tls.VersionTLS12, tls.VersionTLS13, nil, nil},
		{"supplier class", func(c *Config) { c.ContextSupplierClass = "com.example.Ctx" }, 0, 0, nil, ErrUnsupported},
		{"other auth provider", func(c *Config) { c.AuthProvider = "x509custom" }, 0, 0, nil, ErrUnsupported},
		{"uninferable store", func(c *Config) { c.KeyStore.Location = "/k.pfx" }, 0, 0, nil, ErrStoreType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig(Client)
			tc.edit(&c)
			p, err := c.tlsParams()
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.minVersion != tc.min || p.maxVersion != tc.max || !reflect.DeepEqual(p.cipherSuites, tc.suites) {
				t.Errorf("got %x-%x %x, want %x-%x %x", p.minVersion, p.maxVersion, p.cipherSuites, tc.min, tc.max, tc.suites)
			}
		})
	}
}
