package sasl

import (
	"bytes"
	"crypto/hmac"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"time"

	krbasn1 "github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Reference: RFC 4752 (the GSSAPI SASL mechanism), RFC 2743 §3.1 (the initial
// context token framing), RFC 4121 (Kerberos V5 GSS-API mechanism: AP-REQ/AP-REP
// tokens, Wrap tokens), and OpenJDK's GssKrb5Server, which ZooKeeper creates as
// Sasl.createSaslServer("GSSAPI", service, host, null, handler) under the subject
// Krb5LoginModule logged in from the keytab.
//
// The exchange:
//
//	client: 60 len 06 09 <krb5 OID> 01 00 <AP-REQ>       (GSS initial context token)
//	server: 60 len 06 09 <krb5 OID> 02 00 <AP-REP>       only if mutual auth requested
//	client: (empty)                                      only after an AP-REP
//	server: Wrap{ 01 | max buffer (3 bytes) }            security layers offered: none
//	client: Wrap{ 01 | 00 00 00 | authorization id }     layer chosen, id asked for
//	server: (absent token)                               exchange complete
//
// Wrap tokens are RFC 4121 tokens (05 04 ...), so only the AES and newer
// encryption types are served; DES and RC4 (RFC 1964 / 4757 tokens) are not.

var (
	// ErrGSSToken is wrapped by every malformed GSS token.
	ErrGSSToken = errors.New("sasl: GSSAPI: malformed token")

	oidKrb5       = asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2}
	oidKrb5Legacy = asn1.ObjectIdentifier{1, 2, 840, 48018, 1, 2, 2} // Microsoft's
)

// GSS token ids (RFC 4121 §4.1, §4.2.6.2).
var (
	tokIDAPReq = [2]byte{0x01, 0x00}
	tokIDAPRep = [2]byte{0x02, 0x00}
	tokIDWrap  = [2]byte{0x05, 0x04}
)

// Wrap token flags (RFC 4121 §4.2.2).
const (
	wrapSentByAcceptor = 0x01
	wrapSealed         = 0x02
	wrapAcceptorSubkey = 0x04
)

// GSS checksum flag (RFC 4121 §4.1.1.1).
const gssMutualFlag = 0x02

// SASL security layers (RFC 4752 §3.3): zkd, like ZooKeeper's default, offers
// only "no security layer".
const (
	layerNone      = 0x01
	serverMaxRecv  = 65536
	gssMaxTokenLen = 64 << 10 // a ticket with a large PAC fits well within this
)

// krbAcceptor holds the service's Kerberos identity from the JAAS entry.
type krbAcceptor struct {
	keytab    *keytabFile
	principal types.PrincipalName
	realm     string
	clockSkew time.Duration
}

func newKrbAcceptor(m LoginModule, cfg Config) (*krbAcceptor, error) {
	o := m.Options
	bad := func(format string, args ...any) (*krbAcceptor, error) {
		return nil, fmt.Errorf("%w (line %d): "+format, append([]any{ErrKerberosConfig, m.Line}, args...)...)
	}
	if !strings.EqualFold(o["useKeyTab"], "true") || o["keyTab"] == "" {
		return bad("the server needs useKeyTab=true and keyTab=<file>")
	}
	princ := o["principal"]
	if princ == "" || princ == "*" {
		return bad("the server needs principal=\"service/host@REALM\"")
	}
	service, rest, ok := strings.Cut(princ, "/")
	if !ok || service == "" {
		// ZooKeeper takes the service and host from principal[0] around '/'.
		return bad("principal %q has no host part (service/host@REALM)", princ)
	}
	host, realm, _ := strings.Cut(rest, "@")
	if realm == "" {
		realm = cfg.DefaultRealm
	}
	if host == "" || realm == "" {
		return bad("principal %q: host and realm are needed (no default realm)", princ)
	}
	kt, err := loadKeytabFile(o["keyTab"])
	if err != nil {
		return bad("keyTab %s: %v", o["keyTab"], err)
	}
	skew := cfg.MaxClockSkew
	if skew <= 0 {
		skew = 5 * time.Minute
	}
	return &krbAcceptor{
		keytab:    kt,
		principal: types.NewPrincipalName(3 /* KRB_NT_SRV_HST */, service+"/"+host),
		realm:     realm,
		clockSkew: skew,
	}, nil
}

type gssState int

const (
	gssStart gssState = iota
	gssSentAPRep
	gssSentLayers
	gssDone
	gssFailed
)

type gssapiServer struct {
	p      *Provider
	remote net.Addr
	state  gssState

	peer    string              // client principal, name@REALM
	key     types.EncryptionKey // initiator subkey, else the ticket session key
	sendSeq uint64              // acceptor's sequence number for its Wrap token
	authz   string
}

func (s *gssapiServer) Mechanism() string { return MechGSSAPI }
func (s *gssapiServer) Complete() bool    { return s.state == gssDone }

func (s *gssapiServer) AuthorizationID() string {
	if s.state != gssDone {
		return ""
	}
	return s.authz
}

func (s *gssapiServer) Evaluate(token []byte) (out []byte, err error) {
	defer func() {
		if err != nil {
			s.state = gssFailed
			err = fmt.Errorf("%w: %w", ErrAuthFailed, err)
		}
	}()
	if len(token) > gssMaxTokenLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrGSSToken, len(token))
	}
	switch s.state {
	case gssStart:
		return s.accept(token)
	case gssSentAPRep:
		if len(token) != 0 {
			return nil, errors.New("GSSAPI: handshake expecting no response data")
		}
		return s.offerLayers()
	case gssSentLayers:
		return nil, s.finish(token)
	case gssDone:
		return nil, errors.New("GSSAPI: SASL authentication already complete")
	}
	return nil, errors.New("GSSAPI: server at illegal state")
}

// ParseInitialToken splits an RFC 2743 initial context token into its mechanism
// and inner token, checking every length against the input.
func ParseInitialToken(b []byte) (mech asn1.ObjectIdentifier, inner []byte, err error) {
	if len(b) < 2 || b[0] != 0x60 {
		return nil, nil, fmt.Errorf("%w: not an initial context token", ErrGSSToken)
	}
	n, hdr, err := derLength(b[1:])
	if err != nil {
		return nil, nil, err
	}
	body := b[1+hdr:]
	if n != len(body) {
		return nil, nil, fmt.Errorf("%w: length %d, %d bytes follow", ErrGSSToken, n, len(body))
	}
	if len(body) < 2 || body[0] != 0x06 {
		return nil, nil, fmt.Errorf("%w: no mechanism OID", ErrGSSToken)
	}
	var raw asn1.RawValue
	rest, err := asn1.Unmarshal(body, &raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: mechanism OID: %v", ErrGSSToken, err)
	}
	if _, err := asn1.Unmarshal(raw.FullBytes, &mech); err != nil {
		return nil, nil, fmt.Errorf("%w: mechanism OID: %v", ErrGSSToken, err)
	}
	return mech, rest, nil
}

// derLength reads a DER definite length; it returns the length and how many
// bytes encoded it.
func derLength(b []byte) (n, size int, err error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("%w: truncated length", ErrGSSToken)
	}
	if b[0] < 0x80 {
		return int(b[0]), 1, nil
	}
	k := int(b[0] & 0x7f)
	if k == 0 || k > 4 || len(b) < 1+k {
		return 0, 0, fmt.Errorf("%w: bad length", ErrGSSToken)
	}
	for _, c := range b[1 : 1+k] {
		n = n<<8 | int(c)
	}
	if n < 0 || n > gssMaxTokenLen {
		return 0, 0, fmt.Errorf("%w: length %d", ErrGSSToken, n)
	}
	return n, 1 + k, nil
}

// frameInitial wraps a krb5 inner token in the RFC 2743 framing.
func frameInitial(tokID [2]byte, payload []byte) []byte {
	oid, _ := asn1.Marshal(oidKrb5)
	n := len(oid) + 2 + len(payload)
	out := []byte{0x60}
	out = append(out, asn1tools.MarshalLengthBytes(n)...)
	out = append(out, oid...)
	out = append(out, tokID[:]...)
	return append(out, payload...)
}

// accept verifies the client's AP-REQ against the keytab.
func (s *gssapiServer) accept(token []byte) ([]byte, error) {
	mech, inner, err := ParseInitialToken(token)
	if err != nil {
		return nil, err
	}
	if !mech.Equal(oidKrb5) && !mech.Equal(oidKrb5Legacy) {
		return nil, fmt.Errorf("%w: mechanism %v is not Kerberos V5 (SPNEGO is not supported)", ErrGSSToken, mech)
	}
	if len(inner) < 2 || [2]byte(inner[:2]) != tokIDAPReq {
		return nil, fmt.Errorf("%w: expected an AP-REQ token", ErrGSSToken)
	}
	var apReq messages.APReq
	if err := unmarshalAPReq(&apReq, inner[2:]); err != nil {
		return nil, fmt.Errorf("%w: AP-REQ: %v", ErrGSSToken, err)
	}
	k := s.p.krb
	if !apReq.Ticket.SName.Equal(k.principal) || apReq.Ticket.Realm != k.realm {
		return nil, fmt.Errorf("GSSAPI: ticket is for %s@%s, this server is %s@%s",
			apReq.Ticket.SName.PrincipalNameString(), apReq.Ticket.Realm, k.principal.PrincipalNameString(), k.realm)
	}
	opts := []func(*service.Settings){service.MaxClockSkew(k.clockSkew), service.DecodePAC(false)}
	if ip := addrIP(s.remote); ip != nil {
		opts = append(opts, service.ClientAddress(types.HostAddressFromNetIP(ip)))
	}
	ok, _, err := service.VerifyAPREQ(&apReq, service.NewSettings(k.keytab.current(), opts...))
	if err != nil || !ok {
		return nil, fmt.Errorf("GSSAPI: GSS initiate failed: %v", err)
	}
	a := apReq.Authenticator
	s.peer = a.CName.PrincipalNameString() + "@" + a.CRealm
	s.key = apReq.Ticket.DecryptedEncPart.Key
	if a.SubKey.KeyType != 0 && len(a.SubKey.KeyValue) > 0 {
		s.key = a.SubKey
	}
	if _, err := crypto.GetEtype(s.key.KeyType); err != nil || !rfc4121Etype(s.key.KeyType) {
		return nil, fmt.Errorf("GSSAPI: encryption type %d is not served (AES and newer only)", s.key.KeyType)
	}

	mutual := types.IsFlagSet(&apReq.APOptions, flags.APOptionMutualRequired)
	if a.Cksum.CksumType == 0x8003 && len(a.Cksum.Checksum) >= 24 {
		mutual = mutual || binary.LittleEndian.Uint32(a.Cksum.Checksum[20:24])&gssMutualFlag != 0
	}
	if !mutual {
		// Without an AP-REP the acceptor's sequence numbers start where the
		// initiator's do (RFC 4121 §4.2.6.2); Java checks this on the Wrap token.
		s.sendSeq = uint64(uint32(a.SeqNumber))
		return s.offerLayers()
	}
	return s.apRep(&apReq)
}

// unmarshalAPReq keeps a malformed AP-REQ from panicking the decoder.
func unmarshalAPReq(r *messages.APReq, b []byte) error {
	return noPanic(func() error { return r.Unmarshal(b) })
}

// rfc4121Etype reports whether etype uses RFC 4121 tokens (AES-SHA1, AES-SHA2).
func rfc4121Etype(etype int32) bool {
	switch etype {
	case 17, 18, 19, 20: // aes128/256-cts-hmac-sha1-96, aes128-sha256-128, aes256-sha384-192
		return true
	}
	return false
}

// apRep answers a mutual-authentication request: EncAPRepPart{ctime, cusec,
// seq-number} under the ticket session key, framed as a GSS token.
func (s *gssapiServer) apRep(apReq *messages.APReq) ([]byte, error) {
	seq, err := randUint32(s.p)
	if err != nil {
		return nil, err
	}
	s.sendSeq = uint64(seq)
	part := messages.EncAPRepPart{
		CTime:          apReq.Authenticator.CTime,
		Cusec:          apReq.Authenticator.Cusec,
		SequenceNumber: int64(seq),
	}
	b, err := krbasn1.Marshal(part)
	if err != nil {
		return nil, fmt.Errorf("GSSAPI: AP-REP: %v", err)
	}
	b = asn1tools.AddASNAppTag(b, asnAppTag.EncAPRepPart)
	enc, err := crypto.GetEncryptedData(b, apReq.Ticket.DecryptedEncPart.Key, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, fmt.Errorf("GSSAPI: AP-REP: %v", err)
	}
	rep := messages.APRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: enc}
	rb, err := krbasn1.Marshal(rep)
	if err != nil {
		return nil, fmt.Errorf("GSSAPI: AP-REP: %v", err)
	}
	rb = asn1tools.AddASNAppTag(rb, asnAppTag.APREP)
	s.state = gssSentAPRep
	return frameInitial(tokIDAPRep, rb), nil
}

func randUint32(p *Provider) (uint32, error) {
	var b [4]byte
	for {
		if _, err := p.env.Rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("GSSAPI: random: %v", err)
		}
		if v := binary.BigEndian.Uint32(b[:]) & 0x3fffffff; v != 0 {
			return v, nil
		}
	}
}

// offerLayers sends the wrapped security-layer offer: no layer, 64 KiB buffer.
func (s *gssapiServer) offerLayers() ([]byte, error) {
	var payload [4]byte
	binary.BigEndian.PutUint32(payload[:], serverMaxRecv) // 3-byte size in bytes 1..3
	payload[0] = layerNone
	tok, err := buildWrap(s.key, wrapSentByAcceptor, s.sendSeq, payload[:])
	if err != nil {
		return nil, err
	}
	s.state = gssSentLayers
	return tok, nil
}

// finish reads the client's choice of layer and its authorization id.
func (s *gssapiServer) finish(token []byte) error {
	payload, err := ParseWrap(token, s.key, false)
	if err != nil {
		return err
	}
	if len(payload) < 4 {
		return fmt.Errorf("%w: security layer reply of %d bytes", ErrGSSToken, len(payload))
	}
	if payload[0]&layerNone == 0 {
		return fmt.Errorf("GSSAPI: client selected unsupported protection %d", payload[0])
	}
	// An authorization id, if sent, is not adopted (see Provider.authorize).
	id, err := s.p.authorize(s.peer)
	if err != nil {
		return err
	}
	s.authz = id
	s.state = gssDone
	return nil
}

// buildWrap makes an unsealed RFC 4121 Wrap token.
func buildWrap(key types.EncryptionKey, flags byte, seq uint64, payload []byte) ([]byte, error) {
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, err
	}
	usage := uint32(keyusage.GSSAPI_INITIATOR_SEAL)
	if flags&wrapSentByAcceptor != 0 {
		usage = keyusage.GSSAPI_ACCEPTOR_SEAL
	}
	hdr := wrapHeader(flags, 0, 0, seq)
	sum, err := et.GetChecksumHash(key.KeyValue, append(append([]byte{}, payload...), hdr...), usage)
	if err != nil {
		return nil, err
	}
	if len(sum) > math.MaxUint16 {
		return nil, errors.New("GSSAPI: checksum too long")
	}
	out := wrapHeader(flags, uint16(len(sum)), 0, seq)
	out = append(out, payload...)
	return append(out, sum...), nil
}

func wrapHeader(flags byte, ec, rrc uint16, seq uint64) []byte {
	h := make([]byte, 16)
	h[0], h[1], h[2], h[3] = tokIDWrap[0], tokIDWrap[1], flags, 0xFF
	binary.BigEndian.PutUint16(h[4:], ec)
	binary.BigEndian.PutUint16(h[6:], rrc)
	binary.BigEndian.PutUint64(h[8:], seq)
	return h
}

// ParseWrap checks an RFC 4121 Wrap token from the peer (fromAcceptor says which
// side sent it) and returns its payload: the checksum of an unsealed token is
// verified, a sealed token is decrypted and its integrity checked. The returned
// slice does not alias tok.
func ParseWrap(tok []byte, key types.EncryptionKey, fromAcceptor bool) ([]byte, error) {
	if len(tok) < 16 || [2]byte(tok[:2]) != tokIDWrap || tok[3] != 0xFF {
		return nil, fmt.Errorf("%w: not a Wrap token", ErrGSSToken)
	}
	fl := tok[2]
	if (fl&wrapSentByAcceptor != 0) != fromAcceptor {
		return nil, fmt.Errorf("%w: Wrap token from the wrong side", ErrGSSToken)
	}
	if fl&wrapAcceptorSubkey != 0 {
		return nil, fmt.Errorf("%w: Wrap token under an acceptor subkey this server never sent", ErrGSSToken)
	}
	ec := int(binary.BigEndian.Uint16(tok[4:6]))
	rrc := int(binary.BigEndian.Uint16(tok[6:8]))
	seq := binary.BigEndian.Uint64(tok[8:16])
	body := bytes.Clone(tok[16:])
	if len(body) > 0 {
		// Undo the right rotation by rrc (RFC 4121 §4.2.5).
		r := rrc % len(body)
		body = append(body[r:], body[:r]...)
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, err
	}
	sealUsage := uint32(keyusage.GSSAPI_INITIATOR_SEAL)
	if fromAcceptor {
		sealUsage = keyusage.GSSAPI_ACCEPTOR_SEAL
	}
	if fl&wrapSealed == 0 {
		if ec > len(body) {
			return nil, fmt.Errorf("%w: checksum length %d in %d bytes", ErrGSSToken, ec, len(body))
		}
		payload, sum := body[:len(body)-ec], body[len(body)-ec:]
		want, err := et.GetChecksumHash(key.KeyValue, append(append([]byte{}, payload...), wrapHeader(fl, 0, 0, seq)...), sealUsage)
		if err != nil {
			return nil, err
		}
		if !hmac.Equal(sum, want) {
			return nil, fmt.Errorf("%w: Wrap token checksum mismatch", ErrGSSToken)
		}
		return payload, nil
	}
	// gokrb5's decryption slices without checking short input (found by fuzzing).
	if len(body) < et.GetConfounderByteSize()+et.GetHMACBitLength()/8+16 {
		return nil, fmt.Errorf("%w: sealed Wrap token too short", ErrGSSToken)
	}
	plain, err := decryptNoPanic(et, key.KeyValue, body, sealUsage)
	if err != nil {
		return nil, fmt.Errorf("%w: Wrap token: %v", ErrGSSToken, err)
	}
	// plain = payload | filler (ec bytes) | copy of the header with RRC 0.
	if len(plain) < 16+ec {
		return nil, fmt.Errorf("%w: sealed Wrap token too short", ErrGSSToken)
	}
	inner := plain[len(plain)-16:]
	if !bytes.Equal(inner, wrapHeader(fl, uint16(ec), 0, seq)) {
		return nil, fmt.Errorf("%w: sealed Wrap token header mismatch", ErrGSSToken)
	}
	return plain[:len(plain)-16-ec], nil
}

func decryptNoPanic(et etype.EType, key, ct []byte, usage uint32) (plain []byte, err error) {
	err = noPanic(func() (err error) {
		plain, err = et.DecryptMessage(key, ct, usage)
		return err
	})
	return plain, err
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
