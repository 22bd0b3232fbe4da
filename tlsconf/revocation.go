package tlsconf

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"
)

// ErrRevoked is wrapped by the refusal of a certificate its issuer revoked;
// ErrRevocationUnknown by the refusal of one whose status could not be found.
var (
	ErrRevoked           = errors.New("tlsconf: certificate revoked")
	ErrRevocationUnknown = errors.New("tlsconf: certificate revocation status could not be determined")
)

// Revocation checking as ZooKeeper's X509Util turns it on with ssl.crl or
// ssl.ocsp: the JDK's PKIX revocation checker, with CRLs fetched from each
// certificate's CRL distribution points (com.sun.security.enableCRLDP) and, with
// ssl.ocsp, OCSP first at the certificate's responder (ocsp.enable), falling
// back to its CRLs. Every certificate of the chain but the trust anchor is
// checked, and the check fails hard: a certificate whose status cannot be
// determined (no distribution point, no responder answer, a CRL that cannot be
// fetched, does not verify or is out of date) is refused, as the JDK refuses it.
const (
	// revocationFetchTimeout bounds a CRL or OCSP fetch (the JDK's
	// com.sun.security.crl.timeout and com.sun.security.ocsp.timeout, 15 s).
	revocationFetchTimeout = 15 * time.Second
	// crlRecheck is how long a fetched CRL is used before it is fetched again
	// (the JDK's URICertStore checks its cached CRL every 30 s).
	crlRecheck = 30 * time.Second
	// maxCRLSize bounds a CRL read into memory.
	maxCRLSize = 64 << 20
	// ocspClockSkew is the JDK's ocsp.clockSkew allowance for response times.
	ocspClockSkew = 15 * time.Minute
)

// revocationChecker checks chains against CRLs and OCSP responders. Safe for
// concurrent use; one per Manager, so its CRL cache outlives reloads.
type revocationChecker struct {
	ocsp bool
	now  func() time.Time
	http *http.Client

	mu   sync.Mutex
	crls map[string]cachedCRL // by distribution point URL
}

type cachedCRL struct {
	der     []byte
	fetched time.Time
}

func newRevocationChecker(ocsp bool, now func() time.Time) *revocationChecker {
	// Fetched directly, as the JDK fetches them: its proxies come from its own
	// properties, never from HTTP_PROXY in the environment.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	return &revocationChecker{ocsp: ocsp, now: now, http: &http.Client{Timeout: revocationFetchTimeout, Transport: tr},
		crls: map[string]cachedCRL{}}
}

// checkChains accepts when one of the verified chains passes; otherwise it
// returns the first chain's reason.
func (r *revocationChecker) checkChains(chains [][]*x509.Certificate) error {
	var first error
	for _, chain := range chains {
		err := r.checkChain(chain)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = fmt.Errorf("%w: no verified chain", ErrRevocationUnknown)
	}
	return first
}

// checkChain checks each certificate of chain (leaf first, anchor last) but
// the anchor against its issuer, the next one.
func (r *revocationChecker) checkChain(chain []*x509.Certificate) error {
	for i := 0; i+1 < len(chain); i++ {
		if err := r.check(chain[i], chain[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func (r *revocationChecker) check(cert, issuer *x509.Certificate) error {
	var reasons []string
	if r.ocsp {
		revoked, err := r.checkOCSP(cert, issuer)
		switch {
		case revoked:
			return fmt.Errorf("%w: %s (serial %s), by its OCSP responder", ErrRevoked, cert.Subject, cert.SerialNumber)
		case err == nil:
			return nil
		}
		reasons = append(reasons, err.Error())
	}
	revoked, err := r.checkCRLs(cert, issuer)
	switch {
	case revoked:
		return fmt.Errorf("%w: %s (serial %s), listed in its issuer's CRL", ErrRevoked, cert.Subject, cert.SerialNumber)
	case err == nil:
		return nil
	}
	reasons = append(reasons, err.Error())
	return fmt.Errorf("%w for %s: %s", ErrRevocationUnknown, cert.Subject, strings.Join(reasons, "; "))
}

// checkOCSP asks the certificate's OCSP responders in turn; it returns an error
// when none gave a good or revoked answer.
func (r *revocationChecker) checkOCSP(cert, issuer *x509.Certificate) (revoked bool, err error) {
	if len(cert.OCSPServer) == 0 {
		return false, errors.New("no OCSP responder in the certificate")
	}
	req, err := ocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		return false, fmt.Errorf("OCSP request: %v", err)
	}
	var errs []string
	for _, u := range cert.OCSPServer {
		resp, err := r.askOCSP(u, req, cert, issuer)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		switch resp.Status {
		case ocsp.Good:
			return false, nil
		case ocsp.Revoked:
			return true, nil
		}
		errs = append(errs, fmt.Sprintf("OCSP responder %s: status unknown", u))
	}
	return false, errors.New(strings.Join(errs, "; "))
}

func (r *revocationChecker) askOCSP(u string, req []byte, cert, issuer *x509.Certificate) (*ocsp.Response, error) {
	hr, err := r.http.Post(u, "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		return nil, fmt.Errorf("OCSP responder %s: %v", u, err)
	}
	defer hr.Body.Close()
	if hr.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("OCSP responder %s: HTTP %s", u, hr.Status)
	}
	body, err := io.ReadAll(io.LimitReader(hr.Body, maxCRLSize))
	if err != nil {
		return nil, fmt.Errorf("OCSP responder %s: %v", u, err)
	}
	resp, err := ocsp.ParseResponseForCert(body, cert, issuer)
	if err != nil {
		return nil, fmt.Errorf("OCSP responder %s: %v", u, err)
	}
	now := r.now()
	if resp.ThisUpdate.After(now.Add(ocspClockSkew)) || (!resp.NextUpdate.IsZero() && resp.NextUpdate.Before(now.Add(-ocspClockSkew))) {
		return nil, fmt.Errorf("OCSP responder %s: response out of date (this update %s, next %s)", u,
			resp.ThisUpdate.Format(time.RFC3339), resp.NextUpdate.Format(time.RFC3339))
	}
	return resp, nil
}

// checkCRLs looks the certificate up in the CRL of each of its distribution
// points until one answers; it returns an error when none could be used.
func (r *revocationChecker) checkCRLs(cert, issuer *x509.Certificate) (revoked bool, err error) {
	if len(cert.CRLDistributionPoints) == 0 {
		return false, errors.New("no CRL distribution point in the certificate")
	}
	var errs []string
	for _, u := range cert.CRLDistributionPoints {
		crl, err := r.crl(u, issuer)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
				return true, nil
			}
		}
		return false, nil
	}
	return false, errors.New(strings.Join(errs, "; "))
}

// crl returns the CRL at u, fetched again once crlRecheck has passed, checked
// against issuer and the clock.
func (r *revocationChecker) crl(u string, issuer *x509.Certificate) (*x509.RevocationList, error) {
	now := r.now()
	r.mu.Lock()
	c, ok := r.crls[u]
	r.mu.Unlock()
	if !ok || now.Sub(c.fetched) >= crlRecheck || now.Before(c.fetched) {
		der, err := r.fetchCRL(u)
		if err != nil {
			return nil, err
		}
		c = cachedCRL{der: der, fetched: now}
		r.mu.Lock()
		r.crls[u] = c
		r.mu.Unlock()
	}
	crl, err := x509.ParseRevocationList(c.der)
	if err != nil {
		return nil, fmt.Errorf("CRL %s: %v", u, err)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("CRL %s is not signed by %s: %v", u, issuer.Subject, err)
	}
	if crl.ThisUpdate.After(now) || (!crl.NextUpdate.IsZero() && crl.NextUpdate.Before(now)) {
		return nil, fmt.Errorf("CRL %s is out of date (this update %s, next %s)", u,
			crl.ThisUpdate.Format(time.RFC3339), crl.NextUpdate.Format(time.RFC3339))
	}
	return crl, nil
}

// fetchCRL reads a CRL from an http(s) or file URL, in DER or PEM.
func (r *revocationChecker) fetchCRL(u string) ([]byte, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("CRL distribution point %q: %v", u, err)
	}
	var body []byte
	switch pu.Scheme {
	case "http", "https":
		resp, err := r.http.Get(u)
		if err != nil {
			return nil, fmt.Errorf("CRL %s: %v", u, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("CRL %s: HTTP %s", u, resp.Status)
		}
		if body, err = io.ReadAll(io.LimitReader(resp.Body, maxCRLSize)); err != nil {
			return nil, fmt.Errorf("CRL %s: %v", u, err)
		}
	case "file":
		f, err := os.Open(pu.Path)
		if err != nil {
			return nil, fmt.Errorf("CRL %s: %v", u, err)
		}
		defer f.Close()
		if body, err = io.ReadAll(io.LimitReader(f, maxCRLSize)); err != nil {
			return nil, fmt.Errorf("CRL %s: %v", u, err)
		}
	default:
		return nil, fmt.Errorf("CRL distribution point %s: only http, https and file are fetched", u)
	}
	if der, ok := pemCRL(body); ok {
		return der, nil
	}
	return body, nil
}

// pemCRL returns the DER of a PEM-armoured CRL ("X509 CRL"), as the JDK's
// CertificateFactory also reads one.
func pemCRL(b []byte) ([]byte, bool) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "X509 CRL" {
		return nil, false
	}
	return blk.Bytes, true
}
