package tlsconf

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoCertificate is returned to a TLS handshake on a server whose key store is
// not configured.
var ErrNoCertificate = errors.New("tlsconf: no key store configured")

// Env is what a Manager takes from its surroundings; tests replace each part.
type Env struct {
	// Now is the clock certificates are checked against; nil means time.Now.
	Now func() time.Time
	// Resolve does reverse lookups for host-name verification; nil means
	// net.DefaultResolver.LookupAddr.
	Resolve Resolver
	// Log receives reload events; nil means slog.Default().
	Log *slog.Logger
}

// material is one loaded version of the stores. Immutable once published.
type material struct {
	certs []tls.Certificate   // key store entries; empty: no key store
	roots *x509.CertPool      // trust anchors; nil: system roots (Java: cacerts)
	trust []*x509.Certificate // the same anchors, for inspection
}

// fingerprint identifies one version of a store file, as the poller sees it.
type fingerprint struct {
	size    int64
	modTime time.Time
	sum     [sha256.Size]byte
	missing bool
}

// Manager owns one family's key and trust material and hands out tls.Configs that
// use the current version. Reloading (Check, Watch) swaps the version atomically:
// a handshake uses the version current when it starts, and connections already
// established are never touched. All methods are safe for concurrent use.
type Manager struct {
	cfg     Config    // immutable
	params  tlsParams // immutable
	now     func() time.Time
	resolve Resolver
	log     *slog.Logger
	// revocation checks peers' chains with ssl.crl or ssl.ocsp; nil otherwise.
	revocation *revocationChecker

	cur     atomic.Pointer[material] // never nil after NewManager
	reloads atomic.Uint64

	// mu serialises Check; prints are the fingerprints of the files cur was loaded
	// from (guarded by mu).
	mu struct {
		sync.Mutex
		prints [2]fingerprint // key store, trust store
	}
}

// NewManager validates cfg and loads its stores.
func NewManager(cfg Config, env Env) (*Manager, error) {
	params, err := cfg.tlsParams()
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, params: params, now: env.Now, resolve: env.Resolve, log: env.Log}
	if m.now == nil {
		m.now = time.Now
	}
	if m.resolve == nil {
		m.resolve = net.DefaultResolver.LookupAddr
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if cfg.CRL || cfg.OCSP {
		m.revocation = newRevocationChecker(cfg.OCSP, m.now)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Fingerprint before loading: a file replaced in between is then seen as
	// changed by the next Check, never missed.
	m.mu.prints = m.fingerprints()
	mat, err := m.load()
	if err != nil {
		return nil, err
	}
	m.cur.Store(mat)
	return m, nil
}

// Config returns the configuration the manager was built from.
func (m *Manager) Config() Config { return m.cfg }

// Reloads counts successful reloads since NewManager.
func (m *Manager) Reloads() uint64 { return m.reloads.Load() }

// Certificates returns the key store entries of the current version. The slice is
// shared and must not be modified.
func (m *Manager) Certificates() []tls.Certificate { return m.cur.Load().certs }

func (m *Manager) load() (*material, error) {
	mat := &material{}
	if m.cfg.KeyStore.Location != "" {
		certs, err := loadKeyStore(m.cfg.KeyStore)
		if err != nil {
			return nil, err
		}
		mat.certs = certs
	}
	if m.cfg.TrustStore.Location != "" {
		trust, err := loadTrustStore(m.cfg.TrustStore)
		if err != nil {
			return nil, err
		}
		mat.trust = trust
		mat.roots = x509.NewCertPool()
		for _, c := range trust {
			mat.roots.AddCert(c)
		}
	}
	return mat, nil
}

func (m *Manager) fingerprints() [2]fingerprint {
	return [2]fingerprint{fingerprintOf(m.cfg.KeyStore.Location), fingerprintOf(m.cfg.TrustStore.Location)}
}

func fingerprintOf(path string) fingerprint {
	if path == "" {
		return fingerprint{}
	}
	f, err := os.Open(path)
	if err != nil {
		return fingerprint{missing: true}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fingerprint{missing: true}
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxStoreSize+1)); err != nil {
		return fingerprint{missing: true}
	}
	fp := fingerprint{size: fi.Size(), modTime: fi.ModTime()}
	h.Sum(fp.sum[:0])
	return fp
}

// Check is one poll of ZooKeeper's FileChangeWatcher: when the key or trust store
// file changed (size, modification time or content) since the current version was
// loaded, both are read again and, if that works, become current. A failed reload
// keeps the previous version and is retried only after the files change again,
// so a half-written file is picked up once its writer finishes. A deleted file is
// ignored, as ZooKeeper ignores delete events.
func (m *Manager) Check() (reloaded bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prints := m.fingerprints()
	changed := false
	for i := range prints {
		if !prints[i].missing && prints[i] != m.mu.prints[i] {
			changed = true
		}
	}
	if !changed {
		return false, nil
	}
	m.mu.prints = prints
	mat, err := m.load()
	if err != nil {
		m.log.Warn("tls: reload failed; keeping the previous certificates", "family", m.cfg.Family.String(), "err", err)
		return false, err
	}
	m.cur.Store(mat)
	m.reloads.Add(1)
	m.log.Info("tls: reloaded key and trust stores", "family", m.cfg.Family.String())
	return true, nil
}

// Watch calls Check every interval until ctx is done.
func (m *Manager) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = m.Check() // Check logs its own failures
		}
	}
}

// ServerConfig returns a tls.Config for a listener. Each handshake takes the
// version current at that moment (through GetConfigForClient), so a reload needs no
// new listener.
func (m *Manager) ServerConfig() *tls.Config { return m.listenerConfig(true) }

// ServerConfigNoClientCert is ServerConfig for a listener that asks no client
// for a certificate, whatever clientAuth says: the AdminServer's HTTPS, which in
// ZooKeeper 3.8 takes the quorum key store and asks for none.
func (m *Manager) ServerConfigNoClientCert() *tls.Config { return m.listenerConfig(false) }

func (m *Manager) listenerConfig(clientAuth bool) *tls.Config {
	return &tls.Config{
		GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
			var remote net.Addr
			if hi.Conn != nil {
				remote = hi.Conn.RemoteAddr()
			}
			c, err := m.serverConfig(m.cur.Load(), remote)
			if c != nil && !clientAuth {
				c.ClientAuth, c.VerifyConnection = tls.NoClientCert, nil
			}
			return c, err
		},
	}
}

func (m *Manager) serverConfig(mat *material, remote net.Addr) (*tls.Config, error) {
	if len(mat.certs) == 0 {
		return nil, ErrNoCertificate
	}
	c := &tls.Config{
		Certificates: mat.certs,
		MinVersion:   m.params.minVersion,
		MaxVersion:   m.params.maxVersion,
		CipherSuites: m.params.cipherSuites,
		Time:         m.now,
		ClientCAs:    mat.roots,
	}
	switch m.cfg.ClientAuth {
	case Need:
		c.ClientAuth = tls.RequireAndVerifyClientCert
	case Want:
		c.ClientAuth = tls.VerifyClientCertIfGiven
	default:
		c.ClientAuth = tls.NoClientCert
	}
	// QuorumX509Util verifies client host names; ClientX509Util never does.
	checkHost := m.cfg.Family == Quorum && m.cfg.HostnameVerification && m.cfg.ClientAuth != None
	if checkHost || m.revocation != nil {
		ip := addrIP(remote)
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			if m.revocation != nil {
				if err := m.revocation.checkChains(cs.VerifiedChains); err != nil {
					return err
				}
			}
			if !checkHost {
				return nil
			}
			if ip == nil {
				return fmt.Errorf("%w: peer address unknown", ErrHostname)
			}
			return verifyPeerHost(context.Background(), ip, "", m.cfg.AllowReverseDNSLookup, m.resolve, cs.PeerCertificates[0])
		}
	}
	return c, nil
}

func addrIP(a net.Addr) net.IP {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP
	case nil:
		return nil
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return nil
	}
	return net.ParseIP(host)
}

// ClientConfig returns a tls.Config for dialling host (a name or an address) on a
// connection whose far end is remote. The server's chain is checked against the
// trust store; with host-name verification on, its certificate must match the
// remote address or else host, in ZooKeeper's way (see VerifyHost).
func (m *Manager) ClientConfig(host string, remote net.Addr) *tls.Config {
	mat := m.cur.Load()
	c := &tls.Config{
		Certificates: mat.certs,
		MinVersion:   m.params.minVersion,
		MaxVersion:   m.params.maxVersion,
		CipherSuites: m.params.cipherSuites,
		Time:         m.now,
		// Go's verifier checks host names without ZooKeeper's common-name fallback
		// and address-first order, so the whole check is done in VerifyConnection.
		InsecureSkipVerify: true,
	}
	if net.ParseIP(host) == nil {
		c.ServerName = host
	}
	ip := addrIP(remote)
	if ip == nil {
		ip = net.ParseIP(strings.Trim(host, "[]"))
	}
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tlsconf: server sent no certificate")
		}
		opts := x509.VerifyOptions{
			Roots:         mat.roots,
			CurrentTime:   m.now(),
			Intermediates: x509.NewCertPool(),
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		for _, ic := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(ic)
		}
		chains, err := cs.PeerCertificates[0].Verify(opts)
		if err != nil {
			return err
		}
		if m.revocation != nil {
			if err := m.revocation.checkChains(chains); err != nil {
				return err
			}
		}
		if !m.cfg.HostnameVerification {
			return nil
		}
		if ip == nil {
			return VerifyHost(host, cs.PeerCertificates[0])
		}
		return verifyPeerHost(context.Background(), ip, host, m.cfg.AllowReverseDNSLookup, m.resolve, cs.PeerCertificates[0])
	}
	return c
}

// Client wraps conn, dialled to host, in a TLS client using ClientConfig.
func (m *Manager) Client(conn net.Conn, host string) *tls.Conn {
	return tls.Client(conn, m.ClientConfig(host, conn.RemoteAddr()))
}
