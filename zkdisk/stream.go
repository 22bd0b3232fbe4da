package zkdisk

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/adler32"
	"io"
	"sync/atomic"

	"github.com/klauspost/compress/snappy"

	"zkd/jute"
)

// DefaultMaxBuffer is ZooKeeper's default jute.maxbuffer. A reader accepts a
// string, buffer or record up to twice that, as ZooKeeper 3.8's BinaryInputArchive
// does (maxbuffer plus zookeeper.jute.maxbuffer.extrasize, which defaults to the
// same value).
const DefaultMaxBuffer = jute.DefaultMaxBuffer

// maxVector bounds a vector's element count: no real snapshot or txn has more
// elements than this, and elements are appended as they are read, so a corrupt
// count never allocates up front.
const maxVector = 1 << 28

// fieldReader reads jute fields from a byte stream. It counts the offset of every
// byte it consumes and keeps ZooKeeper's running Adler-32 over them (lazily: the
// checksum is brought up to date in bulk when the buffer is refilled or asked for).
// Errors are sticky.
type fieldReader struct {
	src   io.Reader
	buf   []byte
	r, w  int   // buf[r:w] is buffered and unread
	sumAt int   // buf[sumAt:r] is consumed but not yet in adler
	base  int64 // stream offset of buf[0]
	adler hash.Hash32
	limit int // longest string or buffer accepted
	err   error
	errAt int64 // offset of the field that failed
}

func newFieldReader(src io.Reader, limit int) *fieldReader {
	return &fieldReader{src: src, buf: make([]byte, 64<<10), adler: adler32.New(), limit: limit}
}

// offset is the stream offset of the next unread byte.
func (f *fieldReader) offset() int64 { return f.base + int64(f.r) }

// checksum returns the Adler-32 of every byte consumed so far.
func (f *fieldReader) checksum() uint32 {
	f.adler.Write(f.buf[f.sumAt:f.r])
	f.sumAt = f.r
	return f.adler.Sum32()
}

func (f *fieldReader) fail(err error) {
	if f.err == nil {
		f.err = err
		f.errAt = f.offset()
	}
}

// fill makes n bytes available (n <= len(buf)). At the end of the stream it fails
// with io.EOF if nothing of the field was there, io.ErrUnexpectedEOF otherwise.
func (f *fieldReader) fill(n int) bool {
	if f.err != nil {
		return false
	}
	if f.w-f.r >= n {
		return true
	}
	f.adler.Write(f.buf[f.sumAt:f.r])
	copy(f.buf, f.buf[f.r:f.w])
	f.base += int64(f.r)
	f.w -= f.r
	f.r, f.sumAt = 0, 0
	for f.w < n {
		m, err := f.src.Read(f.buf[f.w:])
		f.w += m
		if err != nil {
			if f.w >= n {
				break
			}
			if errors.Is(err, io.EOF) {
				if f.w == 0 {
					err = io.EOF
				} else {
					err = io.ErrUnexpectedEOF
				}
			}
			f.fail(err)
			return false
		}
	}
	return true
}

func (f *fieldReader) int() int32 {
	if !f.fill(4) {
		return 0
	}
	f.r += 4
	return int32(binary.BigEndian.Uint32(f.buf[f.r-4:]))
}

func (f *fieldReader) long() int64 {
	if !f.fill(8) {
		return 0
	}
	f.r += 8
	return int64(binary.BigEndian.Uint64(f.buf[f.r-8:]))
}

// bytesN reads n bytes into a new slice. n has been checked against the limit;
// memory is taken only as the bytes arrive, so a length that the stream does not
// back up costs nothing.
func (f *fieldReader) bytesN(n int) []byte {
	if f.err != nil {
		return nil
	}
	if n <= len(f.buf) {
		if !f.fill(n) {
			return nil
		}
		out := make([]byte, n)
		copy(out, f.buf[f.r:f.r+n])
		f.r += n
		return out
	}
	// Larger than the buffer: drain it, then read the rest straight from the
	// stream, growing the result a block at a time.
	start := f.offset()
	out := append(make([]byte, 0, min(n, 4*len(f.buf))), f.buf[f.r:f.w]...)
	f.r = f.w
	f.checksum()
	for len(out) < n {
		if len(out) == cap(out) {
			out = append(out, make([]byte, min(n-len(out), cap(out)))...)[:len(out)]
		}
		m, err := f.src.Read(out[len(out):min(n, cap(out))])
		f.adler.Write(out[len(out) : len(out)+m])
		out = out[:len(out)+m]
		if err != nil && len(out) < n {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			f.fail(err)
			return nil
		}
	}
	f.base = start + int64(n)
	f.r, f.w, f.sumAt = 0, 0, 0
	return out
}

// length reads a length prefix; -1 (null) is returned as is when allowNull.
func (f *fieldReader) length(allowNull bool) int {
	at := f.offset()
	n := f.int()
	if f.err != nil {
		return 0
	}
	if n == -1 && allowNull {
		return -1
	}
	if n < 0 || int64(n) > int64(f.limit) {
		f.err, f.errAt = fmt.Errorf("%w: length %d (limit %d)", ErrTooLarge, n, f.limit), at
		return 0
	}
	return int(n)
}

// buffer reads a jute buffer; nil for null.
func (f *fieldReader) buffer() []byte {
	n := f.length(true)
	if n < 0 || f.err != nil {
		return nil
	}
	return f.bytesN(n)
}

// str reads a ustring; null reads as "".
func (f *fieldReader) str() string {
	n := f.length(true)
	if n <= 0 || f.err != nil {
		return ""
	}
	if n <= len(f.buf) && f.fill(n) {
		s := string(f.buf[f.r : f.r+n])
		f.r += n
		return s
	}
	return string(f.bytesN(n))
}

// count reads a vector count; -1 (null) is returned as is.
func (f *fieldReader) count() int {
	at := f.offset()
	n := f.int()
	if f.err != nil {
		return 0
	}
	if n < -1 || n > maxVector {
		f.err, f.errAt = fmt.Errorf("%w: vector of %d elements", ErrCorrupt, n), at
		return 0
	}
	return int(n)
}

// rest reads what is left of the stream, up to max bytes; more is reported by
// more = true and left unread.
func (f *fieldReader) rest(max int) (b []byte, more bool) {
	for f.err == nil && f.w-f.r < max+1 {
		if !f.fill(f.w - f.r + 1) {
			break
		}
	}
	if f.err != nil && !errors.Is(f.err, io.EOF) && !errors.Is(f.err, io.ErrUnexpectedEOF) {
		return nil, false
	}
	f.err = nil
	n := min(f.w-f.r, max)
	b = append([]byte(nil), f.buf[f.r:f.r+n]...)
	more = f.w-f.r > max
	f.r += n
	return b, more
}

// countingReader counts the bytes read through it; n may be read from any
// goroutine (progress reporting).
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// snappy-java framing (SnappyOutputStream): | magic 8 | version i32 | compatible
// version i32 | then chunks | compressed length i32 | raw Snappy block |, with
// further magic headers allowed between chunks (concatenated streams).
const (
	snappyHeaderLen   = 16
	snappyBlockSize   = 32 << 10 // what SnappyOutputStream writes by default
	maxSnappyDecoded  = 16 << 20 // a block we will decode; snappy-java's are 32 KiB
	snappyMagicHeadBE = 0x82534E41
)

var maxSnappyChunk = snappy.MaxEncodedLen(maxSnappyDecoded)

// snappyReader decodes a snappy-java stream.
type snappyReader struct {
	r     io.Reader
	cbuf  bytes.Buffer
	comp  []byte
	block []byte
	pos   int
	err   error
	hdr   bool
}

func newSnappyReader(r io.Reader) *snappyReader { return &snappyReader{r: r} }

func (s *snappyReader) Read(p []byte) (int, error) {
	for s.pos >= len(s.block) {
		if s.err != nil {
			return 0, s.err
		}
		s.err = s.next()
	}
	n := copy(p, s.block[s.pos:])
	s.pos += n
	return n, nil
}

func (s *snappyReader) readHeader(rest []byte) error {
	var h [snappyHeaderLen]byte
	copy(h[:], rest)
	if _, err := io.ReadFull(s.r, h[len(rest):]); err != nil {
		return fmt.Errorf("%w: snappy header: %v", ErrCorrupt, unexpected(err))
	}
	if string(h[:8]) != string(snappyMagic) {
		return fmt.Errorf("%w: not a snappy-java stream (magic % x)", ErrCorrupt, h[:8])
	}
	return nil
}

// next decodes the next chunk into block.
func (s *snappyReader) next() error {
	if !s.hdr {
		s.hdr = true
		if err := s.readHeader(nil); err != nil {
			return err
		}
	}
	var lb [4]byte
	if _, err := io.ReadFull(s.r, lb[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		return fmt.Errorf("%w: snappy chunk length: %v", ErrCorrupt, unexpected(err))
	}
	n := binary.BigEndian.Uint32(lb[:])
	if n == snappyMagicHeadBE {
		if err := s.readHeader(lb[:]); err != nil {
			return err
		}
		s.block, s.pos = s.block[:0], 0
		return nil
	}
	if n > uint32(maxSnappyChunk) {
		return fmt.Errorf("%w: snappy chunk of %d bytes", ErrTooLarge, n)
	}
	// Read into a buffer that grows as the bytes arrive, not to the claimed size.
	s.cbuf.Reset()
	if got, err := io.CopyN(&s.cbuf, s.r, int64(n)); got < int64(n) {
		return fmt.Errorf("%w: snappy chunk: %v", ErrCorrupt, unexpected(cmp.Or(err, io.ErrUnexpectedEOF)))
	}
	s.comp = s.cbuf.Bytes()
	dl, err := snappy.DecodedLen(s.comp)
	if err != nil {
		return fmt.Errorf("%w: snappy chunk: %v", ErrCorrupt, err)
	}
	// No Snappy element expands more than 64 times (a 64-byte copy in 1 byte of
	// tag plus offset is the best case), so a larger claim is corrupt, and is
	// refused before its buffer is allocated.
	if dl > maxSnappyDecoded || dl > 64*len(s.comp)+64 {
		return fmt.Errorf("%w: snappy chunk of %d bytes claims to decode to %d", ErrCorrupt, len(s.comp), dl)
	}
	if cap(s.block) < dl {
		s.block = make([]byte, dl)
	}
	s.block, err = snappy.Decode(s.block[:dl], s.comp)
	if err != nil {
		return fmt.Errorf("%w: snappy chunk: %v", ErrCorrupt, err)
	}
	s.pos = 0
	return nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// snappyWriter writes snappy-java's framing, one chunk per 32 KiB of input.
type snappyWriter struct {
	w    io.Writer
	buf  []byte
	comp []byte
	hdr  bool
}

func newSnappyWriter(w io.Writer) *snappyWriter {
	return &snappyWriter{w: w, buf: make([]byte, 0, snappyBlockSize)}
}

func (s *snappyWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), snappyBlockSize-len(s.buf))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
		if len(s.buf) == snappyBlockSize {
			if err := s.flushBlock(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (s *snappyWriter) flushBlock() error {
	if !s.hdr {
		s.hdr = true
		hdr := append(append([]byte(nil), snappyMagic...), 0, 0, 0, 1, 0, 0, 0, 1)
		if _, err := s.w.Write(hdr); err != nil {
			return err
		}
	}
	if len(s.buf) == 0 {
		return nil
	}
	s.comp = snappy.Encode(s.comp[:cap(s.comp)], s.buf)
	var lb [4]byte
	binary.BigEndian.PutUint32(lb[:], uint32(len(s.comp)))
	if _, err := s.w.Write(lb[:]); err != nil {
		return err
	}
	if _, err := s.w.Write(s.comp); err != nil {
		return err
	}
	s.buf = s.buf[:0]
	return nil
}

// Close writes the last chunk (and the header of an empty stream).
func (s *snappyWriter) Close() error { return s.flushBlock() }
