package admin_test

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"zkd/admin"
	"zkd/internal/testutil"
)

// The commands over HTTPS only (admin.forceHttps), and over HTTPS and HTTP on
// one port (admin.portUnification): the same answer either way, and a plain
// request to an HTTPS-only port gets none.
func TestCommandsOverHTTPS(t *testing.T) {
	p := testutil.NewPKI(t, t.TempDir())
	cert := p.Issue(t, "admin", pkix.Name{CommonName: "zkd admin"}, testutil.CertOptions{})
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	httpsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: p.ClientConfig(nil)}}
	srv := newSession(t)
	plainURL := startAdmin(t, srv, nil)
	_, want := get(t, plainURL+"/commands/ruok")

	fetch := func(c *http.Client, url string) (string, error) {
		resp, err := c.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for _, unified := range []bool{false, true} {
		base := startAdmin(t, srv, func(c *admin.Config) { c.TLS, c.Unified = serverTLS, unified })
		httpsURL := "https" + strings.TrimPrefix(base, "http")
		if got, err := fetch(httpsClient, httpsURL+"/commands/ruok"); err != nil || got != want {
			t.Fatalf("unified %v: ruok over HTTPS: %q, %v; want %q", unified, got, err, want)
		}
		got, err := fetch(&http.Client{Timeout: 10 * time.Second}, base+"/commands/ruok")
		switch {
		case unified && (err != nil || got != want):
			t.Fatalf("unified: ruok over HTTP: %q, %v; want %q", got, err, want)
		case !unified && err == nil && got == want:
			t.Fatal("an HTTPS-only port answered a plain request")
		}
	}
	// A connection that closes before its first byte costs the unified port
	// nothing.
	base := startAdmin(t, srv, func(c *admin.Config) { c.TLS, c.Unified = serverTLS, true })
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if got, err := fetch(httpsClient, "https"+strings.TrimPrefix(base, "http")+"/commands/ruok"); err != nil || got != want {
		t.Fatalf("ruok over HTTPS after an empty connection: %q, %v", got, err)
	}
}
