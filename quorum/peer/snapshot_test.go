package peer

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

const (
	snapIndex = 1234
	snapChunk = 256 << 10
	snapSize  = 5<<20 + 12345 // several chunks, the last one short
)

func snapData() []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, snapSize)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func msgSnap(from, to uint64) *pb.Message {
	return &pb.Message{Type: pb.MessageType_MsgSnap.Enum(), From: new(from), To: new(to), Term: new(uint64(3)),
		Snapshot: &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: new(uint64(snapIndex)), Term: new(uint64(3)),
			ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}}
}

// corrupter flips one byte at a given offset of what is written through it.
type corrupter struct {
	net.Conn
	at, off int
}

func (c *corrupter) Write(b []byte) (int, error) {
	if c.at >= c.off && c.at < c.off+len(b) {
		b = bytes.Clone(b)
		b[c.at-c.off] ^= 0x40
	}
	c.off += len(b)
	return c.Conn.Write(b)
}

// gatedReader serves data but stops at pause until gate is closed: a transfer
// that needed the whole file before delivering any of it would never finish.
type gatedReader struct {
	r     *bytes.Reader
	pause int64
	gate  chan struct{}
}

func (g *gatedReader) Read(b []byte) (int, error) {
	pos := int64(g.r.Size()) - int64(g.r.Len())
	if pos >= g.pause {
		<-g.gate
	} else if rest := g.pause - pos; int64(len(b)) > rest {
		b = b[:rest]
	}
	return g.r.Read(b)
}

func (g *gatedReader) Close() error { return nil }

func snapStepped(r *recorder) bool {
	for _, m := range r.stepped() {
		if m.GetType() == pb.MessageType_MsgSnap {
			return true
		}
	}
	return false
}

func TestSnapshotTransfer(t *testing.T) {
	data := snapData()
	hdrFrame := headLen + 8 + proto.Size(msgSnap(1, 2))
	chunks := (snapSize + snapChunk - 1) / snapChunk
	trailerCRC := helloLen + hdrFrame + chunks*(headLen+4) + snapSize + headLen + 8

	type setup struct {
		sender, receiver *member
		received         *bytes.Buffer
	}
	for _, tc := range []struct {
		name string
		// corruptAt, when positive, flips the sender's byte at that offset of the
		// snapshot connection.
		corruptAt int
		open      func(s *setup) func(uint64) (io.ReadCloser, int64, error)
		receive   func(s *setup) func(uint64, io.Reader) error
		during    func(t *testing.T, s *setup) // runs while the transfer is under way
		wantErr   error                        // what the receiver's reader returned, when known
		ok        bool
	}{
		{name: "streams and verifies", ok: true},
		{name: "corrupt chunk", corruptAt: helloLen + hdrFrame + headLen + 4 + 1000, wantErr: ErrChecksum},
		{name: "corrupt chunk checksum", corruptAt: helloLen + hdrFrame + headLen + 1, wantErr: ErrChecksum},
		{name: "corrupt whole-file checksum", corruptAt: trailerCRC, wantErr: ErrChecksum},
		{name: "corrupt frame type", corruptAt: helloLen + hdrFrame + 2*(headLen+4+snapChunk), wantErr: ErrProtocol},
		{name: "receiver fails", receive: func(s *setup) func(uint64, io.Reader) error {
			return func(_ uint64, r io.Reader) error {
				_, _ = io.CopyN(io.Discard, r, 1<<20)
				return errors.New("disk full")
			}
		}},
		{name: "receiver stops reading early", receive: func(s *setup) func(uint64, io.Reader) error {
			return func(_ uint64, r io.Reader) error {
				_, err := io.CopyN(io.Discard, r, 100)
				return err
			}
		}},
		{name: "sender cannot open", open: func(s *setup) func(uint64) (io.ReadCloser, int64, error) {
			return func(uint64) (io.ReadCloser, int64, error) { return nil, 0, errors.New("no such snapshot") }
		}},
		{name: "shorter than announced", open: func(s *setup) func(uint64) (io.ReadCloser, int64, error) {
			return func(uint64) (io.ReadCloser, int64, error) {
				return io.NopCloser(bytes.NewReader(data)), snapSize + 1, nil
			}
		}},
		{name: "longer than announced", open: func(s *setup) func(uint64) (io.ReadCloser, int64, error) {
			return func(uint64) (io.ReadCloser, int64, error) {
				return io.NopCloser(bytes.NewReader(data)), snapSize - 1, nil
			}
		}},
		{name: "receiver stops mid-stream", receive: func(s *setup) func(uint64, io.Reader) error {
			return func(_ uint64, r io.Reader) error {
				if _, err := io.CopyN(io.Discard, r, 1<<20); err != nil {
					return err
				}
				go s.receiver.Stop()
				_, err := io.Copy(io.Discard, r)
				if err == nil {
					return errors.New("the stream ended cleanly after its receiver stopped")
				}
				return err
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := startMembers(t, 2, func(id uint64, cfg *Config) {
				cfg.SnapshotChunkSize = snapChunk
				if id == 1 && tc.corruptAt > 0 {
					cfg.wrapConn = func(kind byte, _ uint64, c net.Conn) net.Conn {
						if kind != kindSnapshot {
							return c
						}
						return &corrupter{Conn: c, at: tc.corruptAt}
					}
				}
			})
			s := &setup{sender: ms[0], receiver: ms[1], received: &bytes.Buffer{}}
			gate := make(chan struct{})
			var gateOnce sync.Once
			s.sender.rec.open = func(uint64) (io.ReadCloser, int64, error) {
				return &gatedReader{r: bytes.NewReader(data), pause: 2 << 20, gate: gate}, snapSize, nil
			}
			if tc.open != nil {
				s.sender.rec.open = tc.open(s)
			}
			s.receiver.rec.receive = func(index uint64, r io.Reader) error {
				if index != snapIndex {
					t.Errorf("receiving snapshot %d", index)
				}
				// Streaming: the first MiB arrives while the sender is still
				// held at 2 MiB.
				_, err := io.CopyN(s.received, r, 1<<20)
				gateOnce.Do(func() { close(gate) })
				if err != nil {
					return err
				}
				if _, err := io.Copy(s.received, r); err != nil {
					return err
				}
				if snapStepped(s.receiver.rec) {
					t.Error("MsgSnap stepped before the snapshot was stored")
				}
				return nil
			}
			if tc.receive != nil {
				s.receiver.rec.receive = tc.receive(s)
				gateOnce.Do(func() { close(gate) })
			}
			defer gateOnce.Do(func() { close(gate) })

			s.sender.Send([]*pb.Message{msgSnap(1, 2)})
			checkFor(t, "ReportSnapshot", func() bool { return len(s.sender.rec.reports()) > 0 })
			reps := s.sender.rec.reports()
			if len(reps) != 1 || reps[0] != (snapReport{id: 2, failed: !tc.ok}) {
				t.Fatalf("ReportSnapshot calls %+v, want one (2, failed=%v)", reps, !tc.ok)
			}
			st := statsOf(s.sender.Transport, 2)
			if tc.ok {
				if !bytes.Equal(s.received.Bytes(), data) {
					t.Fatalf("received %d bytes that differ from the %d sent", s.received.Len(), len(data))
				}
				checkFor(t, "MsgSnap stepped", func() bool { return snapStepped(s.receiver.rec) })
				got := s.receiver.rec.stepped()
				if m := got[len(got)-1]; m.GetSnapshot().GetMetadata().GetIndex() != snapIndex || m.GetFrom() != 1 {
					t.Fatalf("stepped %v", m)
				}
				if st.SnapshotsSent != 1 || statsOf(s.receiver.Transport, 1).SnapshotsRecv != 1 {
					t.Fatalf("stats: sender %+v, receiver %+v", st, statsOf(s.receiver.Transport, 1))
				}
				return
			}
			if st.SnapshotsFailed != 1 || st.LastError == "" {
				t.Fatalf("sender stats after a failure: %+v", st)
			}
			if snapStepped(s.receiver.rec) {
				t.Fatal("a snapshot that failed was stepped")
			}
			if tc.wantErr != nil {
				checkFor(t, "the receiver's error", func() bool {
					s.receiver.rec.mu.Lock()
					defer s.receiver.rec.mu.Unlock()
					return len(s.receiver.rec.snapErrs) > 0
				})
				if err := s.receiver.rec.snapErrs[0]; !errors.Is(err, tc.wantErr) {
					t.Fatalf("the receiver's reader returned %v, want %v", err, tc.wantErr)
				}
			}
		})
	}
}

// A MsgSnap for a member the transport does not know fails at once, and one
// for a member already receiving a snapshot is reported failed without a second
// transfer.
func TestSnapshotToUnknownOrBusyPeerFails(t *testing.T) {
	ms := startMembers(t, 2, nil)
	a, b := ms[0], ms[1]
	a.Send([]*pb.Message{msgSnap(1, 7)})
	if reps := a.rec.reports(); len(reps) != 1 || reps[0] != (snapReport{7, true}) {
		t.Fatalf("reports %+v", reps)
	}

	release := make(chan struct{})
	a.rec.open = func(uint64) (io.ReadCloser, int64, error) {
		return io.NopCloser(bytes.NewReader([]byte("tiny"))), 4, nil
	}
	b.rec.receive = func(_ uint64, r io.Reader) error {
		<-release
		_, err := io.Copy(io.Discard, r)
		return err
	}
	a.Send([]*pb.Message{msgSnap(1, 2)})
	a.Send([]*pb.Message{msgSnap(1, 2)}) // while the first is held by the receiver
	checkFor(t, "the second reported", func() bool { return len(a.rec.reports()) == 2 })
	close(release)
	checkFor(t, "the first reported", func() bool { return len(a.rec.reports()) == 3 })
	reps := a.rec.reports()
	if reps[1] != (snapReport{2, true}) || reps[2] != (snapReport{2, false}) {
		t.Fatalf("reports %+v", reps)
	}
}
