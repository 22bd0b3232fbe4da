package sasl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// KerberosLogin is a Kerberos identity logged in from a keytab, as the
// Krb5LoginModule entry of a JAAS section gives a ZooKeeper server that is
// itself a client: a learner authenticating to the quorum. The ticket-granting
// ticket is got on first use, not at start (a KDC that is down for a moment
// does not stop a server from starting), and kept and renewed; service tickets
// are kept until they expire. Safe for concurrent use.
type KerberosLogin struct {
	principal string // name@REALM, also the authorization id sent
	user      string // name, with its "/host" when it has one
	realm     string
	keytab    *keytabFile
	conf      *config.Config // immutable

	mu       sync.Mutex
	cl       *client.Client // nil until the first ticket is asked for
	clKeytab *keytab.Keytab // the keys cl logs in with
	closed   bool
}

// NewKerberosLogin reads the Krb5LoginModule entry of section in jaas: it needs
// useKeyTab=true, keyTab and principal, as a server's unattended login does.
// The Kerberos configuration is the file named by java.security.krb5.conf, else
// /etc/krb5.conf. The keytab must hold a key for the principal; nothing is
// asked of the KDC yet.
func NewKerberosLogin(jaas *JAAS, section string, props map[string]string) (*KerberosLogin, error) {
	m := jaas.Kerberos(section)
	if m == nil {
		return nil, fmt.Errorf("%w: section '%s' has no %s entry", ErrKerberosConfig, section, Krb5LoginModule)
	}
	o := m.Options
	bad := func(format string, args ...any) (*KerberosLogin, error) {
		return nil, fmt.Errorf("%w (section '%s', line %d): "+format, append([]any{ErrKerberosConfig, section, m.Line}, args...)...)
	}
	if !strings.EqualFold(o["useKeyTab"], "true") || o["keyTab"] == "" {
		return bad("a server logs in from a keytab: it needs useKeyTab=true and keyTab=<file>")
	}
	conf, err := krb5Config(props)
	if err != nil {
		return bad("%v", err)
	}
	user, realm, _ := strings.Cut(o["principal"], "@")
	if realm == "" {
		realm = conf.LibDefaults.DefaultRealm
	}
	if user == "" || realm == "" {
		return bad("principal %q: a name and a realm are needed (no default realm)", o["principal"])
	}
	kt, err := loadKeytabFile(o["keyTab"])
	if err != nil {
		return bad("keyTab %s: %v", o["keyTab"], err)
	}
	k := &KerberosLogin{principal: user + "@" + realm, user: user, realm: realm, keytab: kt, conf: conf}
	if !k.hasKey() {
		return bad("keyTab %s holds no key for %s", o["keyTab"], k.principal)
	}
	return k, nil
}

// krb5Config reads the Kerberos configuration file Java would.
func krb5Config(props map[string]string) (*config.Config, error) {
	path := props[PropKrb5Conf]
	if path == "" {
		path = "/etc/krb5.conf"
	}
	conf, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("the Kerberos configuration %s (%s): %v", path, PropKrb5Conf, err)
	}
	return conf, nil
}

// hasKey reports whether the keytab holds a key of any type for the principal.
func (k *KerberosLogin) hasKey() bool {
	kt := k.keytab.current()
	for i := range kt.Entries {
		if entryPrincipal(kt, i) == k.principal {
			return true
		}
	}
	return false
}

// entryPrincipal is the name@REALM of kt's entry i.
func entryPrincipal(kt *keytab.Keytab, i int) string {
	p := &kt.Entries[i].Principal
	return strings.Join(p.Components, "/") + "@" + p.Realm
}

// newestKeys is kt with only the newest key version of each principal: a
// client logs in with its current keys, and gokrb5 tells versions apart by the
// entries' time stamps, which two rotations within a second (or a tool that
// writes none) leave equal.
func newestKeys(kt *keytab.Keytab) *keytab.Keytab {
	newest := map[string]uint32{}
	for i := range kt.Entries {
		n := entryPrincipal(kt, i)
		newest[n] = max(newest[n], kt.Entries[i].KVNO)
	}
	out := *kt
	out.Entries = nil
	for i := range kt.Entries {
		if kt.Entries[i].KVNO == newest[entryPrincipal(kt, i)] {
			out.Entries = append(out.Entries, kt.Entries[i])
		}
	}
	return &out
}

// Principal is the logged-in name, name@REALM.
func (k *KerberosLogin) Principal() string { return k.principal }

// ErrLoginClosed is returned for tickets asked of a closed KerberosLogin.
var ErrLoginClosed = errors.New("sasl: Kerberos login closed")

// serviceTicket returns a ticket for service/host and its session key, logging
// in first when needed.
func (k *KerberosLogin) serviceTicket(spn string) (messages.Ticket, types.EncryptionKey, types.PrincipalName, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return messages.Ticket{}, types.EncryptionKey{}, types.PrincipalName{}, ErrLoginClosed
	}
	// Rotated keys (a rewritten keytab) mean a new login: the tickets held
	// still work, but the old keys would fail the next login the renewal needs.
	// If the new keys cannot log in, the old login goes on serving and the new
	// one is tried again at the next dial.
	if kt := k.keytab.current(); k.cl == nil || kt != k.clKeytab {
		cl := client.NewWithKeytab(k.user, k.realm, newestKeys(kt), k.conf, client.DisablePAFXFAST(true))
		switch err := cl.Login(); {
		case err == nil:
			if k.cl != nil {
				k.cl.Destroy()
			}
			k.cl, k.clKeytab = cl, kt
		case k.cl == nil:
			return messages.Ticket{}, types.EncryptionKey{}, types.PrincipalName{}, fmt.Errorf("login as %s: %v", k.principal, err)
		}
	}
	tkt, key, err := k.cl.GetServiceTicket(spn)
	if err != nil {
		return tkt, key, types.PrincipalName{}, fmt.Errorf("service ticket for %s as %s: %v", spn, k.principal, err)
	}
	return tkt, key, k.cl.Credentials.CName(), nil
}

// Close forgets the tickets and stops their renewal.
func (k *KerberosLogin) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cl != nil {
		k.cl.Destroy()
		k.cl = nil
	}
	k.closed = true
}

// GSSAPIClient is the client side of GSSAPI (RFC 4752) as OpenJDK's GssKrb5Client
// speaks it to a ZooKeeper server, with mutual authentication: the server must
// prove it holds the service key before the client answers its security-layer
// offer. Not safe for concurrent use.
//
//	client: 60 .. <krb5 OID> 01 00 <AP-REQ>      Start
//	server: 60 .. <krb5 OID> 02 00 <AP-REP>      Evaluate -> (empty)
//	server: Wrap{ layers | max buffer }          Evaluate -> Wrap{ 01 | 00 00 00 | authzid }, Complete
type GSSAPIClient struct {
	login *KerberosLogin
	spn   string // service/host

	state   gssClientState
	key     types.EncryptionKey // the ticket's session key
	ctime   time.Time
	cusec   int
	sendSeq uint64
}

type gssClientState int

const (
	gssClientStart gssClientState = iota
	gssClientSentAPReq
	gssClientGotAPRep
	gssClientDone
	gssClientFailed
)

// NewClient starts an exchange with the server whose principal is
// service/host in the login's realm (or the realm krb5.conf maps host to).
func (k *KerberosLogin) NewClient(service, host string) *GSSAPIClient {
	return &GSSAPIClient{login: k, spn: service + "/" + host}
}

// Complete reports whether the server proved itself and the exchange ended.
func (c *GSSAPIClient) Complete() bool { return c.state == gssClientDone }

// gssChecksum is the authenticator checksum of RFC 4121 §4.1.1: no channel
// bindings, and the context flags asked for.
func gssChecksum(flags uint32) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b[0:4], 16) // length of the bindings field
	binary.LittleEndian.PutUint32(b[20:24], flags)
	return b
}

// GSS context flags (RFC 2744): mutual, sequence, confidentiality, integrity.
const gssContextFlags = gssMutualFlag | 0x08 | 0x10 | 0x20

// Start returns the initial token: an AP-REQ for the service, asking the
// server to prove itself with an AP-REP.
func (c *GSSAPIClient) Start() (_ []byte, err error) {
	defer c.failOn(&err)
	if c.state != gssClientStart {
		return nil, errors.New("GSSAPI: exchange already started")
	}
	tkt, key, cname, err := c.login.serviceTicket(c.spn)
	if err != nil {
		return nil, fmt.Errorf("GSSAPI: %w", err)
	}
	if !rfc4121Etype(key.KeyType) {
		return nil, fmt.Errorf("GSSAPI: the ticket for %s has encryption type %d (AES and newer only)", c.spn, key.KeyType)
	}
	auth, err := types.NewAuthenticator(c.login.realm, cname)
	if err != nil {
		return nil, fmt.Errorf("GSSAPI: authenticator: %v", err)
	}
	auth.Cksum = types.Checksum{CksumType: chksumtype.GSSAPI, Checksum: gssChecksum(gssContextFlags)}
	req, err := messages.NewAPReq(tkt, key, auth)
	if err != nil {
		return nil, fmt.Errorf("GSSAPI: AP-REQ: %v", err)
	}
	types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
	b, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("GSSAPI: AP-REQ: %v", err)
	}
	// The authenticator carries whole seconds and the microseconds apart.
	c.key, c.ctime, c.cusec, c.sendSeq = key, auth.CTime.Truncate(time.Second), auth.Cusec, uint64(uint32(auth.SeqNumber))
	c.state = gssClientSentAPReq
	return frameInitial(tokIDAPReq, b), nil
}

// Evaluate takes the server's next token and returns the one to send. Errors
// wrap ErrAuthFailed.
func (c *GSSAPIClient) Evaluate(token []byte) (_ []byte, err error) {
	defer c.failOn(&err)
	if len(token) > gssMaxTokenLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrGSSToken, len(token))
	}
	switch c.state {
	case gssClientSentAPReq:
		if err := c.checkAPRep(token); err != nil {
			return nil, err
		}
		c.state = gssClientGotAPRep
		return []byte{}, nil
	case gssClientGotAPRep:
		return c.chooseLayer(token)
	case gssClientStart:
		return nil, errors.New("GSSAPI: exchange not started")
	}
	return nil, errors.New("GSSAPI: exchange already ended")
}

func (c *GSSAPIClient) failOn(err *error) {
	if *err != nil {
		c.state = gssClientFailed
		*err = fmt.Errorf("%w: %w", ErrAuthFailed, *err)
	}
}

// checkAPRep verifies the server's AP-REP: only the holder of the service key
// could have read the session key that encrypts it, and it must answer this
// client's authenticator.
func (c *GSSAPIClient) checkAPRep(token []byte) error {
	if len(token) >= 2 && [2]byte(token[:2]) == tokIDWrap {
		return errors.New("GSSAPI: the server did not prove its identity: a security-layer offer where its AP-REP belongs")
	}
	mech, inner, err := ParseInitialToken(token)
	if err != nil {
		return err
	}
	if !mech.Equal(oidKrb5) && !mech.Equal(oidKrb5Legacy) {
		return fmt.Errorf("%w: mechanism %v is not Kerberos V5", ErrGSSToken, mech)
	}
	if len(inner) < 2 || [2]byte(inner[:2]) != tokIDAPRep {
		return fmt.Errorf("%w: expected an AP-REP token (the server did not prove its identity)", ErrGSSToken)
	}
	var rep messages.APRep
	if err := noPanic(func() error { return rep.Unmarshal(inner[2:]) }); err != nil {
		return fmt.Errorf("%w: AP-REP: %v", ErrGSSToken, err)
	}
	var plain []byte
	if err := noPanic(func() (err error) {
		plain, err = crypto.DecryptEncPart(rep.EncPart, c.key, keyusage.AP_REP_ENCPART)
		return err
	}); err != nil {
		return fmt.Errorf("GSSAPI: the server's AP-REP does not decrypt under the session key: %v", err)
	}
	var part messages.EncAPRepPart
	if err := noPanic(func() error { return part.Unmarshal(plain) }); err != nil {
		return fmt.Errorf("%w: AP-REP: %v", ErrGSSToken, err)
	}
	if !part.CTime.Equal(c.ctime) || part.Cusec != c.cusec {
		return errors.New("GSSAPI: the server's AP-REP answers another authenticator")
	}
	if part.Subkey.KeyType != 0 {
		// Wrap tokens would then be under the acceptor's subkey; zkd's
		// acceptor never sends one.
		return errors.New("GSSAPI: the server chose an acceptor subkey, which this client does not support")
	}
	return nil
}

// chooseLayer reads the server's wrapped security-layer offer and answers with
// no security layer and this client's principal as the authorization id, as
// ZooKeeper's learner asks for.
func (c *GSSAPIClient) chooseLayer(token []byte) ([]byte, error) {
	offer, err := ParseWrap(token, c.key, true)
	if err != nil {
		return nil, err
	}
	if len(offer) != 4 {
		return nil, fmt.Errorf("%w: security layer offer of %d bytes", ErrGSSToken, len(offer))
	}
	if offer[0]&layerNone == 0 {
		return nil, fmt.Errorf("GSSAPI: the server offers security layers %#x, not \"none\"", offer[0])
	}
	reply := append([]byte{layerNone, 0, 0, 0}, c.login.principal...)
	out, err := buildWrap(c.key, 0, c.sendSeq, reply)
	if err != nil {
		return nil, err
	}
	c.state = gssClientDone
	return out, nil
}

// noPanic runs f, turning a panic of the decoder inside into an error.
func noPanic(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder panic: %v", p)
		}
	}()
	return f()
}
