package sasl

import (
	"bytes"
	"errors"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

func testKey(t testing.TB, etype int32) types.EncryptionKey {
	t.Helper()
	et, err := crypto.GetEtype(etype)
	if err != nil {
		t.Fatal(err)
	}
	k := make([]byte, et.GetKeyByteSize())
	for i := range k {
		k[i] = byte(i * 7)
	}
	return types.EncryptionKey{KeyType: etype, KeyValue: k}
}

func TestWrapTokensRoundTrip(t *testing.T) {
	for _, etype := range []int32{17, 18, 19, 20} {
		key := testKey(t, etype)
		payload := []byte{1, 0, 0, 0, 'z', 'k'}
		tok, err := buildWrap(key, wrapSentByAcceptor, 42, payload)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseWrap(tok, key, true)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("etype %d: %q %v", etype, got, err)
		}
		if _, err := ParseWrap(tok, key, false); !errors.Is(err, ErrGSSToken) {
			t.Fatalf("etype %d: token from the acceptor accepted as the initiator's: %v", etype, err)
		}
		bad := bytes.Clone(tok)
		bad[len(bad)-1] ^= 1
		if _, err := ParseWrap(bad, key, true); !errors.Is(err, ErrGSSToken) {
			t.Fatalf("etype %d: corrupted checksum accepted: %v", etype, err)
		}
		// The same token rotated right by 5 (RRC) must read the same.
		body := tok[16:]
		r := 5 % len(body)
		rot := append(append(bytes.Clone(tok[:16]), body[len(body)-r:]...), body[:len(body)-r]...)
		rot[7] = byte(r)
		if got, err := ParseWrap(rot, key, true); err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("etype %d rotated: %q %v", etype, got, err)
		}
	}
}

// TestSealedWrapTokenFromInitiator builds a confidential Wrap token as RFC 4121
// §4.2.4 describes (what MIT-based clients may send) and reads it back.
func TestSealedWrapTokenFromInitiator(t *testing.T) {
	key := testKey(t, 18)
	et, _ := crypto.GetEtype(18)
	payload := []byte{1, 0, 0, 0, 'a', 'b', 'c'}
	const ec = 3
	hdr := wrapHeader(wrapSealed, ec, 0, 7)
	plain := append(append(bytes.Clone(payload), make([]byte, ec)...), hdr...)
	_, ct, err := et.EncryptMessage(key.KeyValue, plain, keyusage.GSSAPI_INITIATOR_SEAL)
	if err != nil {
		t.Fatal(err)
	}
	tok := append(wrapHeader(wrapSealed, ec, 0, 7), ct...)
	got, err := ParseWrap(tok, key, false)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("%q %v", got, err)
	}
}

func TestParseInitialToken(t *testing.T) {
	inner := append([]byte{0x01, 0x00}, []byte("ap-req")...)
	tok := frameInitial(tokIDAPReq, []byte("ap-req"))
	mech, got, err := ParseInitialToken(tok)
	if err != nil || !mech.Equal(oidKrb5) || !bytes.Equal(got, inner) {
		t.Fatalf("%v %q %v", mech, got, err)
	}
	long := frameInitial(tokIDAPReq, bytes.Repeat([]byte{1}, 300)) // two-byte length
	if _, got, err := ParseInitialToken(long); err != nil || len(got) != 302 {
		t.Fatalf("long: %d %v", len(got), err)
	}
	for _, bad := range [][]byte{nil, {0x60}, {0x60, 0x05, 0x06}, {0x61, 0x00}, {0x60, 0x84, 0xff, 0xff, 0xff, 0xff}, {0x60, 0x02, 0x04, 0x00}, tok[:len(tok)-1]} {
		if _, _, err := ParseInitialToken(bad); !errors.Is(err, ErrGSSToken) {
			t.Errorf("ParseInitialToken(% x) = %v", bad, err)
		}
	}
}

func FuzzGSSAPIServerTokens(f *testing.F) {
	f.Add(frameInitial(tokIDAPReq, []byte{0x6e, 0x03, 0x30, 0x01, 0x00}))
	f.Add([]byte{0x60, 0x80})
	f.Add(wrapHeader(0, 12, 3, 1))
	key := testKey(f, 18)
	p := &Provider{cfg: DefaultConfig(), krb: &krbAcceptor{realm: "R"}, env: quietEnv(3)}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := &gssapiServer{p: p}
		if _, err := s.Evaluate(b); err == nil {
			t.Fatalf("random initial token accepted: % x", b)
		}
		if _, err := ParseWrap(b, key, false); err == nil && len(b) < 16 {
			t.Fatal("short Wrap token accepted")
		}
	})
}
