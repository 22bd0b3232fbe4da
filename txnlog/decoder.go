package txnlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// frame is one decoded frame. payload aliases the buffer it was decoded from.
type frame struct {
	typ     recType
	flags   uint8
	batch   uint32
	payload []byte
	size    int // bytes on disk, padding included
}

// decodeFrame decodes the frame at buf[off:]. It returns a reason when there is no
// valid frame there; zeroHeader reports that the header is all zero bytes, which is
// how the preallocated space after the last frame reads.
func decodeFrame(buf []byte, off int) (fr frame, reason string, zeroHeader bool) {
	rest := buf[off:]
	if len(rest) < frameHeaderSize {
		if allZero(rest) {
			return fr, "end of file", true
		}
		return fr, fmt.Sprintf("%d bytes left, too few for a frame header", len(rest)), false
	}
	h := rest[:frameHeaderSize]
	if allZero(h) {
		return fr, "zero frame header", true
	}
	n := binary.LittleEndian.Uint32(h[offLen:])
	fr.typ = recType(h[offType])
	fr.flags = h[offFlags]
	fr.batch = binary.LittleEndian.Uint32(h[offBatch:])
	switch {
	case n > maxPayload:
		return fr, fmt.Sprintf("payload length %d over the limit %d", n, maxPayload), false
	case frameSize(int(n)) > len(rest):
		return fr, fmt.Sprintf("frame of %d bytes runs past the end of the file (%d left)", frameSize(int(n)), len(rest)), false
	case fr.flags&^flagCommit != 0 || h[offRsvd] != 0 || h[offRsvd+1] != 0:
		return fr, fmt.Sprintf("bad flags %#x or reserved bytes", fr.flags), false
	}
	fr.size = frameSize(int(n))
	if want, got := binary.LittleEndian.Uint32(h[offCRC:]), crc32.Checksum(rest[offLen:fr.size], castagnoli); want != got {
		return fr, fmt.Sprintf("checksum mismatch (stored %#08x, computed %#08x)", want, got), false
	}
	fr.payload = rest[frameHeaderSize : frameHeaderSize+int(n)]
	var wantLen int
	switch fr.typ {
	case recSegment:
		wantLen = segmentHdrSize
	case recEntry:
		if n < entryHeaderSize {
			return fr, fmt.Sprintf("entry payload of %d bytes", n), false
		}
		wantLen = int(n)
	case recHardState:
		wantLen = hardStateSize
	case recCompact, recReset:
		wantLen = compactSize
	default:
		return fr, fmt.Sprintf("unknown record type %d", fr.typ), false
	}
	if int(n) != wantLen {
		return fr, fmt.Sprintf("record type %d with a payload of %d bytes", fr.typ, n), false
	}
	return fr, "", false
}

func (fr *frame) entry() Entry {
	return Entry{
		Index: binary.LittleEndian.Uint64(fr.payload),
		Term:  binary.LittleEndian.Uint64(fr.payload[8:]),
		Data:  fr.payload[entryHeaderSize:],
	}
}

func (fr *frame) hardState() HardState {
	return HardState{
		Term:   binary.LittleEndian.Uint64(fr.payload),
		Vote:   binary.LittleEndian.Uint64(fr.payload[8:]),
		Commit: binary.LittleEndian.Uint64(fr.payload[16:]),
	}
}

func (fr *frame) compactIndex() uint64 { return binary.LittleEndian.Uint64(fr.payload) }

// segmentHeader decodes a recSegment payload, or says why it is not one of ours.
func (fr *frame) segmentHeader() (segmentHeader, string) {
	p := fr.payload
	if string(p[:8]) != segmentMagic {
		return segmentHeader{}, fmt.Sprintf("bad magic %q", p[:8])
	}
	if v := binary.LittleEndian.Uint32(p[8:]); v != segmentVersion {
		return segmentHeader{}, fmt.Sprintf("format version %d, this build reads %d", v, segmentVersion)
	}
	return segmentHeader{
		seq:     binary.LittleEndian.Uint64(p[16:]),
		compact: binary.LittleEndian.Uint64(p[24:]),
		hs: HardState{
			Term:   binary.LittleEndian.Uint64(p[32:]),
			Vote:   binary.LittleEndian.Uint64(p[40:]),
			Commit: binary.LittleEndian.Uint64(p[48:]),
		},
	}, ""
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
