package tests

import (
	"net"
	"testing"

	"zkd/internal/zktest"
	"zkd/zoocfg"
)

// clientPortListenBacklog sets the client port's accept queue, as ZooKeeper
// passes it to its listening socket; without it the kernel's somaxconn stays.
func TestClientPortListenBacklog(t *testing.T) {
	maxConn, err := zktest.SoMaxConn()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		backlog int
		want    int
	}{
		{"set", 13, min(13, maxConn)},
		{"over somaxconn", maxConn + 100, maxConn},
		{"default", -1, maxConn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := zktest.StartServer(t, func(c *zoocfg.Config) { c.ClientPortListenBacklog = tc.backlog })
			got, err := zktest.ListenBacklog(s.Addr().(*net.TCPAddr).Port)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("backlog %d with clientPortListenBacklog=%d, want %d", got, tc.backlog, tc.want)
			}
		})
	}
}
