package server

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"

	"zkd/quorum/peer"
	"zkd/sasl"
	"zkd/zoocfg"
)

// quorumSASL authenticates the members of an ensemble to each other as
// ZooKeeper's quorum SASL does (quorum.auth.*): the member that dials is the
// learner, the member that accepts is the server. The mechanism follows each
// JAAS section as in ZooKeeper: a QuorumServer section with a Krb5LoginModule
// accepts GSSAPI with its keytab, otherwise DIGEST-MD5 against its
// user_<name> entries; a QuorumLearner section with a Krb5LoginModule logs in
// from its keytab and asks for a ticket to quorum.auth.kerberos.servicePrincipal
// ("_HOST" becoming the host dialed), otherwise it speaks DIGEST-MD5 with its
// username and password. As in ZooKeeper, a learner authenticates only when
// quorum.auth.learnerRequireSasl is set, and then requires it to succeed; a
// server refuses learners that do not authenticate when
// quorum.auth.serverRequireSasl is set, and learners whose Kerberos name
// (service/host@REALM) names a host that is not a member's. Every member dials
// and accepts, so every member needs both sections.
//
// Each token crosses as | status u8 | token |, the status being ZooKeeper's
// QuorumAuth.Status: in progress, success (the last token), error.
type quorumSASL struct {
	server *sasl.Provider // QuorumServer
	// newClient starts the learner's side of an exchange with the member
	// reached at host (QuorumLearner).
	newClient      func(host string) saslClient
	learnerID      string              // who the learner authenticates as, for messages
	kerberos       *sasl.KerberosLogin // the learner's Kerberos login; nil with DIGEST-MD5
	learnerRequire bool
	serverRequire  bool
	// hosts are the members' host names, lower-cased: the hosts a learner's
	// Kerberos name may carry (ZooKeeper's authzHosts).
	hosts atomic.Pointer[map[string]bool]
	log   *slog.Logger
}

// saslClient is the learner's side of one exchange.
type saslClient interface {
	Start() ([]byte, error)
	Evaluate(challenge []byte) ([]byte, error)
	Complete() bool
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

// hostPattern in quorum.auth.kerberos.servicePrincipal stands for the host
// dialed (SecurityUtils.QUORUM_HOSTNAME_PATTERN).
const hostPattern = "_HOST"

func newQuorumSASL(a zoocfg.QuorumAuthSettings, jaas *sasl.JAAS, props map[string]string, log *slog.Logger) (*quorumSASL, error) {
	if jaas == nil {
		return nil, fmt.Errorf("%w: quorum.auth.enableSasl needs a JAAS file (%s) with the %s and %s sections",
			ErrSecurityConfig, sasl.PropJAASConfig, a.ServerLoginCtx, a.LearnerLoginCtx)
	}
	q := &quorumSASL{learnerRequire: a.LearnerRequireSasl, serverRequire: a.ServerRequireSasl, log: log}
	q.hosts.Store(&map[string]bool{})
	c := sasl.QuorumConfig(a.ServerLoginCtx)
	c.DefaultRealm = sasl.FromProperties(props).DefaultRealm
	c.Authorize = q.authorizeLearner
	p, err := sasl.NewProvider(c, jaas, sasl.Env{Log: log})
	if err != nil {
		return nil, fmt.Errorf("%w: SASL-authentication failed because the specified JAAS configuration section '%s' could not be used: %w",
			ErrSecurityConfig, a.ServerLoginCtx, err)
	}
	q.server = p
	if jaas.Kerberos(a.LearnerLoginCtx) != nil {
		if err := q.kerberosLearner(a, jaas, props); err != nil {
			return nil, err
		}
	} else {
		user, pw, err := sasl.DigestCredentials(jaas, a.LearnerLoginCtx)
		if err != nil {
			return nil, fmt.Errorf("%w: quorum.auth.learner.saslLoginContext: %w", ErrSecurityConfig, err)
		}
		q.learnerID = user
		q.newClient = func(string) saslClient {
			return sasl.NewDigestClient(user, pw, sasl.QuorumProtocol, sasl.QuorumServerName, rand.Reader)
		}
	}
	log.Info("quorum SASL authentication", "learner_requires", a.LearnerRequireSasl, "server_requires", a.ServerRequireSasl,
		"server_section", a.ServerLoginCtx, "server_mechanism", p.Mechanism(), "learner_section", a.LearnerLoginCtx, "learner", q.learnerID)
	return q, nil
}

// kerberosLearner sets the learner up to log in from its keytab and ask for
// tickets to the service principal. The service must be in the learner's realm:
// a principal naming another realm, or zookeeper.server.realm naming one, is
// refused (zkd asks the learner's KDC, which would not know the service).
func (q *quorumSASL) kerberosLearner(a zoocfg.QuorumAuthSettings, jaas *sasl.JAAS, props map[string]string) error {
	login, err := sasl.NewKerberosLogin(jaas, a.LearnerLoginCtx, props)
	if err != nil {
		return fmt.Errorf("%w: quorum.auth.learner.saslLoginContext: %w", ErrSecurityConfig, err)
	}
	name, realm, _ := strings.Cut(a.ServicePrincipal, "@")
	service, host, ok := strings.Cut(name, "/")
	if !ok || service == "" || host == "" {
		return fmt.Errorf("%w: quorum.auth.kerberos.servicePrincipal=%s: a service principal is service/host or service/%s",
			ErrSecurityConfig, a.ServicePrincipal, hostPattern)
	}
	_, loginRealm, _ := strings.Cut(login.Principal(), "@")
	if r := props[propServerRealm]; realm == "" && r != "" {
		realm = r
	}
	if realm != "" && realm != loginRealm {
		return fmt.Errorf("%w: quorum.auth.kerberos.servicePrincipal=%s: the quorum service in realm %s, the learner %s in %s: "+
			"zkd authenticates members within one realm", ErrSecurityConfig, a.ServicePrincipal, realm, login.Principal(), loginRealm)
	}
	q.kerberos, q.learnerID = login, login.Principal()
	q.newClient = func(dialed string) saslClient {
		h := host
		if h == hostPattern {
			h = strings.ToLower(dialed)
		}
		return login.NewClient(service, h)
	}
	return nil
}

// propServerRealm is the realm ZooKeeper's learner assumes for a service
// principal written without one (the learner's own when unset).
const propServerRealm = "zookeeper.server.realm"

// authorizeLearner is SaslQuorumServerCallbackHandler's rule: a name of three
// parts, service/host@REALM, must carry a member's host.
func (q *quorumSASL) authorizeLearner(id string) (string, error) {
	parts := strings.FieldsFunc(id, func(r rune) bool { return r == '/' || r == '@' })
	if len(parts) == 3 && strings.Count(id, "/")+strings.Count(id, "@") == 2 && !(*q.hosts.Load())[strings.ToLower(parts[1])] {
		return "", fmt.Errorf("%w: %s is not authorized to connect: %s is not the host of a member", sasl.ErrAuthFailed, id, parts[1])
	}
	return id, nil
}

// setMembers makes the hosts of addrs (quorum addresses, each possibly
// several joined by "|") the ones a learner's name may carry.
func (q *quorumSASL) setMembers(addrs []string) {
	hosts := map[string]bool{}
	for _, a := range addrs {
		for _, alt := range peer.Alternatives(a) {
			if h, _, err := net.SplitHostPort(alt); err == nil {
				hosts[strings.ToLower(h)] = true
			}
		}
	}
	q.hosts.Store(&hosts)
}

// close ends the learner's Kerberos login.
func (q *quorumSASL) close() {
	if q.kerberos != nil {
		q.kerberos.Close()
	}
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

// Dial is the learner's side (SaslQuorumAuthLearner.authenticate): it ends
// when the learner's mechanism is complete, and then the server must have said
// success.
func (q *quorumSASL) Dial(ex peer.Exchange, to uint64, host string) error {
	c := q.newClient(host)
	tok, err := c.Start()
	if err != nil {
		return fmt.Errorf("%w: %w", errQuorumAuth, err)
	}
	if err := send(ex, qaInProgress, tok); err != nil {
		return err
	}
	for range maxQuorumAuthRounds {
		st, tok, err := recv(ex)
		if err != nil {
			return err
		}
		if c.Complete() {
			if st != qaSuccess {
				return fmt.Errorf("%w: refused by %s as %q", errQuorumAuth, Label(to), q.learnerID)
			}
			return nil
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
			return fmt.Errorf("%w: refused by %s as %q", errQuorumAuth, Label(to), q.learnerID)
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
