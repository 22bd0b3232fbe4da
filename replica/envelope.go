package replica

import (
	"encoding/binary"
	"errors"

	"zkd/datatree"
	"zkd/jute"
	"zkd/quorum"
)

const (
	// formatV1 marks an entry of this package. It must not be one of the kind
	// bytes quorum reserves for raft's own entries (1 and 2).
	formatV1 byte = 0x5A
	// formatLegacy marks an entry written before the envelope existed:
	// | 0 | tag u64 | Txn without cxid, conn and connSeq |.
	formatLegacy     byte = 0
	headerSize            = 1 + 8 + 8
	legacyHeaderSize      = 1 + 8
	// timeOffset is where the Txn's time sits in an entry.
	timeOffset = headerSize + datatree.TxnTimeOffset
)

// envelope is the decoded header of an entry.
type envelope struct {
	origin uint64
	seq    uint64
	legacy bool
	txn    []byte
}

var errBadEnvelope = errors.New("replica: malformed entry")

// encodeEntry builds the entry for txn from origin with seq: one allocation, the
// txn encoded in place.
func encodeEntry(origin, seq uint64, txn *datatree.Txn) []byte {
	b := make([]byte, headerSize, headerSize+64+len(txn.Body)+16*len(txn.Identity))
	b[0] = formatV1
	binary.BigEndian.PutUint64(b[1:], origin)
	binary.BigEndian.PutUint64(b[9:], seq)
	return txn.Append(b)
}

func decodeEnvelope(data []byte) (envelope, error) {
	if len(data) < legacyHeaderSize || data[0] == formatV1 && len(data) < headerSize {
		return envelope{}, errBadEnvelope
	}
	switch data[0] {
	case formatV1:
		return envelope{origin: binary.BigEndian.Uint64(data[1:]), seq: binary.BigEndian.Uint64(data[9:]),
			txn: data[headerSize:]}, nil
	case formatLegacy:
		return envelope{legacy: true, txn: data[legacyHeaderSize:]}, nil
	}
	return envelope{}, errBadEnvelope
}

// stampTime writes the leader's clock into an entry a follower built.
func stampTime(entry []byte, ms int64) {
	if len(entry) >= timeOffset+8 && entry[0] == formatV1 {
		binary.BigEndian.PutUint64(entry[timeOffset:], uint64(ms))
	}
}

// entryConn returns the client connection (datatree.Txn.Conn) of an entry of
// this package, or 0.
func entryConn(entry []byte) uint64 {
	off := headerSize + datatree.TxnConnOffset
	if len(entry) < off+8 || entry[0] != formatV1 {
		return 0
	}
	return binary.BigEndian.Uint64(entry[off:])
}

// entryOrigin returns the origin and seq of an entry of this package.
func entryOrigin(entry []byte) (origin, seq uint64, ok bool) {
	if len(entry) < headerSize || entry[0] != formatV1 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(entry[1:]), binary.BigEndian.Uint64(entry[9:]), true
}

// ApplyLogged applies one logged entry's data to tree at zxid as a member does,
// without waiters or listeners: tools that read a stopped data directory (export)
// replay the log with it. Raft's own entries (empty, or a conf change, whose
// data begins with quorum's kind byte) only advance the zxid.
func ApplyLogged(tree *datatree.Tree, zxid jute.Zxid, data []byte) datatree.Result {
	env, err := decodeEnvelope(data)
	if err != nil || quorum.IsRaftEntry(data) {
		tree.Apply(zxid, nil)
		return datatree.Result{}
	}
	var txn datatree.Txn
	if env.legacy {
		txn, err = datatree.DecodeLegacyTxn(env.txn)
	} else {
		txn, err = datatree.DecodeTxn(env.txn)
	}
	if err != nil {
		tree.Apply(zxid, nil)
		return datatree.Result{Err: jute.CodeMarshallingError}
	}
	return tree.ApplyTxn(zxid, &txn)
}
