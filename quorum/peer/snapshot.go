package peer

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

var (
	// ErrChecksum is returned by the reader handed to Handler.ReceiveSnapshot
	// when a chunk, or the whole file, fails its CRC-32C.
	ErrChecksum = errors.New("peer: snapshot checksum mismatch")
	// ErrSnapshotRejected is the failure of a snapshot transfer the receiver
	// answered with an error (its checksum check or ReceiveSnapshot failed).
	ErrSnapshotRejected = errors.New("peer: the receiver did not accept the snapshot")
	// errNotConsumed is a ReceiveSnapshot that returned nil before reading the
	// stream to its verified end.
	errNotConsumed = errors.New("peer: ReceiveSnapshot returned before reading the snapshot to its end")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxAckReason bounds the text of a refusal sent back to the sender.
const maxAckReason = 512

// startSnapshot starts sending the snapshot a MsgSnap names to p. It returns
// false if it cannot start: the transport is stopping, or a transfer to p is
// already under way (raft has one per follower; a second one means the first
// is about to be reported, and raft will ask again).
func (t *Transport) startSnapshot(p *peer, m *pb.Message) bool {
	msg, err := proto.Marshal(m)
	if err != nil {
		t.log.Warn("cannot encode a MsgSnap", "to", p.t.label(p.id), "err", err)
		return false
	}
	index := m.GetSnapshot().GetMetadata().GetIndex()
	p.mu.Lock()
	if p.mu.sendingSnap || p.mu.removed {
		p.mu.Unlock()
		return false
	}
	p.mu.sendingSnap = true
	p.mu.Unlock()
	ok := t.goTracked(func() { p.sendSnapshot(index, msg) })
	if !ok {
		p.mu.Lock()
		p.mu.sendingSnap = false
		p.mu.Unlock()
	}
	return ok
}

// sendSnapshot streams one snapshot and reports the outcome to the handler, in
// every case: raft keeps the follower waiting for a snapshot until told.
func (p *peer) sendSnapshot(index uint64, msg []byte) {
	start := time.Now()
	size, err := p.streamSnapshot(index, msg)
	p.mu.Lock()
	p.mu.sendingSnap = false
	p.mu.Unlock()
	if err != nil {
		p.stats.snapsFailed.Add(1)
		p.noteError(err)
		p.t.log.Warn("sending a snapshot failed", "peer", p.t.label(p.id), "index", index, "err", err)
	} else {
		p.stats.snapsSent.Add(1)
		p.t.log.Info("snapshot sent", "peer", p.t.label(p.id), "index", index, "bytes", size,
			"took", time.Since(start).Round(time.Millisecond))
	}
	p.t.cfg.Handler.ReportSnapshot(p.id, err != nil)
}

// streamSnapshot sends the MsgSnap and the file in checksummed chunks on a new
// connection, then waits for the receiver to say it stored the snapshot. One
// chunk is in memory at a time.
func (p *peer) streamSnapshot(index uint64, msg []byte) (int64, error) {
	cfg := &p.t.cfg
	rc, size, err := cfg.Handler.OpenSnapshot(index)
	if err != nil {
		return 0, fmt.Errorf("peer: open snapshot %d: %w", index, err)
	}
	defer rc.Close()
	if size < 0 {
		return 0, fmt.Errorf("peer: snapshot %d has a negative size %d", index, size)
	}
	conn, raw, _, err := p.dial(kindSnapshot)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	stop := context.AfterFunc(p.ctx, func() { _ = raw.Close() })
	defer stop()
	write := func(b []byte) error {
		_ = conn.SetWriteDeadline(time.Now().Add(cfg.SnapshotIdleTimeout))
		_, err := conn.Write(b)
		if err != nil && p.ctx.Err() != nil {
			return fmt.Errorf("peer: snapshot transfer canceled: %w", p.ctx.Err())
		}
		return err
	}

	head := appendHead(make([]byte, 0, headLen+8+len(msg)), frameSnapHeader, 8+len(msg))
	head = binary.BigEndian.AppendUint64(head, uint64(size))
	if err := write(append(head, msg...)); err != nil {
		return 0, fmt.Errorf("peer: send snapshot %d header: %w", index, err)
	}
	const pre = headLen + 4
	buf := make([]byte, pre+cfg.SnapshotChunkSize)
	var sent int64
	var sum uint32
	for {
		n, rerr := io.ReadFull(rc, buf[pre:])
		if n > 0 {
			data := buf[pre : pre+n]
			if sent += int64(n); sent > size {
				return sent, fmt.Errorf("peer: snapshot %d is longer than the %d bytes announced", index, size)
			}
			putHead(buf, frameSnapChunk, 4+n)
			binary.BigEndian.PutUint32(buf[headLen:], crc32.Checksum(data, castagnoli))
			sum = crc32.Update(sum, castagnoli, data)
			if err := write(buf[:pre+n]); err != nil {
				return sent, fmt.Errorf("peer: send snapshot %d at offset %d: %w", index, sent-int64(n), err)
			}
			p.stats.bytesSent.Add(uint64(pre + n))
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return sent, fmt.Errorf("peer: read snapshot %d at offset %d: %w", index, sent, rerr)
		}
	}
	if sent != size {
		return sent, fmt.Errorf("peer: snapshot %d has %d bytes, %d announced", index, sent, size)
	}
	end := appendHead(buf[:0], frameSnapEnd, 12)
	end = binary.BigEndian.AppendUint64(end, uint64(size))
	end = binary.BigEndian.AppendUint32(end, sum)
	if err := write(end); err != nil {
		return sent, fmt.Errorf("peer: send snapshot %d trailer: %w", index, err)
	}

	_ = conn.SetReadDeadline(time.Now().Add(cfg.SnapshotAckTimeout))
	fr := &frameReader{r: bufio.NewReaderSize(conn, 1024), max: 1 + maxAckReason}
	typ, payload, err := fr.next()
	switch {
	case err != nil:
		return sent, fmt.Errorf("peer: waiting for the receiver to store snapshot %d: %w", index, err)
	case typ != frameSnapAck || len(payload) == 0:
		return sent, fmt.Errorf("%w: frame type %d instead of a snapshot acknowledgement", ErrProtocol, typ)
	case payload[0] != statusOK:
		return sent, fmt.Errorf("%w: %s", ErrSnapshotRejected, payload[1:])
	}
	return sent, nil
}

// beginReceive claims the peer's one inbound snapshot slot.
func (p *peer) beginReceive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.receivingSnap || p.mu.removed {
		return false
	}
	p.mu.receivingSnap = true
	return true
}

func (p *peer) endReceive() {
	p.mu.Lock()
	p.mu.receivingSnap = false
	p.mu.Unlock()
}

// receiveSnapshot reads a MsgSnap and its file from a snapshot connection, hands
// the verified stream to Handler.ReceiveSnapshot, steps the MsgSnap once the
// snapshot is stored, and tells the sender how it went.
func (p *peer) receiveSnapshot(c net.Conn, br *bufio.Reader) {
	cfg := &p.t.cfg
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(cfg.SnapshotIdleTimeout))
	fr := &frameReader{r: br, max: cfg.MaxFrameSize}
	m, size, err := p.readSnapHeader(fr)
	if err != nil {
		p.noteError(err)
		p.t.log.Warn("refusing a snapshot", "peer", p.t.label(p.id), "err", err)
		p.ack(c, err)
		return
	}
	index := m.GetSnapshot().GetMetadata().GetIndex()
	p.t.log.Info("receiving a snapshot", "peer", p.t.label(p.id), "index", index, "bytes", size)
	sr := &snapReader{fr: fr, conn: c, idle: cfg.SnapshotIdleTimeout, size: size}
	err = cfg.Handler.ReceiveSnapshot(index, sr)
	if err == nil && !sr.done {
		err = errNotConsumed
	}
	p.stats.bytesRecv.Add(uint64(sr.wire))
	if err != nil {
		p.noteError(err)
		p.t.log.Warn("receiving a snapshot failed", "peer", p.t.label(p.id), "index", index, "err", err)
		p.ack(c, err)
		return
	}
	// Step only now: raft must not learn of a snapshot that is not stored.
	cfg.Handler.Step(m)
	p.stats.snapsRecv.Add(1)
	p.t.log.Info("snapshot received", "peer", p.t.label(p.id), "index", index, "bytes", size,
		"took", time.Since(start).Round(time.Millisecond))
	p.ack(c, nil)
}

func (p *peer) readSnapHeader(fr *frameReader) (*pb.Message, int64, error) {
	typ, payload, err := fr.next()
	switch {
	case err != nil:
		return nil, 0, fmt.Errorf("peer: snapshot header: %w", err)
	case typ != frameSnapHeader || len(payload) < 8:
		return nil, 0, fmt.Errorf("%w: frame type %d (%d bytes) instead of a snapshot header", ErrProtocol, typ, len(payload))
	}
	size := binary.BigEndian.Uint64(payload)
	if size > 1<<62 {
		return nil, 0, fmt.Errorf("%w: snapshot size %d", ErrProtocol, size)
	}
	m := &pb.Message{}
	if err := proto.Unmarshal(payload[8:], m); err != nil {
		return nil, 0, fmt.Errorf("%w: undecodable MsgSnap: %w", ErrProtocol, err)
	}
	switch {
	case m.GetType() != pb.MessageType_MsgSnap || m.GetSnapshot().GetMetadata() == nil:
		return nil, 0, fmt.Errorf("%w: %s with no snapshot metadata on a snapshot connection", ErrProtocol, m.GetType())
	case m.GetFrom() != p.id || m.GetTo() != p.t.cfg.ID:
		return nil, 0, fmt.Errorf("%w: MsgSnap from %d to %d on a connection from %d to %d", ErrProtocol,
			m.GetFrom(), m.GetTo(), p.id, p.t.cfg.ID)
	}
	return m, int64(size), nil
}

// ack answers the sender: nil for success, or the reason of a failure.
func (p *peer) ack(c net.Conn, err error) {
	status, reason := statusOK, ""
	if err != nil {
		status, reason = 1, err.Error()
		if len(reason) > maxAckReason {
			reason = reason[:maxAckReason]
		}
	}
	b := appendHead(make([]byte, 0, headLen+1+len(reason)), frameSnapAck, 1+len(reason))
	b = append(append(b, status), reason...)
	_ = c.SetWriteDeadline(time.Now().Add(p.t.cfg.SnapshotIdleTimeout))
	_, _ = c.Write(b)
}

// snapReader is the verified snapshot stream handed to ReceiveSnapshot. A chunk's
// bytes are returned only after its CRC-32C matched, and io.EOF only after the
// trailer's size and whole-file CRC-32C matched. Not safe for concurrent use.
type snapReader struct {
	fr   *frameReader
	conn net.Conn
	idle time.Duration
	size int64 // announced in the header

	chunk []byte // verified bytes not yet returned; aliases fr's buffer
	got   int64  // bytes of verified chunks
	sum   uint32 // CRC-32C of the verified chunks
	wire  int    // frame bytes read
	done  bool   // the trailer matched
	err   error  // sticky
}

func (r *snapReader) Read(b []byte) (int, error) {
	for len(r.chunk) == 0 {
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(b, r.chunk)
	r.chunk = r.chunk[n:]
	return n, nil
}

// WriteTo hands the verified chunks to w without an intermediate copy (io.Copy
// uses it).
func (r *snapReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		for len(r.chunk) == 0 {
			if err := r.fill(); err != nil {
				if errors.Is(err, io.EOF) {
					return total, nil
				}
				return total, err
			}
		}
		n, err := w.Write(r.chunk)
		total += int64(n)
		r.chunk = r.chunk[n:]
		if err != nil {
			return total, err
		}
	}
}

// fill reads the next frame: a chunk becomes r.chunk once verified; the trailer
// ends the stream with io.EOF if it matches.
func (r *snapReader) fill() error {
	if r.err != nil {
		return r.err
	}
	if r.done {
		return io.EOF
	}
	_ = r.conn.SetReadDeadline(time.Now().Add(r.idle))
	typ, payload, err := r.fr.next()
	if err != nil {
		r.err = fmt.Errorf("peer: snapshot stream at offset %d: %w", r.got, err)
		return r.err
	}
	r.wire += headLen + len(payload)
	switch {
	case typ == frameSnapChunk && len(payload) >= 4:
		data := payload[4:]
		if want, got := binary.BigEndian.Uint32(payload), crc32.Checksum(data, castagnoli); want != got {
			r.err = fmt.Errorf("%w: chunk of %d bytes at offset %d: crc32c %08x, sent %08x", ErrChecksum,
				len(data), r.got, got, want)
			return r.err
		}
		if r.got+int64(len(data)) > r.size {
			r.err = fmt.Errorf("%w: snapshot longer than the %d bytes announced", ErrProtocol, r.size)
			return r.err
		}
		r.got += int64(len(data))
		r.sum = crc32.Update(r.sum, castagnoli, data)
		r.chunk = data
		return nil
	case typ == frameSnapEnd && len(payload) == 12:
		size, sum := binary.BigEndian.Uint64(payload), binary.BigEndian.Uint32(payload[8:])
		switch {
		case int64(size) != r.size || r.got != r.size:
			r.err = fmt.Errorf("%w: snapshot of %d bytes ended after %d (trailer says %d)", ErrProtocol, r.size, r.got, size)
		case sum != r.sum:
			r.err = fmt.Errorf("%w: whole file: crc32c %08x, sent %08x", ErrChecksum, r.sum, sum)
		default:
			r.done = true
			return io.EOF
		}
		return r.err
	}
	r.err = fmt.Errorf("%w: frame type %d (%d bytes) in a snapshot stream", ErrProtocol, typ, len(payload))
	return r.err
}
