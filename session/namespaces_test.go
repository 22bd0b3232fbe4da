package session_test

import (
	"testing"

	"zkd/datatree"
	"zkd/jute"
	"zkd/replica/replicatest"
	"zkd/session"
)

// BenchmarkGetDataCounted is a getData as the event loops make it, with what
// it costs to count it in read_per_namespace (tree, replica and session), from
// every core at once; BenchmarkGetDataUncounted is the same read on a tree
// nobody observes.
func BenchmarkGetDataCounted(b *testing.B) {
	rep := replicatest.NewStandalone(b, replicatest.StandaloneOptions{Logger: quiet})
	srv, err := session.NewServer(session.DefaultConfig(), rep.Replica)
	if err != nil {
		b.Fatal(err)
	}
	rep.SetListener(srv)
	benchmarkGetData(b, rep.Tree())
}

func BenchmarkGetDataUncounted(b *testing.B) {
	benchmarkGetData(b, datatree.New(datatree.Config{}))
}

func benchmarkGetData(b *testing.B, tree *datatree.Tree) {
	for _, txn := range []datatree.Txn{
		{Kind: datatree.KindCreateSession, Session: 1, Timeout: 30000},
		{Kind: datatree.KindRequest, Session: 1, Op: jute.OpCreate,
			Body: (&jute.CreateRequest{Path: "/app", Data: make([]byte, 100), ACL: jute.OpenACLUnsafe}).Append(nil)},
	} {
		if res := tree.ApplyTxn(tree.LastZxid()+1, &txn); res.Err != jute.CodeOK {
			b.Fatal(res.Err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, code := tree.GetData("/app", nil, nil); code != jute.CodeOK {
				b.Fatal(code)
			}
		}
	})
}
