package quorum

import (
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"
)

// maxAckSamples bounds the sampled entries a leader follows: a member that
// has not acknowledged one by the time four newer ones were sampled is
// behind, and its figure for that one is not worth keeping state for.
const maxAckSamples = 4

// ackSample is an entry whose acknowledgements the leader follows.
type ackSample struct {
	index uint64
	data  []byte   // the entry's data (raft's, never modified)
	acked []uint64 // members that acknowledged it
}

// sampleAcks records, on the leader, the entries of ents to follow.
func (n *Node) sampleAcks(ents []*pb.Entry) {
	if n.entries == nil {
		return
	}
	for _, e := range ents {
		if e.GetIndex()%n.cfg.AckSampleEvery != 0 || e.GetType() != pb.EntryNormal || len(e.GetData()) == 0 {
			continue
		}
		if len(n.ackSamples) == maxAckSamples {
			n.ackSamples = slices.Delete(n.ackSamples, 0, 1)
		}
		n.ackSamples = append(n.ackSamples, ackSample{index: e.GetIndex(), data: e.GetData()})
	}
}

// noticeAck tells the entry observer of a member's first acknowledgement of
// each sampled entry, before raft sees the message. As in ZooKeeper, only the
// acknowledgements that come before the entry commits count: the ones a
// quorum needed.
func (n *Node) noticeAck(m *pb.Message) {
	if len(n.ackSamples) == 0 || m.GetType() != pb.MessageType_MsgAppResp || m.GetReject() {
		return
	}
	if n.lead != n.cfg.ID {
		n.ackSamples = n.ackSamples[:0]
		return
	}
	n.acked(m.GetFrom(), m.GetIndex())
}

// acked records that member holds the log up to index. Samples that have
// committed are dropped: no later acknowledgement of them counts.
func (n *Node) acked(member, index uint64) {
	st := n.rn.BasicStatus()
	commit := st.HardState.GetCommit() // raft's own, moved by the acknowledgements stepped so far
	n.ackSamples = slices.DeleteFunc(n.ackSamples, func(s ackSample) bool { return s.index <= commit })
	for i := range n.ackSamples {
		s := &n.ackSamples[i]
		if s.index > index || slices.Contains(s.acked, member) {
			continue
		}
		s.acked = append(s.acked, member)
		n.entries.Acknowledged(member, s.data)
	}
}
