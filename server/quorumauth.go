package server

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"zkd/quorum/peer"
	"zkd/sasl"
	"zkd/zoocfg"
)

// quorumSASL authenticates the members of an ensemble to each other as
// ZooKeeper's quorum SASL does (quorum.auth.*): the member that dials is the
// learner, DIGEST-MD5 client with the username and password of its QuorumLearner
// section; the member that accepts is the server, checking them against the
// user_<name> entries of its QuorumServer section. As in ZooKeeper, a learner
// authenticates only when quorum.auth.learnerRequireSasl is set, and then
// requires it to succeed; a server refuses learners that do not authenticate
// when quorum.auth.serverRequireSasl is set. Every member dials and accepts, so
// every member needs both sections.
//
// Each token crosses as | status u8 | token |, the status being ZooKeeper's
// QuorumAuth.Status: in progress, success (the last token), error.
type quorumSASL struct {
	server         *sasl.Provider // QuorumServer: DIGEST-MD5 under the quorum's names
	user, password string         // QuorumLearner
	learnerRequire bool
	serverRequire  bool
	log            *slog.Logger
}

var _ peer.Authenticator = (*quorumSASL)(nil)

// Exchange statuses.
const (
	qaSuccess    byte = 0
	qaInProgress byte = 1
	qaError      byte = 0xff
)

// maxQuorumAuthRounds bounds an exchange (ZooKeeper's MAX_RETRIES is 5).
const maxQuorumAuthRounds = 5

// errQuorumAuth is wrapped by every failed quorum authentication.
var errQuorumAuth = errors.New("server: quorum SASL authentication failed")

func newQuorumSASL(a zoocfg.QuorumAuthSettings, jaas *sasl.JAAS, props map[string]string, log *slog.Logger) (*quorumSASL, error) {
	if jaas == nil {
		return nil, fmt.Errorf("%w: quorum.auth.enableSasl needs a JAAS file (%s) with the %s and %s sections",
			ErrSecurityConfig, sasl.PropJAASConfig, a.ServerLoginCtx, a.LearnerLoginCtx)
	}
	c := sasl.QuorumConfig(a.ServerLoginCtx)
	c.DefaultRealm = sasl.FromProperties(props).DefaultRealm
	p, err := sasl.NewProvider(c, jaas, sasl.Env{Log: log})
	if err != nil {
		return nil, fmt.Errorf("%w: SASL-authentication failed because the specified JAAS configuration section '%s' could not be used: %w",
			ErrSecurityConfig, a.ServerLoginCtx, err)
	}
	if p.Mechanism() != sasl.MechDigestMD5 {
		return nil, fmt.Errorf("%w: quorum SASL with %s (section %s) is not supported; use DigestLoginModule",
			ErrSecurityConfig, p.Mechanism(), a.ServerLoginCtx)
	}
	user, pw, err := sasl.DigestCredentials(jaas, a.LearnerLoginCtx)
	if err != nil {
		return nil, fmt.Errorf("%w: quorum.auth.learner.saslLoginContext: %w", ErrSecurityConfig, err)
	}
	log.Info("quorum SASL authentication", "learner_requires", a.LearnerRequireSasl, "server_requires", a.ServerRequireSasl,
		"server_section", a.ServerLoginCtx, "learner_section", a.LearnerLoginCtx)
	return &quorumSASL{server: p, user: user, password: pw, learnerRequire: a.LearnerRequireSasl,
		serverRequire: a.ServerRequireSasl, log: log}, nil
}

func (q *quorumSASL) Dials() bool    { return q.learnerRequire }
func (q *quorumSASL) Required() bool { return q.serverRequire }

func send(ex peer.Exchange, status byte, token []byte) error {
	return ex.Send(append([]byte{status}, token...))
}

func recv(ex peer.Exchange) (byte, []byte, error) {
	b, err := ex.Recv()
	if err != nil {
		return 0, nil, err
	}
	if len(b) == 0 {
		return 0, nil, fmt.Errorf("%w: empty packet", errQuorumAuth)
	}
	return b[0], b[1:], nil
}

// Dial is the learner's side (SaslQuorumAuthLearner.authenticate).
func (q *quorumSASL) Dial(ex peer.Exchange, to uint64) error {
	c := sasl.NewDigestClient(q.user, q.password, sasl.QuorumProtocol, sasl.QuorumServerName, rand.Reader)
	if err := send(ex, qaInProgress, c.Start()); err != nil {
		return err
	}
	for range maxQuorumAuthRounds {
		st, tok, err := recv(ex)
		if err != nil {
			return err
		}
		switch st {
		case qaInProgress, qaSuccess:
			out, err := c.Evaluate(tok)
			if err != nil {
				_ = send(ex, qaError, nil)
				return fmt.Errorf("%w: %w", errQuorumAuth, err)
			}
			if st == qaSuccess {
				if out != nil || !c.Complete() {
					return fmt.Errorf("%w: protocol error: the server ended the exchange early", errQuorumAuth)
				}
				return nil
			}
			if err := send(ex, qaInProgress, out); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: refused by %s as %q", errQuorumAuth, Label(to), q.user)
		}
	}
	return fmt.Errorf("%w: too many rounds", errQuorumAuth)
}

// Accept is the server's side (SaslQuorumAuthServer.authenticate).
func (q *quorumSASL) Accept(ex peer.Exchange, from uint64, remote net.Addr) error {
	s := q.server.NewServer(remote)
	for range maxQuorumAuthRounds {
		st, tok, err := recv(ex)
		if err != nil {
			return err
		}
		if st != qaInProgress {
			return fmt.Errorf("%w: learner %s sent status %d", errQuorumAuth, Label(from), st)
		}
		out, err := s.Evaluate(tok)
		if err != nil {
			_ = send(ex, qaError, nil)
			return fmt.Errorf("%w: learner %s at %v: %w", errQuorumAuth, Label(from), remote, err)
		}
		if s.Complete() {
			q.log.Debug("Successfully completed the authentication using SASL", "learner", Label(from),
				"addr", remote, "user", s.AuthorizationID())
			return send(ex, qaSuccess, out)
		}
		if err := send(ex, qaInProgress, out); err != nil {
			return err
		}
	}
	_ = send(ex, qaError, nil)
	return fmt.Errorf("%w: learner %s: too many rounds", errQuorumAuth, Label(from))
}
