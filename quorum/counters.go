package quorum

import (
	"sync/atomic"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Counters are the node's traffic counts since it started, for mntr
// (learner_proposal_received_count, snap_count).
type Counters struct {
	// EntriesReceived counts the log entries this member took from a leader
	// (ZooKeeper's proposals received by a learner).
	EntriesReceived uint64
	// SnapshotsSent counts the snapshots this member sent, while leading, to
	// members too far behind for its log (ZooKeeper's SNAP syncs).
	SnapshotsSent uint64
	// Failures counts the log failures after which the node stopped writing
	// (ZooKeeper's unrecoverable errors): 0 or 1.
	Failures uint64
}

type counters struct {
	entriesReceived atomic.Uint64
	snapshotsSent   atomic.Uint64
	failures        atomic.Uint64
}

// Counters returns the node's counters.
func (n *Node) Counters() Counters {
	return Counters{EntriesReceived: n.counters.entriesReceived.Load(), SnapshotsSent: n.counters.snapshotsSent.Load(),
		Failures: n.counters.failures.Load()}
}

// countSent counts the snapshots among messages about to be sent.
func (c *counters) countSent(msgs []*pb.Message) {
	for _, m := range msgs {
		if m.GetType() == pb.MessageType_MsgSnap {
			c.snapshotsSent.Add(1)
		}
	}
}
