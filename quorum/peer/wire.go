package peer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Wire constants (doc.go has the diagrams). Every value is pinned here.
const (
	// magic opens every connection, so that a stray client on the quorum port
	// (or a ZooKeeper server from an old configuration) is told apart at once.
	magic = "zkdp"
	// protocolVersion is the only version this build speaks.
	protocolVersion uint16 = 1

	helloLen = 24 // | magic 4 | version u16 | kind u8 | flags u8 | from u64 | to u64 |
	replyLen = 8  // | magic 4 | version u16 | status u8 | reserved u8 |
	headLen  = 5  // | type u8 | len u32 |
)

// Connection kinds, named in the handshake.
const (
	kindStream   byte = 1 // the ordered stream of raft and app messages to one peer
	kindSnapshot byte = 2 // one snapshot transfer
)

// Handshake reply statuses.
const (
	statusOK            byte = 0
	statusBadVersion    byte = 1
	statusUnknownSender byte = 2
	statusWrongReceiver byte = 3
	statusBadKind       byte = 4
	statusBusy          byte = 5 // a snapshot from this peer is already being received
	statusAuthRequired  byte = 6 // the dialer did not ask to authenticate, and must
	statusNoAuth        byte = 7 // the dialer asked to authenticate; the acceptor cannot
)

// Handshake flags: hello.flags of the dialer, the reply's flags byte of the
// acceptor.
const (
	// helloAuth: the dialer runs an authentication exchange after the reply.
	helloAuth byte = 0x01
	// replyAuth: the acceptor runs it (it has an Authenticator).
	replyAuth byte = 0x01
)

// Frame types. The stream carries frameRaft and frameApp; a snapshot connection
// carries frameSnapHeader, frameSnapChunk..., frameSnapEnd one way and
// frameSnapAck back.
const (
	frameRaft       byte = 1 // | raftpb.Message (protobuf) |
	frameApp        byte = 2 // | app bytes |
	frameSnapHeader byte = 3 // | size u64 | raftpb.Message MsgSnap (protobuf) |
	frameSnapChunk  byte = 4 // | crc32c u32 | data |
	frameSnapEnd    byte = 5 // | size u64 | crc32c of the whole file u32 |
	frameSnapAck    byte = 6 // | status u8 | reason (text) |
	frameAuth       byte = 7 // | authentication token |, during the handshake only
)

var (
	// ErrBadMagic is returned by the handshake when the other end does not speak
	// this protocol.
	ErrBadMagic = errors.New("peer: not a zkd peer connection (bad magic)")
	// ErrRefused is returned by the dialing side of a handshake when the other
	// end refused the connection; the message names the reason.
	ErrRefused = errors.New("peer: connection refused by the peer")
	// ErrFrameTooLarge is returned by the frame reader for a frame longer than
	// Config.MaxFrameSize, before anything is allocated for it.
	ErrFrameTooLarge = errors.New("peer: frame too large")
	// ErrProtocol is returned when a peer sends something the protocol does not
	// allow where it sent it (an unknown frame type, a message not addressed to
	// this member, a snapshot on the stream).
	ErrProtocol = errors.New("peer: protocol violation")
)

// hello is the dialing side's half of the handshake.
type hello struct {
	version  uint16
	kind     byte
	flags    byte
	from, to uint64
}

func appendHello(dst []byte, h hello) []byte {
	dst = append(dst, magic...)
	dst = binary.BigEndian.AppendUint16(dst, h.version)
	dst = append(dst, h.kind, h.flags)
	dst = binary.BigEndian.AppendUint64(dst, h.from)
	return binary.BigEndian.AppendUint64(dst, h.to)
}

// decodeHello decodes the first helloLen bytes of b.
func decodeHello(b []byte) (hello, error) {
	if len(b) < helloLen {
		return hello{}, fmt.Errorf("peer: handshake of %d bytes: %w", len(b), io.ErrUnexpectedEOF)
	}
	if string(b[:4]) != magic {
		return hello{}, fmt.Errorf("%w: % x", ErrBadMagic, b[:4])
	}
	return hello{
		version: binary.BigEndian.Uint16(b[4:]),
		kind:    b[6],
		flags:   b[7],
		from:    binary.BigEndian.Uint64(b[8:]),
		to:      binary.BigEndian.Uint64(b[16:]),
	}, nil
}

func appendReply(dst []byte, status, flags byte) []byte {
	dst = append(dst, magic...)
	dst = binary.BigEndian.AppendUint16(dst, protocolVersion)
	return append(dst, status, flags)
}

// decodeReply decodes the accepting side's answer, returning its flags, and
// turns a refusal into an error wrapping ErrRefused.
func decodeReply(b []byte) (flags byte, err error) {
	if len(b) < replyLen {
		return 0, fmt.Errorf("peer: handshake reply of %d bytes: %w", len(b), io.ErrUnexpectedEOF)
	}
	if string(b[:4]) != magic {
		return 0, fmt.Errorf("%w: % x", ErrBadMagic, b[:4])
	}
	if st := b[6]; st != statusOK {
		return 0, fmt.Errorf("%w: %s (its protocol version %d)", ErrRefused, statusText(st), binary.BigEndian.Uint16(b[4:]))
	}
	return b[7], nil
}

func statusText(st byte) string {
	switch st {
	case statusOK:
		return "ok"
	case statusBadVersion:
		return "unsupported protocol version"
	case statusUnknownSender:
		return "sender id is not a member known to the peer"
	case statusWrongReceiver:
		return "the peer has a different id than the one dialed"
	case statusBadKind:
		return "unknown connection kind"
	case statusBusy:
		return "a snapshot from this member is already being received"
	case statusAuthRequired:
		return "the peer requires authentication"
	case statusNoAuth:
		return "the peer does not authenticate peers, and this member requires it"
	}
	return fmt.Sprintf("status %d", st)
}

// appendHead appends a frame header for a payload of n bytes.
func appendHead(dst []byte, typ byte, n int) []byte {
	dst = append(dst, typ)
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// putHead writes a frame header into b[:headLen].
func putHead(b []byte, typ byte, n int) {
	b[0] = typ
	binary.BigEndian.PutUint32(b[1:], uint32(n))
}

// frameReader decodes frames from a stream. Its buffer grows with the bytes that
// actually arrive (never ahead of them by more than it already holds), so a
// header that announces a large frame and then stalls costs no allocation; a
// length over max is refused before any.
type frameReader struct {
	r   *bufio.Reader
	max int
	buf []byte // reused: a payload is valid until the next call to next
}

// minGrow is the first allocation for a payload that does not fit the buffer.
const minGrow = 64 << 10

// next returns the next frame. payload aliases the reader's buffer and is valid
// until the next call. A clean end of stream between frames is io.EOF; one inside
// a frame is io.ErrUnexpectedEOF.
func (fr *frameReader) next() (typ byte, payload []byte, err error) {
	var head [headLen]byte
	if _, err := io.ReadFull(fr.r, head[:]); err != nil {
		return 0, nil, err
	}
	typ = head[0]
	n := binary.BigEndian.Uint32(head[1:])
	if uint64(n) > uint64(fr.max) {
		return typ, nil, fmt.Errorf("%w: type %d, %d bytes (limit %d)", ErrFrameTooLarge, typ, n, fr.max)
	}
	size := int(n)
	if size <= cap(fr.buf) {
		fr.buf = fr.buf[:size]
		if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
			return typ, nil, unexpected(err)
		}
		return typ, fr.buf, nil
	}
	// Grow by doubling as the bytes come in, keeping what was read.
	buf := fr.buf[:0]
	for len(buf) < size {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(size, max(2*cap(buf), minGrow)))
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(fr.r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			fr.buf = buf[:0]
			return typ, nil, unexpected(err)
		}
	}
	fr.buf = buf
	return typ, buf, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
