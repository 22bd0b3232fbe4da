package sasl

import (
	"bytes"
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Reference: RFC 2831 (DIGEST-MD5 as a SASL mechanism) and OpenJDK's
// com.sun.security.sasl.digest.DigestMD5Server, which ZooKeeper creates as
// Sasl.createSaslServer("DIGEST-MD5", "zookeeper", "zk-sasl-md5", null, handler)
// on the client port, and with "zookeeper-quorum", "zk-quorum-sasl-md5" between
// servers (Config.Protocol and Config.ServerName). The server name is the realm;
// the digest-uri is protocol/server-name.
//
// The exchange, one opcode-102 round trip per line:
//
//	client: (empty)
//	server: realm="zk-sasl-md5",nonce="<40 base64 chars>",charset=utf-8,algorithm=md5-sess
//	client: charset=utf-8,username="bob",realm="zk-sasl-md5",nonce="...",nc=00000001,
//	        cnonce="...",digest-uri="zookeeper/zk-sasl-md5",maxbuf=65536,
//	        response=<32 hex>,qop=auth[,authzid="bob"]
//	server: rspauth=<32 hex>                       (exchange complete)

const (
	digestRawNonce  = 30   // bytes of randomness; 40 characters of base64
	digestMaxLength = 4096 // Java's MAX_RESPONSE_LENGTH
)

// ErrDigestFormat is wrapped by every malformed digest-response.
var ErrDigestFormat = errors.New("sasl: DIGEST-MD5: digest response format violation")

// digestKeys are the directives Java's server reads; others are ignored.
var digestKeys = []string{"username", "realm", "nonce", "cnonce", "nc", "qop",
	"digest-uri", "response", "maxbuf", "charset", "cipher", "authzid"}

type digestState int

const (
	digestStart digestState = iota
	digestSentChallenge
	digestDone
	digestFailed
)

type digestServer struct {
	p     *Provider
	state digestState
	nonce []byte
	authz string
}

func (s *digestServer) Mechanism() string { return MechDigestMD5 }

func (s *digestServer) Complete() bool { return s.state == digestDone }

func (s *digestServer) AuthorizationID() string {
	if s.state != digestDone {
		return ""
	}
	return s.authz
}

func (s *digestServer) Evaluate(token []byte) ([]byte, error) {
	if len(token) > digestMaxLength {
		s.state = digestFailed
		return nil, fmt.Errorf("%w: DIGEST-MD5: invalid digest response length %d (max %d)", ErrAuthFailed, len(token), digestMaxLength)
	}
	switch s.state {
	case digestStart:
		// A non-empty first token ("subsequent authentication") is ignored, as
		// Java does: RFC 2831 §2.2 lets the server start over with a challenge.
		raw := make([]byte, digestRawNonce)
		if _, err := io.ReadFull(s.p.env.Rand, raw); err != nil {
			s.state = digestFailed
			return nil, fmt.Errorf("%w: DIGEST-MD5: nonce: %v", ErrAuthFailed, err)
		}
		s.nonce = []byte(base64.StdEncoding.EncodeToString(raw))
		s.state = digestSentChallenge
		return []byte(`realm="` + s.p.cfg.ServerName + `",nonce="` + string(s.nonce) + `",charset=utf-8,algorithm=md5-sess`), nil
	case digestSentChallenge:
		resp, err := s.validate(token)
		if err != nil {
			s.state = digestFailed
			return nil, err
		}
		s.state = digestDone
		return resp, nil
	}
	return nil, fmt.Errorf("%w: DIGEST-MD5: server at illegal state", ErrAuthFailed)
}

// ParseDigestDirectives splits a digest-response into its directives as Java's
// DigestMD5Base.parseDirectives does: key=value pairs separated by commas and
// linear white space, values quoted (with backslash escapes) or bare, keys matched
// case-insensitively against keys (others ignored), each at most once. The
// returned values alias nothing in b.
func ParseDigestDirectives(b []byte, keys []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(keys))
	var key, val []byte
	gettingKey, quoted, expectSep := true, false, false
	put := func() error {
		for _, k := range keys {
			if strings.EqualFold(string(key), k) {
				if _, dup := out[k]; dup {
					return fmt.Errorf("%w: more than one %s directive", ErrDigestFormat, k)
				}
				out[k] = bytes.Clone(val)
				break
			}
		}
		key, val = key[:0], val[:0]
		return nil
	}
	i := skipLWS(b, 0)
	for i < len(b) {
		c := b[i]
		switch {
		case gettingKey:
			switch {
			case c == ',':
				if len(key) != 0 {
					return nil, fmt.Errorf("%w: directive key contains a ','", ErrDigestFormat)
				}
				i = skipLWS(b, i+1)
			case c == '=':
				if len(key) == 0 {
					return nil, fmt.Errorf("%w: empty directive key", ErrDigestFormat)
				}
				gettingKey = false
				i = skipLWS(b, i+1)
				if i >= len(b) {
					return nil, fmt.Errorf("%w: valueless directive %q", ErrDigestFormat, key)
				}
				if b[i] == '"' {
					quoted = true
					i++
				}
			case isLWS(c):
				i = skipLWS(b, i+1)
				if i >= len(b) || b[i] != '=' {
					return nil, fmt.Errorf("%w: '=' expected after key %q", ErrDigestFormat, key)
				}
			default:
				key = append(key, c)
				i++
			}
		case quoted:
			switch c {
			case '\\':
				i++
				if i >= len(b) {
					return nil, fmt.Errorf("%w: unmatched quote in %q", ErrDigestFormat, key)
				}
				val = append(val, b[i])
				i++
			case '"':
				i++
				quoted, expectSep = false, true
			default:
				val = append(val, c)
				i++
			}
		case isLWS(c) || c == ',':
			if err := put(); err != nil {
				return nil, err
			}
			gettingKey, quoted, expectSep = true, false, false
			i = skipLWS(b, i+1)
		case expectSep:
			return nil, fmt.Errorf("%w: expecting comma or white space after quoted string %q", ErrDigestFormat, val)
		default:
			val = append(val, c)
			i++
		}
	}
	if quoted {
		return nil, fmt.Errorf("%w: unmatched quote in %q", ErrDigestFormat, key)
	}
	if len(key) > 0 {
		if err := put(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func isLWS(c byte) bool { return c == '\r' || c == '\n' || c == ' ' || c == '\t' }

func skipLWS(b []byte, i int) int {
	for i < len(b) && isLWS(b[i]) {
		i++
	}
	return i
}

// validate is DigestMD5Server.validateClientResponse, in Java's order of checks.
func (s *digestServer) validate(token []byte) ([]byte, error) {
	d, err := ParseDigestDirectives(token, digestKeys)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuthFailed, err)
	}
	fail := func(format string, args ...any) ([]byte, error) {
		return nil, fmt.Errorf("%w: %w: "+format, append([]any{ErrAuthFailed, ErrDigestFormat}, args...)...)
	}
	if cs, ok := d["charset"]; ok && string(cs) != "utf-8" {
		return fail("incompatible charset value %q", cs)
	}
	if mb, ok := d["maxbuf"]; ok {
		if _, err := strconv.ParseInt(string(mb), 10, 32); err != nil {
			return fail("maxbuf %q", mb)
		}
	}
	username, ok := d["username"]
	if !ok {
		return fail("missing username")
	}
	realm := d["realm"]
	if string(realm) != s.p.cfg.ServerName {
		return fail("nonexistent realm %q", realm)
	}
	nonce, ok := d["nonce"]
	if !ok {
		return fail("missing nonce")
	}
	if !bytes.Equal(nonce, s.nonce) {
		return fail("mismatched nonce")
	}
	cnonce, ok := d["cnonce"]
	if !ok {
		return fail("missing cnonce")
	}
	if nc, ok := d["nc"]; ok {
		if n, err := strconv.ParseInt(string(nc), 16, 64); err != nil || n != 1 {
			return fail("nonce count does not match: %q", nc)
		}
	}
	qop := "auth"
	if q, ok := d["qop"]; ok {
		qop = string(q)
	}
	switch qop {
	case "auth":
	case "auth-int", "auth-conf":
		return nil, fmt.Errorf("%w: DIGEST-MD5: server does not support qop %s", ErrAuthFailed, qop)
	default:
		return fail("invalid QOP %q", qop)
	}
	uri, ok := d["digest-uri"]
	wantURI := s.p.cfg.Protocol + "/" + s.p.cfg.ServerName
	if !ok || !strings.EqualFold(string(uri), wantURI) {
		return fail("mismatched URI %q; expecting %s", uri, wantURI)
	}
	response, ok := d["response"]
	if !ok {
		return fail("missing response")
	}
	authzid, hasAuthzid := d["authzid"]
	user := decodeUTF8(username)
	password, known := s.p.password(user)
	if !known {
		return nil, fmt.Errorf("%w: DIGEST-MD5: cannot acquire password for %s in realm %s", ErrAuthFailed, user, s.p.cfg.ServerName)
	}
	var az []byte
	if hasAuthzid {
		az = authzid
	}
	want := digestResponse(s.p.cfg.ServerName, "AUTHENTICATE:"+string(uri), user, password, s.nonce, cnonce, qop, az)
	if subtle.ConstantTimeCompare(response, want) != 1 {
		return fail("mismatched response")
	}
	id, err := s.p.authorize(user)
	if err != nil {
		return nil, err
	}
	s.authz = id
	return append([]byte("rspauth="), digestResponse(s.p.cfg.ServerName, ":"+string(uri), user, password, s.nonce, cnonce, qop, az)...), nil
}

// password returns the JAAS password of user, with ZooKeeper's super password
// override for a listed "super".
func (p *Provider) password(user string) (string, bool) {
	pw, ok := p.users[user]
	if ok && user == "super" && p.cfg.HasSuperPassword {
		pw = p.cfg.SuperPassword
	}
	return pw, ok
}

// digestResponse computes RFC 2831's response-value (a2Prefix "AUTHENTICATE:uri")
// or rspauth (":uri") in realm for qop=auth and nonce count 1, as lower-case hex.
func digestResponse(realm, a2 string, user, password string, nonce, cnonce []byte, qop string, authzid []byte) []byte {
	hexOf := func(b []byte) []byte {
		sum := md5.Sum(b)
		out := make([]byte, hex.EncodedLen(len(sum)))
		hex.Encode(out, sum[:])
		return out
	}
	var inner []byte
	inner = append(inner, latin1OrUTF8(user)...)
	inner = append(inner, ':')
	inner = append(inner, latin1OrUTF8(realm)...)
	inner = append(inner, ':')
	inner = append(inner, latin1OrUTF8(password)...)
	h := md5.Sum(inner)
	a1 := append([]byte{}, h[:]...)
	a1 = append(a1, ':')
	a1 = append(a1, nonce...)
	a1 = append(a1, ':')
	a1 = append(a1, cnonce...)
	if authzid != nil {
		a1 = append(a1, ':')
		a1 = append(a1, authzid...)
	}
	var kd []byte
	kd = append(kd, hexOf(a1)...)
	kd = append(kd, ':')
	kd = append(kd, nonce...)
	kd = append(kd, ":00000001:"...)
	kd = append(kd, cnonce...)
	kd = append(kd, ':')
	kd = append(kd, qop...)
	kd = append(kd, ':')
	kd = append(kd, hexOf([]byte(a2))...)
	return hexOf(kd)
}

// latin1OrUTF8 is DigestMD5Base.stringToByte_8859_1 with UTF-8 on: ISO-8859-1
// bytes when every character fits, else UTF-8 (RFC 2831 §2.1.2.1).
func latin1OrUTF8(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xFF {
			return []byte(s)
		}
		out = append(out, byte(r))
	}
	return out
}

// decodeUTF8 decodes directive bytes as Java's new String(b, UTF_8).
func decodeUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
