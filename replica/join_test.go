package replica_test

import (
	"bytes"
	"slices"
	"testing"

	"zkd/jute"
	"zkd/replica"
)

// A plain join request keeps version 1, which every zkd reads; a view-only one
// is version 2 with a flags byte. Anything else is refused.
func TestJoinRequestWireFormat(t *testing.T) {
	id := replica.RaftID(4, 9)
	body := jute.AppendString(jute.AppendLong(jute.AppendLong(nil, 4), int64(id)), "127.0.0.1:20004")
	for _, c := range []struct {
		q    replica.JoinRequest
		want []byte
	}{
		{replica.JoinRequest{MyID: 4, ID: id, Addr: "127.0.0.1:20004"}, append([]byte{1}, body...)},
		{replica.JoinRequest{MyID: 4, ID: id, Addr: "127.0.0.1:20004", ViewOnly: true}, append(append([]byte{2}, body...), 1)},
	} {
		b := c.q.Marshal()
		if !bytes.Equal(b, c.want) {
			t.Fatalf("%+v: % x, want % x", c.q, b, c.want)
		}
		if got, err := replica.UnmarshalJoinRequest(b); err != nil || got != c.q {
			t.Fatalf("%+v: decoded %+v, %v", c.q, got, err)
		}
		for n := range len(b) {
			if _, err := replica.UnmarshalJoinRequest(b[:n]); err == nil {
				t.Fatalf("%+v: %d of %d bytes accepted", c.q, n, len(b))
			}
		}
		if _, err := replica.UnmarshalJoinRequest(append(b, 0)); err == nil {
			t.Fatalf("%+v: a trailing byte accepted", c.q)
		}
	}
	for _, bad := range [][]byte{
		append(append([]byte{2}, body...), 3), // a flag not defined
		append([]byte{3}, body...),            // a version not defined
	} {
		if _, err := replica.UnmarshalJoinRequest(bad); err == nil {
			t.Fatalf("% x accepted", bad)
		}
	}
}

// A view-only ask is answered with the member's view and leaves no trace: a
// reconfig naming the asker's server id is refused as for a server never heard
// of, where after a plain ask the leader would stage it as a learner first.
func TestViewOnlyAskIsNotAJoinRequest(t *testing.T) {
	c, cl := reconfigCluster(t, 107)
	lead := c.Member(c.Leader())
	q := replica.JoinRequest{MyID: 4, ID: replica.RaftID(4, 9), Addr: "127.0.0.1:20004", ViewOnly: true}
	v, err := replica.UnmarshalJoinView(lead.Rep.HandleJoin(q.Marshal()))
	if err != nil || v.Status != replica.JoinMember || v.ID != lead.ID || v.ConfigVersion() != lead.Rep.Ensemble().Version {
		t.Fatalf("view %+v, %v", v, err)
	}
	staged := false
	c.AfterStep = func() { staged = staged || slices.Contains(lead.Rep.Ensemble().Raft.Members(), q.ID) }
	o := wait(t, c, "the reconfig", cl.Reconfig(joining(4, "participant"), nil, nil, -1))
	if o.Err != nil || o.Res.Err != jute.CodeNewConfigNoQuorum || staged {
		t.Fatalf("a reconfig adding a server that only asked for a view: %v %v (staged: %v), want NEWCONFIGNOQUORUM",
			o.Err, o.Res.Err, staged)
	}
}
