package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"zkd/internal/testutil"
	"zkd/sasl"
	"zkd/zoocfg"
)

const kerberosRealm = "ZKD.TEST"

// kerberosQuorumJAAS is ZooKeeper's documented layout for quorum Kerberos:
// the service principal in QuorumServer, the learner's own in QuorumLearner.
const kerberosQuorumJAAS = `QuorumServer {
	com.sun.security.auth.module.Krb5LoginModule required
	useKeyTab=true keyTab="%[1]s" storeKey=true useTicketCache=false
	principal="zkquorum/127.0.0.1@%[3]s";
};
QuorumLearner {
	com.sun.security.auth.module.Krb5LoginModule required
	useKeyTab=true keyTab="%[1]s" storeKey=true useTicketCache=false
	principal="%[2]s@%[3]s";
};
`

// kerberosQuorumCfg is the zoo.cfg of quorum Kerberos both ways, with _HOST in
// the service principal, the JAAS file jaas and the Kerberos configuration krb5.
func kerberosQuorumCfg(jaas, krb5 string) string {
	return strings.Join([]string{
		"quorum.auth.enableSasl=true",
		"quorum.auth.learnerRequireSasl=true",
		"quorum.auth.serverRequireSasl=true",
		"quorum.auth.kerberos.servicePrincipal=zkquorum/_HOST",
		"java.security.auth.login.config=" + jaas,
		"java.security.krb5.conf=" + krb5,
	}, "\n")
}

// TestEnsembleWithKerberosQuorumAuth: three members that authenticate each
// other with Kerberos (tickets from a loopback MIT KDC, the service principal
// written with _HOST) form an ensemble; a member whose learner principal names
// a host outside the ensemble is kept out, as ZooKeeper keeps it out.
func TestEnsembleWithKerberosQuorumAuth(t *testing.T) {
	kdc := testutil.StartKDC(t, kerberosRealm, map[string]string{
		"zkquorum/127.0.0.1":        "quorum.keytab",
		"learner/127.0.0.1":         "quorum.keytab",
		"learner/elsewhere.example": "quorum.keytab",
	})
	member := func(i int, learner string) string {
		jaas := filepath.Join(kdc.Dir, fmt.Sprintf("jaas%d.conf", i+1))
		if err := os.WriteFile(jaas, fmt.Appendf(nil, kerberosQuorumJAAS, kdc.Keytab("quorum.keytab"), learner, kerberosRealm), 0o600); err != nil {
			t.Fatal(err)
		}
		return kerberosQuorumCfg(jaas, kdc.Conf)
	}
	t.Run("members of one realm", func(t *testing.T) {
		servers := startSecureEnsemble(t, 3, func(i int) string { return member(i, "learner/127.0.0.1") })
		requireReplicated(t, servers, "/kerberos-quorum")
	})
	t.Run("a learner named for another host", func(t *testing.T) {
		servers := startSecureEnsemble(t, 3, func(i int) string {
			if i == 2 {
				return member(i, "learner/elsewhere.example")
			}
			return member(i, "learner/127.0.0.1")
		})
		requireThirdKeptOut(t, servers)
	})
}

// TestQuorumKerberosLearnerRules: the service principal's _HOST becomes the
// host dialed, lower-cased; the server side takes a learner whose name carries
// a member's host and refuses one that does not; settings zkd cannot serve stop
// the start with a clear error.
func TestQuorumKerberosLearnerRules(t *testing.T) {
	kdc := testutil.StartKDC(t, kerberosRealm, map[string]string{
		"zkquorum/127.0.0.1":        "quorum.keytab",
		"learner/127.0.0.1":         "quorum.keytab",
		"learner/elsewhere.example": "quorum.keytab",
	})
	props := map[string]string{sasl.PropKrb5Conf: kdc.Conf}
	settings := zoocfg.QuorumAuthSettings{EnableSasl: true, LearnerRequireSasl: true, ServerRequireSasl: true,
		ServerLoginCtx: "QuorumServer", LearnerLoginCtx: "QuorumLearner", ServicePrincipal: "zkquorum/_HOST"}
	auth := func(t *testing.T, learner string, a zoocfg.QuorumAuthSettings, props map[string]string) (*quorumSASL, error) {
		t.Helper()
		j, err := sasl.ParseJAAS(fmt.Sprintf(kerberosQuorumJAAS, kdc.Keytab("quorum.keytab"), learner, kerberosRealm), nil)
		if err != nil {
			t.Fatal(err)
		}
		q, err := newQuorumSASL(a, j, props, quiet)
		if q != nil {
			t.Cleanup(q.close)
		}
		return q, err
	}
	must := func(q *quorumSASL, err error) *quorumSASL {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	server := must(auth(t, "learner/127.0.0.1", settings, props))
	server.setMembers([]string{"127.0.0.1:2888", "10.0.0.7:2888|10.1.0.7:2888"})
	exchange := func(learner *quorumSASL, dialed string) (dialErr, acceptErr error) {
		toServer, toLearner := make(chan []byte, 8), make(chan []byte, 8)
		errC := make(chan error, 1)
		go func() { errC <- server.Accept(pipeExchange{in: toServer, out: toLearner}, 1, nil) }()
		dialErr = learner.Dial(pipeExchange{in: toLearner, out: toServer}, 2, dialed)
		close(toServer) // a learner that gave up hangs up
		return dialErr, <-errC
	}

	if dialErr, acceptErr := exchange(must(auth(t, "learner/127.0.0.1", settings, props)), "127.0.0.1"); dialErr != nil || acceptErr != nil {
		t.Fatalf("member: dial %v, accept %v", dialErr, acceptErr)
	}
	dialErr, acceptErr := exchange(must(auth(t, "learner/elsewhere.example", settings, props)), "127.0.0.1")
	if !errors.Is(acceptErr, errQuorumAuth) || !strings.Contains(acceptErr.Error(), "elsewhere.example is not the host of a member") || dialErr == nil {
		t.Fatalf("stranger: dial %v, accept %v", dialErr, acceptErr)
	}
	// _HOST is the host dialed: a ticket for zkquorum/localhost, which this
	// KDC does not know, is asked for and refused before anything is sent.
	dialErr, _ = exchange(must(auth(t, "learner/127.0.0.1", settings, props)), "LOCALHOST")
	if !errors.Is(dialErr, errQuorumAuth) || !strings.Contains(dialErr.Error(), "zkquorum/localhost") {
		t.Fatalf("dial to another host name: %v", dialErr)
	}

	for name, tc := range map[string]struct {
		principal string
		props     map[string]string
		want      string
	}{
		"a service principal without a host": {"zkquorum", props, "a service principal is service/host"},
		"a service in another realm":         {"zkquorum/_HOST@OTHER.REALM", props, "within one realm"},
		"zookeeper.server.realm elsewhere": {"zkquorum/_HOST", map[string]string{sasl.PropKrb5Conf: kdc.Conf, propServerRealm: "OTHER.REALM"},
			"within one realm"},
	} {
		t.Run(name, func(t *testing.T) {
			a := settings
			a.ServicePrincipal = tc.principal
			if _, err := auth(t, "learner/127.0.0.1", a, tc.props); !errors.Is(err, ErrSecurityConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrSecurityConfig with %q", err, tc.want)
			}
		})
	}
}

// TestReconfigAddsAServerToAKerberosQuorum: a server on a host none of the
// start-up members has in its configuration (localhost, where they are
// 127.0.0.1) joins a Kerberos-authenticated ensemble by reconfig. Its learner
// principal carries that host, which the members take as a member's host once
// the reconfig names it: zkd reads the rule against the current membership.
func TestReconfigAddsAServerToAKerberosQuorum(t *testing.T) {
	kdc := testutil.StartKDC(t, kerberosRealm, map[string]string{
		"zkquorum/127.0.0.1": "quorum.keytab",
		"learner/127.0.0.1":  "quorum.keytab",
		"zkquorum/localhost": "quorum.keytab",
		"learner/localhost":  "quorum.keytab",
	})
	reconfigAddsAFourth(t, func(m *reconfigMember) {
		host := "127.0.0.1"
		if m.myid == 4 {
			host = "localhost"
			m.line = strings.Replace(m.line, "=127.0.0.1:", "=localhost:", 1) // its quorum address; clients still at 127.0.0.1
		}
		jaas := filepath.Join(m.dir, "jaas.conf")
		text := strings.ReplaceAll(fmt.Sprintf(kerberosQuorumJAAS, kdc.Keytab("quorum.keytab"), "learner/"+host, kerberosRealm),
			"zkquorum/127.0.0.1@", "zkquorum/"+host+"@")
		if err := os.WriteFile(jaas, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		m.extra = kerberosQuorumCfg(jaas, kdc.Conf)
	}, nil)
}
