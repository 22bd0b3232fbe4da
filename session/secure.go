package session

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"

	"zkd/jute"
	"zkd/tlsconf"
)

// ErrNoX509Provider is returned by Conn.TLSHandshakeDone when a client presented
// a certificate and no x509 provider is registered; the connection is then
// closed, as ZooKeeper's NettyServerCnxnFactory closes it.
var ErrNoX509Provider = errors.New("session: X509 Auth provider not found (set authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider)")

// TLSHandshakeDone gives the connection the ids of its TLS handshake, before any
// frame is read: with a client certificate, Id("x509", subject) and, for the
// configured super user, Id("super", subject), as X509AuthenticationProvider
// does. A client without a certificate (clientAuth want or none) gets no id. An
// error means the connection must be closed. Event loop only.
func (c *Conn) TLSHandshakeDone(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	x := c.srv.cfg.Auth.X509
	if x == nil {
		return ErrNoX509Provider
	}
	ids, err := x.Authenticate(cs)
	if err != nil {
		return fmt.Errorf("session: x509 authentication: %w", err)
	}
	// ZooKeeper adds the x509 id first, then the super id.
	var add []jute.Id
	for _, pass := range []bool{false, true} {
		for _, id := range ids {
			if (id.Scheme == "super") == pass {
				add = append(add, jute.Id{Scheme: id.Scheme, ID: id.ID})
			}
		}
	}
	c.addIdentity(add...)
	c.srv.log.Info("Authenticated Id for client", "scheme", tlsconf.SchemeX509, "id", ids[len(ids)-1].ID,
		"super", len(ids) > 1, "remote", c.remote)
	return nil
}

// saslToken answers one opcode-102 token (GetSASLRequest) with the server's next
// token (SetSASLResponse), as ZooKeeperServer.processSasl: once the exchange
// completes the connection gains Id("sasl", id), and Id("super", "") for a SASL
// super user. A failed exchange is answered AUTHFAILED, or
// SESSIONCLOSEDREQUIRESASLAUTH when sasl is enforced, with an absent token, and
// the connection is closed; with zookeeper.allowSaslFailedClients (and sasl not
// enforced) it is answered OK with an absent token and kept.
//
// Without a JAAS section for the server ZooKeeper has no SASL server and answers
// OK with an absent token, which Java clients then fail on; zkd answers AUTHFAILED
// and closes, so that no client goes on believing it authenticated.
func (c *Conn) saslToken(xid int32, body []byte, start int64) {
	srv := c.srv
	a := &srv.cfg.Auth
	fail := func(code jute.Code) {
		c.setState(stateClosing)
		c.answer(saslReply(xid, code, nil), start, true)
	}
	if a.SASL == nil {
		srv.log.Warn("closing connection: SASL is not configured (no JAAS section for the server)", "remote", c.remote,
			"sessionid", c.sessionID())
		c.setState(stateClosing)
		c.answer(replyFrame(nil, xid, 0, jute.CodeAuthFailed), start, true)
		return
	}
	var r jute.BufferRecord
	d := jute.NewDecoder(body)
	r.Decode(&d)
	if err := d.Err(); err != nil {
		srv.log.Warn("closing connection: malformed SASL request", "remote", c.remote, "sessionid", c.sessionID(),
			"len", len(body), "err", err)
		fail(jute.CodeAuthFailed)
		return
	}
	if c.saslSrv == nil {
		var remote net.Addr
		if ip := net.ParseIP(c.ip); ip != nil {
			remote = &net.TCPAddr{IP: ip}
		}
		c.saslSrv = a.SASL.NewServer(remote)
	}
	wasComplete := c.saslSrv.Complete()
	tok, err := c.saslSrv.Evaluate(r.Token)
	if err != nil {
		srv.log.Warn("Client failed to SASL authenticate", "remote", c.remote, "sessionid", c.sessionID(),
			"mechanism", c.saslSrv.Mechanism(), "err", err)
		switch {
		case a.saslRequired():
			srv.log.Warn("Closing client connection due to server requires client SASL authentication, " +
				"but client SASL authentication has failed, or client is not configured with SASL authentication.")
			fail(jute.CodeSessionClosedRequireSASL)
		case a.AllowSASLFailed:
			srv.log.Warn("Maintaining client connection despite SASL authentication failure.")
			c.answer(saslReply(xid, jute.CodeOK, nil), start, false)
		default:
			srv.log.Warn("Closing client connection due to SASL authentication failure.")
			fail(jute.CodeAuthFailed)
		}
		return
	}
	if !wasComplete && c.saslSrv.Complete() {
		id := c.saslSrv.AuthorizationID()
		add := []jute.Id{{Scheme: "sasl", ID: id}}
		super := a.SASL.IsSuperUser(id)
		if super {
			add = append(add, jute.Id{Scheme: "super", ID: ""})
		}
		c.addIdentity(add...)
		srv.log.Info("adding SASL authorization for authorizationID", "id", id, "super", super,
			"mechanism", c.saslSrv.Mechanism(), "sessionid", c.sessionID(), "remote", c.remote)
	}
	c.answer(saslReply(xid, jute.CodeOK, tok), start, false)
}

// saslReply is ReplyHeader{xid, 0, code} + SetSASLResponse{token}; a nil token
// is encoded absent (length -1).
func saslReply(xid int32, code jute.Code, token []byte) []byte {
	b, mark := jute.BeginFrame(nil)
	b = jute.AppendReplyHeader(b, xid, 0, code)
	b = jute.AppendBuffer(b, token)
	return jute.EndFrame(b, mark)
}

// enforceAuth is AuthenticationHelper.enforceAuthentication: when schemes are
// enforced, a request (other than auth and sasl) of a connection that holds none
// of them is answered SESSIONCLOSEDREQUIRESASLAUTH and the connection is closed.
// It reports whether the request may be served.
func (c *Conn) enforceAuth(hdr *jute.RequestHeader, start int64) bool {
	a := &c.srv.cfg.Auth
	if len(a.Enforce) == 0 || hdr.Type == jute.OpAuth || hdr.Type == jute.OpSASL {
		return true
	}
	ids := c.Identity()
	schemes := make([]string, 0, len(ids))
	for _, id := range ids {
		if slices.Contains(a.Enforce, id.Scheme) {
			return true
		}
		schemes = append(schemes, id.Scheme)
	}
	c.srv.log.Error(fmt.Sprintf("Client authentication scheme(s) %v does not match with any of the expected authentication scheme %v, closing session.",
		schemes, a.Enforce), "remote", c.remote, "sessionid", c.sessionID(), "op", hdr.Type)
	c.setState(stateClosing)
	c.answer(replyFrame(nil, hdr.Xid, 0, jute.CodeSessionClosedRequireSASL), start, true)
	return false
}
