package sasl

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
)

// DigestClient is the client side of DIGEST-MD5, as OpenJDK's DigestMD5Client
// speaks it to a ZooKeeper server. zkd uses it where a ZooKeeper server is itself
// a client: a learner authenticating to the quorum with the username and password
// of its QuorumLearner section. It is not safe for concurrent use.
//
//	client: (empty)                      Start
//	server: realm=...,nonce=...          Evaluate -> digest-response
//	server: rspauth=...                  Evaluate -> nil, Complete
type DigestClient struct {
	user, password       string
	protocol, serverName string
	rand                 io.Reader

	state   digestState
	realm   string
	nonce   []byte
	cnonce  []byte
	rspauth []byte // expected
}

// NewDigestClient returns a client authenticating as user to the server that
// names itself protocol/serverName (QuorumProtocol, QuorumServerName between
// servers). rand makes the client nonce.
func NewDigestClient(user, password, protocol, serverName string, rand io.Reader) *DigestClient {
	return &DigestClient{user: user, password: password, protocol: protocol, serverName: serverName, rand: rand}
}

// Start returns the initial response: DIGEST-MD5 has none, so it is empty.
func (c *DigestClient) Start() ([]byte, error) { return []byte{}, nil }

// Complete reports whether the server proved it knows the password too.
func (c *DigestClient) Complete() bool { return c.state == digestDone }

// challengeKeys are the directives of a digest-challenge the client reads.
var challengeKeys = []string{"realm", "nonce", "qop", "charset", "algorithm", "stale", "maxbuf", "cipher"}

// Evaluate takes the server's next token and returns the response to send; nil
// once the exchange is complete. Errors wrap ErrAuthFailed.
func (c *DigestClient) Evaluate(token []byte) ([]byte, error) {
	if len(token) > digestMaxLength {
		c.state = digestFailed
		return nil, fmt.Errorf("%w: DIGEST-MD5: server token of %d bytes (max %d)", ErrAuthFailed, len(token), digestMaxLength)
	}
	switch c.state {
	case digestStart:
		out, err := c.respond(token)
		if err != nil {
			c.state = digestFailed
			return nil, err
		}
		c.state = digestSentChallenge
		return out, nil
	case digestSentChallenge:
		d, err := ParseDigestDirectives(token, []string{"rspauth"})
		got, ok := d["rspauth"]
		if err != nil || !ok || subtle.ConstantTimeCompare(got, c.rspauth) != 1 {
			c.state = digestFailed
			return nil, fmt.Errorf("%w: DIGEST-MD5: the server's rspauth does not prove it knows the password", ErrAuthFailed)
		}
		c.state = digestDone
		return nil, nil
	}
	return nil, fmt.Errorf("%w: DIGEST-MD5: client at illegal state", ErrAuthFailed)
}

func (c *DigestClient) respond(challenge []byte) ([]byte, error) {
	d, err := ParseDigestDirectives(challenge, challengeKeys)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuthFailed, err)
	}
	if a := string(d["algorithm"]); a != "md5-sess" {
		return nil, fmt.Errorf("%w: DIGEST-MD5: challenge algorithm %q (want md5-sess)", ErrAuthFailed, a)
	}
	if q, ok := d["qop"]; ok && !hasToken(string(q), "auth") {
		return nil, fmt.Errorf("%w: DIGEST-MD5: server offers qop %q, not auth", ErrAuthFailed, q)
	}
	c.nonce = d["nonce"]
	if len(c.nonce) == 0 {
		return nil, fmt.Errorf("%w: DIGEST-MD5: challenge without a nonce", ErrAuthFailed)
	}
	c.realm = c.serverName
	if r, ok := d["realm"]; ok {
		c.realm = string(r)
	}
	raw := make([]byte, digestRawNonce)
	if _, err := io.ReadFull(c.rand, raw); err != nil {
		return nil, fmt.Errorf("%w: DIGEST-MD5: cnonce: %v", ErrAuthFailed, err)
	}
	c.cnonce = []byte(base64.StdEncoding.EncodeToString(raw))
	uri := c.protocol + "/" + c.serverName
	resp := digestResponse(c.realm, "AUTHENTICATE:"+uri, c.user, c.password, c.nonce, c.cnonce, "auth", nil)
	c.rspauth = digestResponse(c.realm, ":"+uri, c.user, c.password, c.nonce, c.cnonce, "auth", nil)
	var b strings.Builder
	fmt.Fprintf(&b, `charset=utf-8,username="%s",realm="%s",nonce="%s",nc=00000001,cnonce="%s",digest-uri="%s",maxbuf=65536,response=%s,qop=auth`,
		quoteDirective(c.user), quoteDirective(c.realm), quoteDirective(string(c.nonce)), c.cnonce, quoteDirective(uri), resp)
	return []byte(b.String()), nil
}

// hasToken reports whether the comma list s holds tok.
func hasToken(s, tok string) bool {
	for _, f := range strings.Split(s, ",") {
		if strings.TrimSpace(f) == tok {
			return true
		}
	}
	return false
}

// quoteDirective escapes a quoted-string value (RFC 2831 §7.2).
func quoteDirective(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

// DigestCredentials returns the username and password of the DigestLoginModule
// entry of a JAAS section, as ZooKeeper's learner reads its QuorumLearner
// section. ErrNoSection when the section is missing.
func DigestCredentials(j *JAAS, section string) (user, password string, err error) {
	mods := j.Section(section)
	if mods == nil {
		where := ""
		if j != nil && j.Path != "" {
			where = " in '" + j.Path + "'"
		}
		return "", "", fmt.Errorf("%w named '%s' was found%s", ErrNoSection, section, where)
	}
	for _, m := range mods {
		if u, ok := m.Options["username"]; ok {
			return u, m.Options["password"], nil
		}
	}
	return "", "", fmt.Errorf("%w: section '%s' has no username=\"...\" password=\"...\" entry", ErrJAAS, section)
}
