package server_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"zkd/internal/zktest"
	"zkd/jute"
)

// wireConn is a client speaking frames over a real socket.
type wireConn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialWire(t *testing.T, addr string) *wireConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &wireConn{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func (w *wireConn) send(payload []byte) {
	w.t.Helper()
	if _, err := w.nc.Write(binary.BigEndian.AppendUint32(nil, uint32(len(payload)))); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.nc.Write(payload); err != nil {
		w.t.Fatal(err)
	}
}

// frame reads one frame; ok is false once the server has closed the connection.
func (w *wireConn) frame() ([]byte, bool) {
	w.t.Helper()
	var n [4]byte
	if _, err := io.ReadFull(w.r, n[:]); err != nil {
		return nil, false
	}
	b := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(w.r, b); err != nil {
		return nil, false
	}
	return b, true
}

func (w *wireConn) call(xid int32, op jute.OpCode, rec jute.Record) jute.ReplyHeader {
	w.t.Helper()
	w.send(rec.Append((&jute.RequestHeader{Xid: xid, Type: op}).Append(nil)))
	b, ok := w.frame()
	if !ok {
		w.t.Fatalf("%v: connection closed", op)
	}
	var h jute.ReplyHeader
	d := jute.NewDecoder(b)
	h.Decode(&d)
	return h
}

// A member of a 3-server ensemble with readonlymode.enabled and local sessions,
// cut off from both others, serves read-only clients: reads answer, writes and
// sync get NOTREADONLY, isro says ro, srvr says read-only, and clients that did
// not ask for read-only are refused. When the others come back it ends the
// read-only sessions and serves read-write again (spec/semantics.md §14).
func TestMemberWithoutQuorumServesReadOnlyClients(t *testing.T) {
	c3 := zktest.StartCluster(t, 3, zktest.ClusterOptions{
		Extra: "readonlymode.enabled=true\nlocalSessionsEnabled=true\nlocalSessionsUpgradingEnabled=true"})
	lead := c3.Leader()
	survivor := (lead + 1) % 3
	addr := c3.Addr(survivor)
	conn, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogger(zktest.NopLogger))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Create("/kept", []byte("v"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	var stopped []int
	for i := range c3.N() {
		if i != survivor {
			c3.Stop(i)
			stopped = append(stopped, i)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for isro(t, addr) != "ro" {
		if time.Now().After(deadline) {
			t.Fatal("the member without a quorum never turned read-only")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := c3.Member(survivor).Replica().Mode(); got != "read-only" {
		t.Fatalf("mode %q, want read-only", got)
	}

	rw := dialWire(t, addr)
	rw.send((&jute.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16), HasReadOnly: true}).Append(nil))
	if b, ok := rw.frame(); ok {
		t.Fatalf("a read-write client was answered % x by a read-only server", b)
	}

	ro := dialWire(t, addr)
	ro.send((&jute.ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16), HasReadOnly: true, ReadOnly: true}).Append(nil))
	b, ok := ro.frame()
	if !ok {
		t.Fatal("the read-only client was refused")
	}
	var resp jute.ConnectResponse
	d := jute.NewDecoder(b)
	resp.Decode(&d)
	if resp.SessionID == 0 || !resp.ReadOnly || resp.SessionID>>56 != int64(survivor+1) {
		t.Fatalf("ConnectResponse %+v: want a read-only session of myid %d", resp, survivor+1)
	}
	if h := ro.call(1, jute.OpGetData, &jute.PathWatchRequest{Path: "/kept"}); h.Err != jute.CodeOK {
		t.Fatalf("getData on the read-only member: %v", h.Err)
	}
	if h := ro.call(2, jute.OpCreate, &jute.CreateRequest{Path: "/no", ACL: jute.OpenACLUnsafe}); h.Err != jute.CodeNotReadOnly {
		t.Fatalf("create on the read-only member: %v, want NOTREADONLY", h.Err)
	}
	if h := ro.call(3, jute.OpSync, &jute.PathRequest{Path: "/"}); h.Err != jute.CodeNotReadOnly {
		t.Fatalf("sync on the read-only member: %v, want NOTREADONLY", h.Err)
	}

	for _, i := range stopped {
		c3.Restart(i)
	}
	// The quorum is back: the read-only session ends (its connection closes)
	// and the member takes read-write clients and writes again.
	_ = ro.nc.SetDeadline(time.Now().Add(30 * time.Second))
	for {
		if _, ok := ro.frame(); !ok {
			break
		}
	}
	conn, _, err = zk.Connect([]string{addr}, 10*time.Second, zk.WithLogger(zktest.NopLogger))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline = time.Now().Add(30 * time.Second)
	for {
		_, err := conn.Create("/after", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write after the quorum came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := isro(t, addr); got != "rw" {
		t.Fatalf("isro = %q after the quorum came back", got)
	}
}

func isro(t *testing.T, addr string) string {
	t.Helper()
	got, err := zktest.FourLetterWord(addr, "isro")
	if err != nil {
		t.Fatal(err)
	}
	return got
}
