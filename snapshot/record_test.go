package snapshot

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"testing"

	"zkd/datatree"
)

// Compact node records give back exactly what was written: null and empty data,
// paths sharing nothing or everything with the one before, czxid and ctime going
// backwards, and the extremes of every field.
func TestNodeRecordsRoundTrip(t *testing.T) {
	nodes := []datatree.NodeImage{
		{Path: "/", Czxid: 0, Mzxid: 0, Pzxid: 900},
		{Path: "/zookeeper", Data: []byte{}, Czxid: 0, Ctime: 0, Mtime: 0},
		{Path: "/a/b/c", Data: []byte("x"), Czxid: math.MaxInt64, Mzxid: math.MinInt64, Pzxid: -1,
			Ctime: math.MinInt64, Mtime: math.MaxInt64, Version: math.MaxInt32, Cversion: math.MinInt32,
			Aversion: -1, Owner: math.MinInt64},
		{Path: "/a/b/c2", Data: bytes.Repeat([]byte{7}, 300), Czxid: 5, Mzxid: 6, Pzxid: 4, Ctime: 1 << 40,
			Mtime: 1<<40 + 3, Owner: 0x0100000000000005},
		{Path: "/a/b", Czxid: 3, Mzxid: 3, Pzxid: 9, Ctime: 1<<40 - 5, Mtime: 1 << 41, Owner: math.MaxInt64},
		{Path: "/zz", Czxid: math.MinInt64, Owner: -4611686018427387904},
	}
	var enc nodeCoder
	var body []byte
	for i := range nodes {
		body = enc.append(body, &nodes[i], uint32(i))
	}
	r := &bodyReader{r: bufio.NewReader(bytes.NewReader(body))}
	var dec nodeCoder
	var buf []byte
	for i, want := range nodes {
		var got datatree.NodeImage
		var acl int64
		buf, acl = dec.read(r, buf[:0], &got)
		if r.err != nil {
			t.Fatalf("node %d: %v", i, r.err)
		}
		if acl != int64(i) || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) || (got.Data == nil) != (want.Data == nil) {
			t.Fatalf("node %d (acl %d):\n got %+v\nwant %+v", i, acl, got, want)
		}
	}
	if _, err := r.r.ReadByte(); err == nil {
		t.Fatal("bytes left after the last record")
	}
	// Every proper prefix of a record is refused, never read as a node.
	one := enc.append(nil, &nodes[3], 1)
	for cut := range len(one) {
		r := &bodyReader{r: bufio.NewReader(bytes.NewReader(one[:cut]))}
		var dec nodeCoder
		dec.path = []byte("/a/b/c")
		var got datatree.NodeImage
		if dec.read(r, nil, &got); r.err == nil {
			t.Fatalf("a record cut to %d of %d bytes was read: %+v", cut, len(one), got)
		}
	}
}
