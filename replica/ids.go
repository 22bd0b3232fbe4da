package replica

import "strconv"

// RaftID is the raft id of the server with ZooKeeper server id myid in its
// incarnation: myid in the high half, so that a raft id reads as a myid in logs
// and /zookeeper/config's server.N lines map to raft members, and an incarnation
// below it, so that a myid used again after its server was removed never reuses
// a raft id (raft forbids it). The members of a bootstrapped ensemble are
// incarnation 1; a server added by reconfig draws a fresh one.
func RaftID(myid int64, incarnation uint32) uint64 { return uint64(myid)<<32 | uint64(incarnation) }

// ServerID is the ZooKeeper server id (myid) of a raft id.
func ServerID(raftID uint64) int64 { return int64(raftID >> 32) }

// Label names a member in logs by its server.N line ("server.3"), with its
// incarnation when it is not the first ("server.3#2").
func Label(raftID uint64) string {
	if raftID == 0 {
		return "none"
	}
	s := "server." + strconv.FormatInt(ServerID(raftID), 10)
	if inc := uint32(raftID); inc != 1 {
		s += "#" + strconv.FormatUint(uint64(inc), 10)
	}
	return s
}
