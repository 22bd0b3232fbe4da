package txnlog

import (
	"encoding/binary"
	"hash/crc32"
)

// Frame layout; see doc.go. All integers are little-endian.
const (
	frameHeaderSize = 16
	frameAlign      = 8

	offCRC   = 0
	offLen   = 4
	offBatch = 8
	offType  = 12
	offFlags = 13
	offRsvd  = 14

	entryHeaderSize = 16 // index u64, term u64, then the data
	hardStateSize   = 24 // term, vote, commit
	compactSize     = 8  // index
	segmentHdrSize  = 56 // magic, version, reserved, seq, compact, term, vote, commit

	// segmentHdrFrame is the size of the frame that opens every segment.
	segmentHdrFrame = frameHeaderSize + segmentHdrSize

	// maxPayload caps one frame's payload, so that replay never allocates on the
	// word of a corrupt length and Save rejects what replay would.
	maxPayload = 256 << 20
	// MaxEntrySize is the largest Entry.Data that Save accepts.
	MaxEntrySize = maxPayload - entryHeaderSize
)

// recType is a frame's record type.
type recType uint8

const (
	recSegment   recType = 1 // first frame of every segment
	recEntry     recType = 2
	recHardState recType = 3
	recCompact   recType = 4
	recReset     recType = 5 // payload as recCompact: the log restarts after index
)

// flagCommit marks the last frame of a batch: replay applies a batch only once it
// has read this frame, so one Save is all or nothing.
const flagCommit = 1

const (
	segmentMagic   = "zkdtxnlg"
	segmentVersion = 1
)

// castagnoli is CRC-32C, which amd64 and arm64 compute in hardware.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// align8 rounds n up to a multiple of frameAlign.
func align8(n int) int { return (n + frameAlign - 1) &^ (frameAlign - 1) }

// frameSize is the size on disk of a frame with an n-byte payload.
func frameSize(n int) int { return frameHeaderSize + align8(n) }

// appendFrameHeader appends a frame header with a zero checksum; finishFrame fills
// it in once the payload follows.
func appendFrameHeader(dst []byte, typ recType, batch uint32, flags uint8, n int) []byte {
	var h [frameHeaderSize]byte
	binary.LittleEndian.PutUint32(h[offLen:], uint32(n))
	binary.LittleEndian.PutUint32(h[offBatch:], batch)
	h[offType] = byte(typ)
	h[offFlags] = flags
	return append(dst, h[:]...)
}

// finishFrame pads the frame that starts at dst[start:] and stores its checksum.
func finishFrame(dst []byte, start int) []byte {
	for len(dst)%frameAlign != 0 {
		dst = append(dst, 0)
	}
	binary.LittleEndian.PutUint32(dst[start+offCRC:], crc32.Checksum(dst[start+offLen:], castagnoli))
	return dst
}

// appendEntry appends e as one frame.
func appendEntry(dst []byte, batch uint32, flags uint8, e *Entry) []byte {
	start := len(dst)
	dst = appendFrameHeader(dst, recEntry, batch, flags, entryHeaderSize+len(e.Data))
	dst = binary.LittleEndian.AppendUint64(dst, e.Index)
	dst = binary.LittleEndian.AppendUint64(dst, e.Term)
	dst = append(dst, e.Data...)
	return finishFrame(dst, start)
}

func appendHardState(dst []byte, batch uint32, flags uint8, hs *HardState) []byte {
	start := len(dst)
	dst = appendFrameHeader(dst, recHardState, batch, flags, hardStateSize)
	dst = binary.LittleEndian.AppendUint64(dst, hs.Term)
	dst = binary.LittleEndian.AppendUint64(dst, hs.Vote)
	dst = binary.LittleEndian.AppendUint64(dst, hs.Commit)
	return finishFrame(dst, start)
}

func appendCompact(dst []byte, batch uint32, flags uint8, index uint64) []byte {
	return appendIndexRecord(dst, recCompact, batch, flags, index)
}

func appendIndexRecord(dst []byte, typ recType, batch uint32, flags uint8, index uint64) []byte {
	start := len(dst)
	dst = appendFrameHeader(dst, typ, batch, flags, compactSize)
	dst = binary.LittleEndian.AppendUint64(dst, index)
	return finishFrame(dst, start)
}

// segmentHeader is the payload of the frame that opens a segment. It repeats the
// log's state when the segment was created, so that releasing older segments never
// loses the HardState or the compaction point.
type segmentHeader struct {
	seq     uint64
	compact uint64
	hs      HardState
}

func appendSegmentHeader(dst []byte, batch uint32, h *segmentHeader) []byte {
	start := len(dst)
	dst = appendFrameHeader(dst, recSegment, batch, flagCommit, segmentHdrSize)
	dst = append(dst, segmentMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, segmentVersion)
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	dst = binary.LittleEndian.AppendUint64(dst, h.seq)
	dst = binary.LittleEndian.AppendUint64(dst, h.compact)
	dst = binary.LittleEndian.AppendUint64(dst, h.hs.Term)
	dst = binary.LittleEndian.AppendUint64(dst, h.hs.Vote)
	dst = binary.LittleEndian.AppendUint64(dst, h.hs.Commit)
	return finishFrame(dst, start)
}

// batchSize is the encoded size of one Save: every entry, then the HardState if any.
func batchSize(hs *HardState, ents []Entry) int {
	n := 0
	for i := range ents {
		n += frameSize(entryHeaderSize + len(ents[i].Data))
	}
	if hs != nil {
		n += frameSize(hardStateSize)
	}
	return n
}

// appendBatch encodes one Save as one batch: the entries in order, then the
// HardState, the last frame carrying flagCommit. offs receives the offset in dst of
// each entry's frame.
//
// NB: the HardState goes last. A batch is applied whole or not at all, but if it
// went first a reader of a torn batch by some other tool would see a Commit beyond
// the entries, which raft refuses to start from ("tocommit out of range").
func appendBatch(dst []byte, batch uint32, hs *HardState, ents []Entry, offs []int) []byte {
	for i := range ents {
		var flags uint8
		if i == len(ents)-1 && hs == nil {
			flags = flagCommit
		}
		offs[i] = len(dst)
		dst = appendEntry(dst, batch, flags, &ents[i])
	}
	if hs != nil {
		dst = appendHardState(dst, batch, flagCommit, hs)
	}
	return dst
}
