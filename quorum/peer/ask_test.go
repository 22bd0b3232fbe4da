package peer

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// askRecorder is a recorder that also answers asks.
type askRecorder struct {
	*recorder
}

func (a askRecorder) HandleAsk(from uint64, q []byte) []byte {
	return fmt.Appendf(nil, "%d asked %s", from, q)
}

// An ask is answered whatever the asker's id (it need not be a peer), on a
// connection of its own, and refused by a member whose handler does not answer
// asks; the streams are not disturbed.
func TestAskFromAnyServer(t *testing.T) {
	h := askRecorder{newRecorder()}
	tr, err := New(testConfig(1, h))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	got, err := Ask(context.Background(), AskConfig{From: 99}, tr.Addr(), []byte("who leads?"))
	if err != nil || string(got) != "99 asked who leads?" {
		t.Fatalf("ask: %q %v", got, err)
	}
	other, err := New(testConfig(2, newRecorder()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Stop()
	if got, err := other.Ask(context.Background(), tr.Addr(), nil); err != nil || string(got) != "2 asked " {
		t.Fatalf("ask through a transport: %q %v", got, err)
	}
	if _, err := tr.Ask(context.Background(), other.Addr(), []byte("x")); !errors.Is(err, ErrRefused) {
		t.Fatalf("a member without an Asker: %v", err)
	}
	if _, err := Ask(context.Background(), AskConfig{From: 1}, "127.0.0.1:1", nil); err == nil {
		t.Fatal("ask to a closed port succeeded")
	}
	// A member with several addresses is asked at the next when one is dead.
	if got, err := Ask(context.Background(), AskConfig{From: 7}, "127.0.0.1:1|"+tr.Addr(), []byte("q")); err != nil || string(got) != "7 asked q" {
		t.Fatalf("ask past a dead address: %q %v", got, err)
	}
}
