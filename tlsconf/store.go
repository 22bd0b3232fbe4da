package tlsconf

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	keystore "github.com/pavlo-v-chernykh/keystore-go/v4"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

var (
	// ErrUnsupportedStore is returned when a store is of a type or flavour zkd cannot
	// read (BCFKS, JCEKS, a PKCS #12 trust store that also holds keys).
	ErrUnsupportedStore = errors.New("tlsconf: unsupported store")
	// ErrStoreType is returned when a store's type is not given and cannot be inferred
	// from its file name (ZooKeeper: "Unable to auto-detect store file type").
	ErrStoreType = errors.New("tlsconf: unable to auto-detect store file type from file name")
	// ErrNoKey is returned when a key store holds no usable private key entry.
	ErrNoKey = errors.New("tlsconf: key store holds no private key entry")
	// ErrNoTrust is returned when a trust store holds no trusted certificate (Java:
	// "the trustAnchors parameter must be non-empty").
	ErrNoTrust = errors.New("tlsconf: trust store holds no trusted certificate")
)

// maxStoreSize bounds a store file read into memory; real stores are kilobytes.
const maxStoreSize = 16 << 20

// Magic numbers at the head of Java's own store formats.
const (
	jksMagic   = 0xFEEDFEED
	jceksMagic = 0xCECECECE
)

// storeType returns s's declared type, or infers it from the extension exactly as
// ZooKeeper's KeyStoreFileType.fromFilename does (the text after the last dot, with
// the dot, compared case-sensitively).
func storeType(s Store) (StoreType, error) {
	if s.Type != "" {
		return s.Type, nil
	}
	if i := strings.LastIndexByte(s.Location, '.'); i >= 0 {
		switch s.Location[i:] {
		case ".jks":
			return TypeJKS, nil
		case ".pem":
			return TypePEM, nil
		case ".p12":
			return TypePKCS12, nil
		case ".bcfks":
			return TypeBCFKS, nil
		}
	}
	return "", fmt.Errorf("%w: %s", ErrStoreType, s.Location)
}

func readStoreFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStoreSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxStoreSize {
		return nil, fmt.Errorf("tlsconf: %s is larger than %d bytes", path, maxStoreSize)
	}
	return b, nil
}

// sniff resolves JKS and PKCS12 by content. A JDK 9+ "JKS" KeyStore reads PKCS #12
// files and a "PKCS12" KeyStore reads JKS files (keystore.type.compat, on by
// default), and keytool has written PKCS #12 by default since JDK 9 even to a file
// named .jks, so the declared type only separates these two from PEM.
func sniff(declared StoreType, b []byte) (StoreType, error) {
	if declared != TypeJKS && declared != TypePKCS12 {
		return declared, nil
	}
	if len(b) >= 4 {
		switch binary.BigEndian.Uint32(b) {
		case jksMagic:
			return TypeJKS, nil
		case jceksMagic:
			return "", fmt.Errorf("%w: JCEKS key store", ErrUnsupportedStore)
		}
	}
	return TypePKCS12, nil
}

// loadKeyStore reads the private key entries of s, each as a certificate chain with
// its key, in alias order for JKS.
func loadKeyStore(s Store) ([]tls.Certificate, error) {
	declared, err := storeType(s)
	if err != nil {
		return nil, err
	}
	b, err := readStoreFile(s.Location)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: key store: %w", err)
	}
	t, err := sniff(declared, b)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, s.Location)
	}
	var certs []tls.Certificate
	switch t {
	case TypeJKS:
		certs, err = jksKeys(b, s.Password)
	case TypePKCS12:
		certs, err = pkcs12Keys(b, s.Password)
	case TypePEM:
		certs, err = pemKeys(b, s.Password)
	default:
		err = fmt.Errorf("%w: %s store", ErrUnsupportedStore, t)
	}
	if err != nil {
		return nil, fmt.Errorf("tlsconf: key store %s (%s): %w", s.Location, t, err)
	}
	return certs, nil
}

// loadTrustStore reads the trusted certificates of s: the trusted-certificate
// entries of a JKS or PKCS #12 store (as Java's PKIXParameters(KeyStore) does; key
// entries are not trust anchors), or every certificate of a PEM file.
func loadTrustStore(s Store) ([]*x509.Certificate, error) {
	declared, err := storeType(s)
	if err != nil {
		return nil, err
	}
	b, err := readStoreFile(s.Location)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: trust store: %w", err)
	}
	t, err := sniff(declared, b)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, s.Location)
	}
	var certs []*x509.Certificate
	switch t {
	case TypeJKS:
		certs, err = jksTrusted(b, s.Password)
	case TypePKCS12:
		certs, err = pkcs12.DecodeTrustStore(b, s.Password)
		if err != nil {
			var ni pkcs12.NotImplementedError
			if errors.As(err, &ni) || strings.Contains(err.Error(), "expected only certificate bags") {
				err = fmt.Errorf("%w: a PKCS #12 trust store must hold only trusted certificates: %v", ErrUnsupportedStore, err)
			}
		}
	case TypePEM:
		certs, err = pemCertificates(b)
	default:
		err = fmt.Errorf("%w: %s store", ErrUnsupportedStore, t)
	}
	if err == nil && len(certs) == 0 {
		err = ErrNoTrust
	}
	if err != nil {
		return nil, fmt.Errorf("tlsconf: trust store %s (%s): %w", s.Location, t, err)
	}
	return certs, nil
}

func jksLoad(b []byte, password string) (keystore.KeyStore, error) {
	ks := keystore.New(keystore.WithOrderedAliases())
	if err := ks.Load(bytes.NewReader(b), []byte(password)); err != nil {
		// Java: "Keystore was tampered with, or password was incorrect".
		return ks, fmt.Errorf("read JKS (wrong password or damaged file): %w", err)
	}
	return ks, nil
}

func jksKeys(b []byte, password string) ([]tls.Certificate, error) {
	ks, err := jksLoad(b, password)
	if err != nil {
		return nil, err
	}
	var out []tls.Certificate
	aliases := ks.Aliases()
	sort.Strings(aliases)
	for _, alias := range aliases {
		if !ks.IsPrivateKeyEntry(alias) {
			continue
		}
		e, err := ks.GetPrivateKeyEntry(alias, []byte(password))
		if err != nil {
			return nil, fmt.Errorf("key entry %q: %w", alias, err)
		}
		key, err := x509.ParsePKCS8PrivateKey(e.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("key entry %q: %w", alias, err)
		}
		var chain []*x509.Certificate
		for _, c := range e.CertificateChain {
			cert, err := x509.ParseCertificate(c.Content)
			if err != nil {
				return nil, fmt.Errorf("key entry %q: %w", alias, err)
			}
			chain = append(chain, cert)
		}
		c, err := newCertificate(key, chain)
		if err != nil {
			return nil, fmt.Errorf("key entry %q: %w", alias, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, ErrNoKey
	}
	return out, nil
}

func jksTrusted(b []byte, password string) ([]*x509.Certificate, error) {
	ks, err := jksLoad(b, password)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	aliases := ks.Aliases()
	sort.Strings(aliases)
	for _, alias := range aliases {
		if !ks.IsTrustedCertificateEntry(alias) {
			continue
		}
		e, err := ks.GetTrustedCertificateEntry(alias)
		if err != nil {
			return nil, fmt.Errorf("trusted entry %q: %w", alias, err)
		}
		cert, err := x509.ParseCertificate(e.Certificate.Content)
		if err != nil {
			return nil, fmt.Errorf("trusted entry %q: %w", alias, err)
		}
		out = append(out, cert)
	}
	return out, nil
}

func pkcs12Keys(b []byte, password string) ([]tls.Certificate, error) {
	key, leaf, cas, err := pkcs12.DecodeChain(b, password)
	if err != nil {
		return nil, fmt.Errorf("read PKCS #12 (one private key entry expected): %w", err)
	}
	// The library takes the first certificate bag as the leaf; Java stores may list
	// the chain in another order, so find the leaf by its public key.
	chain := orderChain(key, append([]*x509.Certificate{leaf}, cas...))
	c, err := newCertificate(key, chain)
	if err != nil {
		return nil, err
	}
	return []tls.Certificate{c}, nil
}

// orderChain puts the certificate whose public key matches key first, then follows
// issuer links through the rest. Certificates outside the chain are dropped.
func orderChain(key crypto.PrivateKey, certs []*x509.Certificate) []*x509.Certificate {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return certs
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := signer.Public().(equaler)
	if !ok {
		return certs
	}
	var chain []*x509.Certificate
	used := make([]bool, len(certs))
	for i, c := range certs {
		if pub.Equal(c.PublicKey) {
			chain, used[i] = append(chain, c), true
			break
		}
	}
	if len(chain) == 0 {
		return certs
	}
	for {
		last := chain[len(chain)-1]
		if bytes.Equal(last.RawIssuer, last.RawSubject) {
			return chain
		}
		next := -1
		for i, c := range certs {
			if !used[i] && bytes.Equal(c.RawSubject, last.RawIssuer) {
				next = i
				break
			}
		}
		if next < 0 {
			return chain
		}
		chain, used[next] = append(chain, certs[next]), true
	}
}

// newCertificate pairs key with chain (leaf first) after checking they belong
// together.
func newCertificate(key crypto.PrivateKey, chain []*x509.Certificate) (tls.Certificate, error) {
	if len(chain) == 0 {
		return tls.Certificate{}, errors.New("private key without a certificate")
	}
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
	default:
		return tls.Certificate{}, fmt.Errorf("private key type %T is not usable for TLS", key)
	}
	signer := key.(crypto.Signer)
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := signer.Public().(equaler); !ok || !pub.Equal(chain[0].PublicKey) {
		return tls.Certificate{}, errors.New("private key does not match the first certificate of its chain")
	}
	c := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, cert := range chain {
		c.Certificate = append(c.Certificate, cert.Raw)
	}
	return c, nil
}

// PEM block labels as ZooKeeper's PemReader matches them: any label containing
// CERTIFICATE, or PRIVATE KEY.
var (
	pemCertLabel = regexp.MustCompile(`(?i)CERTIFICATE`)
	pemKeyLabel  = regexp.MustCompile(`(?i)PRIVATE\s+KEY`)
)

func pemBlocks(b []byte) []*pem.Block {
	var out []*pem.Block
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		out = append(out, blk)
	}
}

func pemCertificates(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, blk := range pemBlocks(b) {
		if !pemCertLabel.MatchString(blk.Type) {
			continue
		}
		der := blk.Bytes
		// OpenSSL's TRUSTED CERTIFICATE is the certificate followed by trust
		// settings; Java's CertificateFactory reads just the certificate.
		var first asn1.RawValue
		if rest, err := asn1.Unmarshal(der, &first); err == nil && len(rest) > 0 {
			der = first.FullBytes
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("PEM %s block: %w", blk.Type, err)
		}
		out = append(out, cert)
	}
	return out, nil
}

// pemKeys reads a PEM key store: the first private key block and every certificate
// (leaf first). ZooKeeper requires PKCS #8 ("PRIVATE KEY", or "ENCRYPTED PRIVATE KEY"
// when a password is set); zkd also reads PKCS #1 and SEC 1 keys.
func pemKeys(b []byte, password string) ([]tls.Certificate, error) {
	var key crypto.PrivateKey
	for _, blk := range pemBlocks(b) {
		if !pemKeyLabel.MatchString(blk.Type) {
			continue
		}
		if _, ok := blk.Headers["DEK-Info"]; ok {
			return nil, fmt.Errorf("%w: legacy OpenSSL-encrypted PEM key (use PKCS #8: openssl pkcs8 -topk8)", ErrUnsupportedStore)
		}
		var err error
		switch blk.Type {
		case "ENCRYPTED PRIVATE KEY":
			if password == "" {
				return nil, errors.New("encrypted private key and no password")
			}
			var der []byte
			if der, err = decryptPKCS8(blk.Bytes, password); err == nil {
				key, err = x509.ParsePKCS8PrivateKey(der)
			}
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(blk.Bytes)
		default:
			key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM %s: %w", blk.Type, err)
		}
		break
	}
	if key == nil {
		return nil, errors.New("did not find a private key")
	}
	certs, err := pemCertificates(b)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, errors.New("certificate file does not contain any certificates")
	}
	c, err := newCertificate(key, orderChain(key, certs))
	if err != nil {
		return nil, err
	}
	return []tls.Certificate{c}, nil
}
