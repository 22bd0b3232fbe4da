package quorum

import (
	"errors"
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// ChangeType is one kind of membership change.
type ChangeType int

const (
	// AddVoter adds a voter, or promotes a learner.
	AddVoter ChangeType = iota + 1
	// AddLearner adds a learner (ZooKeeper's observer), or demotes a voter.
	AddLearner
	// Remove removes a voter or learner.
	Remove
)

// MemberChange is one change of a ConfChange.
type MemberChange struct {
	Type ChangeType
	ID   uint64
}

// ConfChange is a membership change carried out as one raft ConfChangeV2: joint
// consensus whenever more than one voter changes, left automatically. Context
// travels with the entry and reaches the Applier as the entry's Data.
type ConfChange struct {
	Changes []MemberChange
	Context []byte
	// Joint enters joint consensus even when only one voter changes (raft's
	// implicit transition, left automatically): a voter being removed then stays
	// in the outgoing half until the change is left, so it applies the change.
	Joint bool
}

// ErrConfChangePending is passed to a conf change's rejected callback when an
// earlier one is not yet applied: raft would otherwise turn the new one silently
// into an empty entry (design/consensus.md §1 pitfall (b)).
var ErrConfChangePending = errors.New("quorum: a membership change is already in progress")

type confRequest struct {
	cc       ConfChange
	rejected func(error)
}

// ProposeConfChange queues a membership change; see Propose for what happens to
// it. The leader refuses it while another change is uncommitted or unapplied.
func (n *Node) ProposeConfChange(cc ConfChange, rejected func(error)) error {
	n.mu.Lock()
	if n.mu.stopped {
		n.mu.Unlock()
		return ErrStopped
	}
	n.mu.confs = append(n.mu.confs, confRequest{cc: cc, rejected: rejected})
	n.mu.Unlock()
	n.wake()
	return nil
}

func (n *Node) proposeConfChanges(reqs []confRequest) {
	for _, r := range reqs {
		if err := n.proposeConfChange(r.cc); err != nil && r.rejected != nil {
			r.rejected(err)
		}
	}
}

func (n *Node) proposeConfChange(cc ConfChange) error {
	if n.failed != nil {
		return n.failed
	}
	st := n.rn.BasicStatus()
	if st.RaftState.String() == "StateLeader" && n.pendingConfChange() {
		return ErrConfChangePending
	}
	v2 := &pb.ConfChangeV2{Context: cc.Context}
	if cc.Joint {
		v2.Transition = pb.ConfChangeTransition_ConfChangeTransitionJointImplicit.Enum()
	}
	for _, c := range cc.Changes {
		var t pb.ConfChangeType
		switch c.Type {
		case AddVoter:
			t = pb.ConfChangeAddNode
		case AddLearner:
			t = pb.ConfChangeAddLearnerNode
		case Remove:
			t = pb.ConfChangeRemoveNode
		default:
			return fmt.Errorf("quorum: unknown change type %d", c.Type)
		}
		v2.Changes = append(v2.Changes, &pb.ConfChangeSingle{Type: t.Enum(), NodeId: new(c.ID)})
	}
	if err := n.rn.ProposeConfChange(v2); err != nil {
		return fmt.Errorf("%w: %w", ErrDropped, err)
	}
	return nil
}

// pendingConfChange reports whether raft would take a conf change proposed now
// for one still pending, which it does not refuse but replaces with an empty
// entry, so that nobody would hear of it again. Its pendingConfIndex is not
// exported; it is the index of the last conf change proposed, or, on a new
// leader, the log's end when it was elected. So a change is pending while the
// log above the applied index holds a conf change or an entry of an earlier
// term.
func (n *Node) pendingConfChange() bool {
	st := n.rn.Status()
	last, _ := n.st.LastIndex()
	if st.Applied >= last {
		return false
	}
	ents, err := n.st.Entries(st.Applied+1, last+1, 64<<20)
	if err != nil {
		return true // cannot tell: be safe
	}
	for _, e := range ents {
		if e.GetType() != pb.EntryNormal || e.GetTerm() < st.GetTerm() {
			return true
		}
	}
	return false
}

// confChangeContext returns the Context of a conf change entry's data.
func confChangeContext(e *pb.Entry) ([]byte, pb.ConfChangeI, error) {
	if e.GetType() == pb.EntryConfChange {
		var c pb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &c); err != nil {
			return nil, nil, err
		}
		return c.GetContext(), &c, nil
	}
	var c pb.ConfChangeV2
	if err := proto.Unmarshal(e.GetData(), &c); err != nil {
		return nil, nil, err
	}
	return c.GetContext(), &c, nil
}
