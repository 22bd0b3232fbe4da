package jute_test

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	"zkd/jute"
)

// hx decodes a hex dump. Spaces, '|' separators and newlines are ignored, so the
// examples of wire.md §10 and semantics.md §8.3 can be pasted as they are written.
func hx(s string) []byte {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '|', '\n', '\t':
			return -1
		}
		return r
	}, s)
	b, err := hex.DecodeString(s)
	if err != nil {
		panic("bad hex in test: " + err.Error())
	}
	return b
}

// zeros returns n zero bytes.
func zeros(n int) []byte { return make([]byte, n) }

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// requireBytes fails with both hex dumps when got != want.
func requireBytes(t *testing.T, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("bytes differ\n got  %d: % x\n want %d: % x", len(got), got, len(want), want)
	}
}

// decode decodes b into r and returns the number of unread bytes and the decoder's
// error.
func decode(r jute.Record, b []byte) (rest int, err error) {
	d := jute.NewDecoder(b)
	r.Decode(&d)
	return d.Remaining(), d.Err()
}

// deepEqual is reflect.DeepEqual; named so call sites read as an assertion.
func deepEqual(a, b any) bool { return reflect.DeepEqual(a, b) }

// requestBody returns a fresh record for the body of a request with opcode op, the
// way the server dispatches on RequestHeader.type, or nil for an opcode without a body
// (ping, closeSession, whoAmI) or unknown to clients.
func requestBody(op jute.OpCode) jute.Record {
	switch op {
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer:
		return &jute.CreateRequest{}
	case jute.OpCreateTTL:
		return &jute.CreateTTLRequest{}
	case jute.OpDelete, jute.OpCheck:
		return &jute.PathVersionRequest{}
	case jute.OpExists, jute.OpGetData, jute.OpGetChildren, jute.OpGetChildren2:
		return &jute.PathWatchRequest{}
	case jute.OpSetData:
		return &jute.SetDataRequest{}
	case jute.OpGetACL, jute.OpSync, jute.OpGetEphemerals, jute.OpGetAllChildrenNumber:
		return &jute.PathRequest{}
	case jute.OpSetACL:
		return &jute.SetACLRequest{}
	case jute.OpCheckWatches, jute.OpRemoveWatches, jute.OpAddWatch:
		return &jute.PathTypeRequest{}
	case jute.OpMulti:
		return &jute.MultiRequest{}
	case jute.OpMultiRead:
		return &jute.MultiRequest{Read: true}
	case jute.OpReconfig:
		return &jute.ReconfigRequest{}
	case jute.OpAuth:
		return &jute.AuthPacket{}
	case jute.OpSetWatches:
		return &jute.SetWatches{}
	case jute.OpSetWatches2:
		return &jute.SetWatches{V2: true}
	case jute.OpSASL:
		return &jute.BufferRecord{}
	}
	return nil
}

// replyBody returns a fresh record for the success body of a reply to op, or nil for
// replies that are header only.
func replyBody(op jute.OpCode) jute.Record {
	switch op {
	case jute.OpCreate, jute.OpSync:
		return &jute.PathRequest{}
	case jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL:
		return &jute.Create2Response{}
	case jute.OpExists, jute.OpSetData, jute.OpSetACL:
		return &jute.Stat{}
	case jute.OpGetData, jute.OpReconfig:
		return &jute.GetDataResponse{}
	case jute.OpGetACL:
		return &jute.GetACLResponse{}
	case jute.OpGetChildren, jute.OpGetEphemerals:
		return &jute.ChildrenResponse{}
	case jute.OpGetChildren2:
		return &jute.ChildrenResponse{HasStat: true}
	case jute.OpMulti, jute.OpMultiRead:
		return &jute.MultiResponse{}
	case jute.OpSASL:
		return &jute.BufferRecord{}
	case jute.OpGetAllChildrenNumber, jute.OpAddWatch:
		return &jute.IntRecord{}
	case jute.OpWhoAmI:
		return &jute.WhoAmIResponse{}
	case jute.OpNotification:
		return &jute.WatcherEvent{}
	}
	return nil
}

// sampleStat is a Stat whose every field has a distinct value, so a swapped field
// shows up in a layout test.
var sampleStat = jute.Stat{
	Czxid:          0x0102030405060708,
	Mzxid:          0x1112131415161718,
	Ctime:          0x2122232425262728,
	Mtime:          0x3132333435363738,
	Version:        0x41424344,
	Cversion:       0x51525354,
	Aversion:       0x61626364,
	EphemeralOwner: 0x7172737475767778,
	DataLength:     0x01020304,
	NumChildren:    0x05060708,
	Pzxid:          0x090a0b0c0d0e0f10,
}

// sampleStatBytes is sampleStat encoded per wire.md §8.1.
var sampleStatBytes = hx(`
	0102030405060708 1112131415161718 2122232425262728 3132333435363738
	41424344 51525354 61626364 7172737475767778 01020304 05060708
	090a0b0c0d0e0f10`)
