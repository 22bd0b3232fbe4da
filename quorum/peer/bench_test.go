package peer

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// window is how many messages the benchmarks keep in flight: enough to keep the
// stream busy, well under the queue's bounds, so that nothing is dropped.
const window = 2048

// BenchmarkStream measures one stream's throughput over loopback: messages of
// size bytes from one transport to another, batched by the writer. App messages
// are SendApp calls; raft messages are MsgApps of one entry, sent 64 to a Send
// call as a Ready would.
func BenchmarkStream(b *testing.B) {
	for _, kind := range []string{"app", "raft"} {
		for _, size := range []int{64, 1024, 16384} {
			b.Run(fmt.Sprintf("kind=%s/size=%d", kind, size), func(b *testing.B) {
				benchStream(b, kind, size)
			})
		}
	}
}

func benchStream(b *testing.B, kind string, size int) {
	ms := startMembers(b, 2, nil)
	a, c := ms[0], ms[1]
	var got atomic.Int64
	c.rec.onApp = func(uint64, []byte) { got.Add(1) }
	c.rec.onStep = func(*pb.Message) { got.Add(1) }
	payload := make([]byte, size)
	const perSend = 64
	msgs := make([]*pb.Message, perSend)
	for i := range msgs {
		msgs[i] = msgApp(1, 2, uint64(i), size)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	sent := 0
	for sent < b.N {
		for int64(sent)-got.Load() > window {
			time.Sleep(20 * time.Microsecond)
		}
		switch kind {
		case "app":
			if !a.SendApp(2, payload) {
				b.Fatal("SendApp refused")
			}
			sent++
		case "raft":
			n := min(perSend, b.N-sent)
			a.Send(msgs[:n])
			sent += n
		}
	}
	for got.Load() < int64(b.N) {
		time.Sleep(20 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	st := statsOf(a.Transport, 2)
	if st.Dropped != 0 {
		b.Fatalf("dropped %d", st.Dropped)
	}
	if st.Writes > 0 {
		b.ReportMetric(float64(st.MsgsSent)/float64(st.Writes), "msgs/write")
	}
}

// BenchmarkRoundTrip measures the latency of one message there and back: an
// app message answered by an app message, and a raft heartbeat answered by its
// response, one at a time (ns/op is the round trip).
func BenchmarkRoundTrip(b *testing.B) {
	for _, kind := range []string{"app", "raft"} {
		b.Run("kind="+kind, func(b *testing.B) {
			ms := startMembers(b, 2, nil)
			a, c := ms[0], ms[1]
			back := make(chan struct{}, 1)
			ping := []byte("ping")
			hb := &pb.Message{Type: pb.MessageType_MsgHeartbeat.Enum(), From: new(uint64(1)), To: new(uint64(2)),
				Term: new(uint64(1))}
			resp := &pb.Message{Type: pb.MessageType_MsgHeartbeatResp.Enum(), From: new(uint64(2)), To: new(uint64(1)),
				Term: new(uint64(1))}
			c.rec.onApp = func(uint64, []byte) { c.SendApp(1, ping) }
			c.rec.onStep = func(*pb.Message) { c.Send([]*pb.Message{resp}) }
			a.rec.onApp = func(uint64, []byte) { back <- struct{}{} }
			a.rec.onStep = func(*pb.Message) { back <- struct{}{} }
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if kind == "app" {
					a.SendApp(2, ping)
				} else {
					a.Send([]*pb.Message{hb})
				}
				select {
				case <-back:
				case <-time.After(waitLimit):
					b.Fatal("no answer")
				}
			}
		})
	}
}
