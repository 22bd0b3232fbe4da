package jute

import (
	"encoding/binary"
	"errors"
	"unsafe"
)

// ErrShortBuffer is returned by Decoder.Err when a record needs more bytes than the
// frame holds.
var ErrShortBuffer = errors.New("jute: record runs past the end of its frame")

// ErrBadLength is returned by Decoder.Err when a string or buffer carries a negative
// length other than -1 (null), or a string, buffer or vector a length that cannot
// fit in the frame.
var ErrBadLength = errors.New("jute: unreasonable length")

// Decoder reads jute fields from a byte slice it does not own. Errors are sticky:
// after the first failure every read returns a zero value and Err reports the cause,
// so record decoders can read all fields and check once.
//
// Strings and buffers returned alias the source slice (see the package comment).
type Decoder struct {
	buf []byte
	off int
	err error
}

// NewDecoder returns a Decoder over b.
func NewDecoder(b []byte) Decoder { return Decoder{buf: b} }

// Err reports the first decoding error, or nil.
func (d *Decoder) Err() error { return d.err }

// Remaining reports how many bytes are left unread.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

// Rest returns the unread bytes (aliasing the source).
func (d *Decoder) Rest() []byte { return d.buf[d.off:] }

func (d *Decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.off = len(d.buf)
}

func (d *Decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.buf)-d.off {
		d.fail(ErrShortBuffer)
		return nil
	}
	b := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	b := d.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// Bool reads a boolean; any non-zero byte is true, as in Java's reader.
func (d *Decoder) Bool() bool { return d.Byte() != 0 }

// Int reads a 32-bit int.
func (d *Decoder) Int() int32 {
	b := d.take(4)
	if b == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(b))
}

// Long reads a 64-bit long.
func (d *Decoder) Long() int64 {
	b := d.take(8)
	if b == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

// length reads a length prefix and validates it against the bytes left, with each
// element needing at least minElem bytes. It returns -1 for null.
func (d *Decoder) length(minElem int) int {
	n := d.Int()
	if d.err != nil {
		return 0
	}
	if n == -1 {
		return -1
	}
	if n < 0 || int(n) > (len(d.buf)-d.off)/minElem {
		d.fail(ErrBadLength)
		return 0
	}
	return int(n)
}

// Buffer reads a buffer; nil means null (length -1). The result aliases the source.
func (d *Decoder) Buffer() []byte {
	n := d.length(1)
	if n < 0 {
		return nil
	}
	b := d.take(n)
	if b == nil {
		return []byte{}
	}
	return b
}

// String reads a ustring. The result aliases the source bytes without copying; a
// null string decodes as "".
func (d *Decoder) String() string {
	n := d.length(1)
	if n <= 0 {
		return ""
	}
	b := d.take(n)
	if b == nil {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// vectorLength reads a vector's count like length, except that a negative count
// other than -1 means an empty vector, as in ZooKeeper.
//
// Reference: org.apache.jute.BinaryInputArchive.startVector returns null only for
// -1 and otherwise a BinaryIndex whose done() is nelems <= 0, and the generated
// deserializers make an empty list for any non-null index: a count of -5 reads as
// no elements, where a string or buffer length of -5 is an IOException.
func (d *Decoder) vectorLength(minElem int) int {
	n := d.Int()
	if d.err != nil {
		return 0
	}
	switch {
	case n == -1:
		return -1
	case n < 0:
		return 0
	case int(n) > (len(d.buf)-d.off)/minElem:
		d.fail(ErrBadLength)
		return 0
	}
	return int(n)
}

// Strings reads a vector<ustring>; null decodes as nil, and a negative count
// other than -1 as an empty vector.
func (d *Decoder) Strings() []string {
	n := d.vectorLength(4)
	if n < 0 || d.err != nil {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.String()
	}
	if d.err != nil {
		return nil
	}
	return out
}

// ACLs reads a vector<ACL>; null decodes as nil, and a negative count other than
// -1 as an empty vector.
func (d *Decoder) ACLs() []ACL {
	n := d.vectorLength(12)
	if n < 0 || d.err != nil {
		return nil
	}
	out := make([]ACL, n)
	for i := range out {
		out[i].Decode(d)
	}
	if d.err != nil {
		return nil
	}
	return out
}

// Clone returns a copy of s that does not alias any decode buffer.
func Clone(s string) string {
	if s == "" {
		return ""
	}
	return string(append([]byte(nil), s...))
}
