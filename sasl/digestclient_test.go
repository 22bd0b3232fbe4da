package sasl

import (
	"errors"
	"math/rand"
	"testing"
)

const quorumJAAS = `
QuorumServer {
	org.apache.zookeeper.server.auth.DigestLoginModule required
	user_learner="learnerpw";
};
QuorumLearner {
	org.apache.zookeeper.server.auth.DigestLoginModule required
	username="learner"
	password="learnerpw";
};
QuorumLearnerWrong {
	org.apache.zookeeper.server.auth.DigestLoginModule required
	username="learner"
	password="nope";
};
`

func quorumProvider(t *testing.T) *Provider {
	t.Helper()
	j, err := ParseJAAS(quorumJAAS, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProvider(QuorumConfig("QuorumServer"), j, quietEnv(7))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// converse runs a client against a server to the end; it returns the first error.
func converse(c *DigestClient, s Server) error {
	tok, _ := c.Start()
	for i := 0; i < 4; i++ {
		ch, err := s.Evaluate(tok)
		if err != nil {
			return err
		}
		if tok, err = c.Evaluate(ch); err != nil {
			return err
		}
		if tok == nil {
			return nil
		}
	}
	return errors.New("exchange did not end")
}

func TestDigestClientAgainstQuorumServer(t *testing.T) {
	p := quorumProvider(t)
	j, _ := ParseJAAS(quorumJAAS, nil)
	user, pw, err := DigestCredentials(j, "QuorumLearner")
	if err != nil || user != "learner" || pw != "learnerpw" {
		t.Fatalf("credentials %q %q %v", user, pw, err)
	}

	s := p.NewServer(nil)
	c := NewDigestClient(user, pw, QuorumProtocol, QuorumServerName, rand.New(rand.NewSource(1)))
	if err := converse(c, s); err != nil {
		t.Fatal(err)
	}
	if !c.Complete() || !s.Complete() || s.AuthorizationID() != "learner" {
		t.Fatalf("client complete %v, server complete %v id %q", c.Complete(), s.Complete(), s.AuthorizationID())
	}

	t.Run("wrong password", func(t *testing.T) {
		s := p.NewServer(nil)
		c := NewDigestClient("learner", "nope", QuorumProtocol, QuorumServerName, rand.New(rand.NewSource(2)))
		if err := converse(c, s); !errors.Is(err, ErrAuthFailed) || s.Complete() || c.Complete() {
			t.Fatalf("err %v, server complete %v", err, s.Complete())
		}
	})
	t.Run("client port names", func(t *testing.T) {
		// A learner speaking the client port's realm and digest-uri is refused.
		s := p.NewServer(nil)
		c := NewDigestClient("learner", "learnerpw", ClientProtocol, ClientServerName, rand.New(rand.NewSource(3)))
		if err := converse(c, s); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("server that does not know the password", func(t *testing.T) {
		// The server accepts (a forged one would), but its rspauth cannot prove it.
		c := NewDigestClient("learner", "learnerpw", QuorumProtocol, QuorumServerName, rand.New(rand.NewSource(4)))
		first, _ := c.Start()
		ch, err := p.NewServer(nil).Evaluate(first)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Evaluate(ch); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Evaluate([]byte("rspauth=00000000000000000000000000000000")); !errors.Is(err, ErrAuthFailed) || c.Complete() {
			t.Fatalf("forged rspauth: %v", err)
		}
	})
	t.Run("no QuorumLearner credentials", func(t *testing.T) {
		if _, _, err := DigestCredentials(j, "Missing"); !errors.Is(err, ErrNoSection) {
			t.Fatalf("missing section: %v", err)
		}
		if _, _, err := DigestCredentials(j, "QuorumServer"); !errors.Is(err, ErrJAAS) {
			t.Fatalf("section without username: %v", err)
		}
	})
}

func FuzzDigestClientChallenge(f *testing.F) {
	f.Add([]byte(`realm="zk-quorum-sasl-md5",nonce="abc",charset=utf-8,algorithm=md5-sess`))
	f.Add([]byte(`nonce="",algorithm=md5-sess`))
	f.Add([]byte(`rspauth=1`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := NewDigestClient("u", "p", QuorumProtocol, QuorumServerName, rand.New(rand.NewSource(1)))
		out, err := c.Evaluate(b)
		if err == nil && len(out) == 0 {
			t.Fatal("accepted a challenge without a response")
		}
		if _, err := c.Evaluate(b); err == nil && c.Complete() {
			t.Fatal("completed without the server's proof")
		}
	})
}
