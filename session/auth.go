package session

import (
	"crypto/sha1"
	"encoding/base64"
	"strings"

	"zkd/datatree"
	"zkd/jute"
)

// DigestID returns the digest-scheme id for "user:password":
// user + ":" + base64(sha1("user:password")), as DigestAuthenticationProvider does.
func DigestID(userPassword string) string {
	sum := sha1.Sum([]byte(userPassword))
	user, _, _ := strings.Cut(userPassword, ":")
	return user + ":" + base64.StdEncoding.EncodeToString(sum[:])
}

// userName is the user part whoAmI reports for an id.
func userName(id jute.Id) string {
	if id.Scheme == "digest" {
		user, _, _ := strings.Cut(id.ID, ":")
		return user
	}
	return id.ID
}

// auth adds an identity to the connection. Only digest (and ip, which every
// connection already has) are known schemes; anything else is AUTHFAILED and a
// closed connection.
func (c *Conn) auth(xid int32, body []byte, start int64) {
	srv := c.srv
	var r jute.AuthPacket
	d := jute.NewDecoder(body)
	r.Decode(&d)
	if d.Err() != nil {
		// ZooKeeper closes the connection without a reply on a packet it cannot read.
		srv.log.Warn("closing connection: malformed auth packet", "remote", c.remote, "sessionid", c.sessionID(),
			"len", len(body))
		c.abort()
		return
	}
	switch r.Scheme {
	case "digest":
		digest := DigestID(string(r.Auth))
		ids := append(datatree.Identity(nil), c.Identity()...)
		// In ZooKeeper's order (DigestAuthenticationProvider): super first, then
		// the digest id; whoAmI lists them as added.
		if srv.cfg.SuperDigest != "" && digest == srv.cfg.SuperDigest {
			ids = addID(ids, jute.Id{Scheme: "super", ID: ""})
		}
		ids = addID(ids, jute.Id{Scheme: "digest", ID: digest})
		c.identity.Store(&ids)
		c.answer(replyFrame(nil, xid, 0, jute.CodeOK), start, false)
	case "ip":
		c.answer(replyFrame(nil, xid, 0, jute.CodeOK), start, false)
	default:
		srv.log.Warn("Authentication failed: no provider for scheme", "scheme", r.Scheme,
			"remote", c.remote, "sessionid", c.sessionID())
		c.setState(stateClosing)
		c.answer(replyFrame(nil, xid, 0, jute.CodeAuthFailed), start, true)
	}
}

func addID(ids datatree.Identity, id jute.Id) datatree.Identity {
	for _, x := range ids {
		if x == id {
			return ids
		}
	}
	return append(ids, id)
}
