package e2e

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/internal/zktest"
)

// A session on one member of a three-server ensemble moves to another member
// when its server is killed with SIGKILL: go-zookeeper reconnects with the same
// session id and password, the session and its ephemeral live on, and the data
// and child watches it set before the move (sent again with setWatches) fire
// when another client changes the nodes. Run with the first server a follower,
// then the leader, whose loss also costs an election.
func TestSessionMovesBetweenServersWithItsEphemeralAndWatches(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three zkd processes")
	}
	for _, kill := range []string{"follower", "leader"} {
		t.Run("kill="+kill, func(t *testing.T) {
			// The 200 ms tick would cap sessions at 4 s (20 ticks); the move, and
			// with kill=leader an election, must not race the session's expiry on
			// a loaded machine.
			c := zktest.StartProcessCluster(t, 3, ensembleOptions("maxSessionTimeout=30000\n"))
			lead := c.Leader()
			// a is the member the session starts on, b the one it moves to, o the
			// member the other client uses.
			a, b, o := (lead+1)%3, (lead+2)%3, lead
			if kill == "leader" {
				a, b, o = lead, (lead+1)%3, (lead+2)%3
			}
			waitServing(t, c, 0, 1, 2)
			other, _ := zktest.ConnectZK(t, c.Member(o).ConnectString(), 10*time.Second)
			for _, p := range []string{"/move", "/move/data", "/move/kids"} {
				if _, err := other.Create(p, []byte("0"), 0, openACL); err != nil {
					t.Fatal(err)
				}
			}

			moved, states := connectOrdered(t, c.Member(a).ConnectString(), c.Member(b).ConnectString())
			if got := moved.Server(); got != c.Member(a).ConnectString() {
				t.Fatalf("the session started on %s, want member %d at %s", got, a, c.Member(a).ConnectString())
			}
			sid := moved.SessionID()
			if _, err := moved.Create("/move/eph", []byte("mine"), zk.FlagEphemeral, openACL); err != nil {
				t.Fatal(err)
			}
			_, _, dataW, err := moved.GetW("/move/data")
			if err != nil {
				t.Fatal(err)
			}
			_, _, kidsW, err := moved.ChildrenW("/move/kids")
			if err != nil {
				t.Fatal(err)
			}

			c.Member(a).Kill()
			waitState(t, states, zk.StateDisconnected)
			waitState(t, states, zk.StateHasSession)
			if moved.SessionID() != sid {
				t.Fatalf("session 0x%x became 0x%x on reconnect: it was not kept", sid, moved.SessionID())
			}
			if got := moved.Server(); got != c.Member(b).ConnectString() {
				t.Fatalf("the session is on %s, want member %d at %s", got, b, c.Member(b).ConnectString())
			}

			// The session is valid on b: it reads, writes, and owns its ephemeral.
			zktest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
				_, err := moved.Set("/move", []byte("from-b"), -1)
				return err
			})
			for _, r := range []struct {
				who  string
				conn *zk.Conn
			}{{"the moved session", moved}, {"a session on another member", other}} {
				var data []byte
				var stat *zk.Stat
				mustRetry(t, r.who+" reads /move/eph", func() (err error) {
					data, stat, err = r.conn.Get("/move/eph")
					return err
				})
				if string(data) != "mine" || stat.EphemeralOwner != sid {
					t.Fatalf("after the move %s reads /move/eph = %q owned by 0x%x; want \"mine\" owned by 0x%x",
						r.who, data, stat.EphemeralOwner, sid)
				}
			}

			// The watches set on a were not triggered by the move; they fire for
			// changes made through o.
			zktest.NoEvent(t, dataW)
			zktest.NoEvent(t, kidsW)
			mustRetry(t, "set /move/data", setAny(other, "/move/data", []byte("1")))
			zktest.ExpectEvent(t, dataW, zk.EventNodeDataChanged, "/move/data")
			mustRetry(t, "create /move/kids/k", createOnce(other, "/move/kids/k", nil))
			zktest.ExpectEvent(t, kidsW, zk.EventNodeChildrenChanged, "/move/kids")

			// Closing the moved session removes its ephemeral everywhere.
			moved.Close()
			zktest.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
				ok, _, err := other.Exists("/move/eph")
				if err != nil {
					return err
				}
				if ok {
					return errors.New("the ephemeral outlived its closed session")
				}
				return nil
			})
		})
	}
}

// connectOrdered opens a go-zookeeper session that tries the given servers in
// order (orderedHosts), and waits until it has a session. The channel carries its
// session state changes; it is closed in Cleanup.
func connectOrdered(t *testing.T, servers ...string) (*zk.Conn, <-chan zk.State) {
	t.Helper()
	states := make(chan zk.State, 1024)
	record := func(e zk.Event) {
		if e.Type != zk.EventSession {
			return
		}
		select {
		case states <- e.State:
		default:
		}
	}
	conn, _, err := zk.Connect(servers, 20*time.Second, zk.WithHostProvider(newOrderedHosts(servers...)),
		zk.WithLogger(zktest.NopLogger), zk.WithLogInfo(false), zk.WithEventCallback(record))
	if err != nil {
		t.Fatalf("zk.Connect %s: %v", strings.Join(servers, ","), err)
	}
	t.Cleanup(conn.Close)
	waitState(t, states, zk.StateHasSession)
	return conn, states
}

// waitState reads session states until want arrives.
func waitState(t *testing.T, states <-chan zk.State, want zk.State) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case s := <-states:
			if s == want {
				return
			}
		case <-timeout:
			t.Fatalf("the session never reached %v", want)
		}
	}
}
