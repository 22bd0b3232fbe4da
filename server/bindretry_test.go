package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zkd/internal/testutil"
	"zkd/internal/zktest"
	"zkd/server"
	"zkd/zoocfg"
)

// A quorum port that cannot be bound yet is tried again a second later,
// electionPortBindRetry times (0: for ever), as ZooKeeper tries its election
// port; once it is free the member starts.
func TestQuorumPortBindIsRetried(t *testing.T) {
	blocker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	quorumPort := blocker.Addr().(*net.TCPAddr).Port
	config := func(retries int) zoocfg.Config {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "myid"), []byte("1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		text := fmt.Sprintf("tickTime=100\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nadmin.enableServer=false\n"+
			"standaloneEnabled=false\nelectionPortBindRetry=%d\nserver.1=127.0.0.1:%d:%d;127.0.0.1:%d\n",
			dir, retries, quorumPort, testutil.FreePort(t), testutil.FreePort(t))
		cfg, err := zoocfg.Parse(filepath.Join(dir, "zoo.cfg"), []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	// Two tries, the port busy for both: the start fails and says why.
	log := &zktest.LogBuffer{}
	if s, err := zktest.Start(config(2), log.Logger()); err == nil {
		_ = s.Stop()
		t.Fatal("started on a busy quorum port")
	} else if !strings.Contains(err.Error(), "tried 2 times") || !strings.Contains(err.Error(), "electionPortBindRetry") {
		t.Fatalf("start: %v", err)
	}
	if n := strings.Count(log.String(), "cannot bind the quorum port"); n != 1 {
		t.Fatalf("%d retries logged, want 1:\n%s", n, log.String())
	}

	// For ever: the start waits until the port is freed.
	log = &zktest.LogBuffer{}
	started := make(chan error, 1)
	var s *server.Server
	go func() {
		var err error
		s, err = zktest.Start(config(0), log.Logger())
		started <- err
	}()
	zktest.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		if !strings.Contains(log.String(), "cannot bind the quorum port") {
			return fmt.Errorf("no failed bind logged yet")
		}
		return nil
	})
	blocker.Close()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start once the port was free: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the start did not finish once the port was free")
	}
	defer s.Stop()

	// A start given up on (its context cancelled) stops trying at once.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	quorumPort = busy.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := server.Start(ctx, config(0), server.Options{Version: "test", Logger: log.Logger()}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled start: %v", err)
	}
}
