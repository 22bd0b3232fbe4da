package tlsconf

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"testing"
)

func TestVerifyHostRules(t *testing.T) {
	cert := func(cn string, dns []string, ips ...string) *x509.Certificate {
		c := &x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}
		c.Subject.Names = []pkix.AttributeTypeAndValue{{Type: oidCommonName, Value: cn}}
		if cn == "" {
			c.Subject.Names = nil
		}
		for _, ip := range ips {
			c.IPAddresses = append(c.IPAddresses, net.ParseIP(ip))
		}
		return c
	}
	f := func(host string, c *x509.Certificate, ok bool) {
		t.Helper()
		err := VerifyHost(host, c)
		if ok != (err == nil) {
			t.Errorf("VerifyHost(%q, cn=%q dns=%v ip=%v) = %v, want ok=%v", host, c.Subject.CommonName, c.DNSNames, c.IPAddresses, err, ok)
		}
		if err != nil && !errors.Is(err, ErrHostname) {
			t.Errorf("error %v is not ErrHostname", err)
		}
	}
	f("10.0.0.1", cert("x", nil, "10.0.0.1"), true)
	f("10.0.0.2", cert("x", nil, "10.0.0.1"), false)
	f("10.0.0.1", cert("10.0.0.1", []string{"a.example"}), false) // SANs present: no CN fallback
	f("::1", cert("x", nil, "::1"), true)
	f("[0:0:0:0:0:0:0:1]", cert("x", nil, "::1"), true)
	f("fe80::1", cert("x", nil, "::1"), false)
	f("ZK1.Example", cert("x", []string{"zk1.example"}), true)
	f("zk1.example", cert("x", []string{"*.example"}), true)
	f("a.b.example", cert("x", []string{"*.example"}), false) // '*' stays within a label
	f("zk1.example", cert("x", []string{"zk*.example"}), true)
	f("web.example", cert("x", []string{"zk*.example"}), false)
	f("zk1.example", cert("x", []string{"z*1.example"}), true)
	f("zk1.example", cert("zk1.example", nil), true) // CN fallback
	f("zk1.example", cert("*.EXAMPLE", nil), true)
	f("10.0.0.1", cert("10.0.0.1", nil), true)
	f("zk1.example", cert("", nil), false) // neither SAN nor CN
	f("a", cert("x", []string{"a*a"}), false)
}

func TestVerifyPeerHostOrder(t *testing.T) {
	c := &x509.Certificate{DNSNames: []string{"zk2.example"}}
	lookups := 0
	resolve := func(_ context.Context, addr string) ([]string, error) {
		lookups++
		return []string{"zk2.example."}, nil
	}
	ip := net.IPv4(127, 0, 0, 2)
	if err := verifyPeerHost(context.Background(), ip, "zk2.example", false, resolve, c); err != nil || lookups != 0 {
		t.Fatalf("dialled name: %v (lookups %d)", err, lookups)
	}
	if err := verifyPeerHost(context.Background(), ip, "", true, resolve, c); err != nil || lookups != 1 {
		t.Fatalf("reverse lookup: %v (lookups %d)", err, lookups)
	}
	if err := verifyPeerHost(context.Background(), ip, "", false, resolve, c); err == nil || lookups != 1 {
		t.Fatalf("reverse lookup off: %v (lookups %d)", err, lookups)
	}
	// A "name" that is an address is not a name.
	if err := verifyPeerHost(context.Background(), ip, "127.0.0.2", false, resolve, c); err == nil {
		t.Fatal("address given as the dialled name matched a DNS SAN")
	}
}
