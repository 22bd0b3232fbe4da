package server

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"zkd/quorum/peer"
	"zkd/sasl"
	"zkd/zoocfg"
)

// pipeExchange is one end of an in-memory token exchange.
type pipeExchange struct {
	in  <-chan []byte
	out chan<- []byte
}

func (p pipeExchange) Send(tok []byte) error {
	p.out <- append([]byte(nil), tok...)
	return nil
}

func (p pipeExchange) Recv() ([]byte, error) {
	tok, ok := <-p.in
	if !ok {
		return nil, io.EOF
	}
	return tok, nil
}

func exchangePair() (a, b pipeExchange, closeAll func()) {
	ab, ba := make(chan []byte, 8), make(chan []byte, 8)
	return pipeExchange{in: ba, out: ab}, pipeExchange{in: ab, out: ba}, func() { close(ab); close(ba) }
}

func quorumAuthFor(t testing.TB, password string) *quorumSASL {
	t.Helper()
	j, err := sasl.ParseJAAS(fmt.Sprintf(quorumJAAS, password), nil)
	if err != nil {
		t.Fatal(err)
	}
	q, err := newQuorumSASL(zoocfg.QuorumAuthSettings{EnableSasl: true, LearnerRequireSasl: true, ServerRequireSasl: true,
		ServerLoginCtx: "QuorumServer", LearnerLoginCtx: "QuorumLearner"}, j, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestQuorumSASLExchange(t *testing.T) {
	server := quorumAuthFor(t, "peer-secret")
	for _, tc := range []struct {
		password string
		ok       bool
	}{{"peer-secret", true}, {"wrong", false}} {
		t.Run("password="+tc.password, func(t *testing.T) {
			learner := quorumAuthFor(t, tc.password)
			a, b, closeAll := exchangePair()
			defer closeAll()
			errC := make(chan error, 1)
			go func() { errC <- server.Accept(b, 1, nil) }()
			dialErr := learner.Dial(a, 2, "127.0.0.1")
			acceptErr := <-errC
			if tc.ok != (dialErr == nil) || tc.ok != (acceptErr == nil) {
				t.Fatalf("dial %v, accept %v", dialErr, acceptErr)
			}
			if !tc.ok && !errors.Is(acceptErr, errQuorumAuth) {
				t.Fatalf("accept error %v", acceptErr)
			}
		})
	}
	t.Run("refusals at start", func(t *testing.T) {
		j, _ := sasl.ParseJAAS(`QuorumServer { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab="/nonexistent" principal="zkquorum/localhost@R"; };`, nil)
		if _, err := newQuorumSASL(zoocfg.QuorumAuthSettings{EnableSasl: true, ServerLoginCtx: "QuorumServer", LearnerLoginCtx: "QuorumLearner"},
			j, nil, quiet); !errors.Is(err, ErrSecurityConfig) {
			t.Fatalf("Kerberos section with a missing keytab: %v", err)
		}
		if _, err := newQuorumSASL(zoocfg.QuorumAuthSettings{EnableSasl: true, ServerLoginCtx: "QuorumServer", LearnerLoginCtx: "QuorumLearner"},
			nil, nil, quiet); !errors.Is(err, ErrSecurityConfig) {
			t.Fatalf("no JAAS file: %v", err)
		}
	})
}

// FuzzQuorumSASLAccept: whatever a dialer sends, the server side of quorum
// authentication ends (no panic, no endless exchange) and never accepts it.
func FuzzQuorumSASLAccept(f *testing.F) {
	server := quorumAuthFor(f, "peer-secret")
	f.Add([]byte{qaInProgress}, []byte{qaInProgress, 'x'}, []byte{})
	f.Add([]byte{}, []byte{0xff}, []byte{qaSuccess})
	f.Add([]byte{qaInProgress}, append([]byte{qaInProgress}, `username="zkpeer",realm="zk-quorum-sasl-md5",nonce="x",cnonce="y",nc=00000001,qop=auth,digest-uri="zookeeper-quorum/zk-quorum-sasl-md5",response=00`...), []byte{qaInProgress})
	f.Fuzz(func(t *testing.T, t1, t2, t3 []byte) {
		in, out := make(chan []byte, 3), make(chan []byte, 2*maxQuorumAuthRounds)
		for _, tok := range [][]byte{t1, t2, t3} {
			in <- tok
		}
		close(in) // then the dialer hangs up
		if err := server.Accept(pipeExchange{in: in, out: out}, 1, nil); err == nil {
			t.Fatalf("accepted %q %q %q", t1, t2, t3)
		}
	})
}

var _ peer.Exchange = pipeExchange{}
