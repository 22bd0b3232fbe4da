package zkdisk

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"os"

	"zkd/jute"
)

// LogEnd says why a log file's data ended.
type LogEnd int

const (
	// LogEndEOF: the file ended after a complete record.
	LogEndEOF LogEnd = iota
	// LogEndPadding: a zero length where the next record would start, the
	// preallocated zero tail.
	LogEndPadding
	// LogEndTorn: a record cut short (its bytes run past the end of the file, or
	// its end-of-record byte is not 'B'): a write the crash interrupted.
	LogEndTorn
)

func (e LogEnd) String() string {
	switch e {
	case LogEndPadding:
		return "zero padding"
	case LogEndTorn:
		return "a torn record"
	}
	return "end of file"
}

const logHeaderSize = 16

// LogRecord is one record of a log file: the decoded txn, where it starts, and
// the raw txnEntry (which the txn aliases).
type LogRecord struct {
	Txn    *Txn
	Offset int64
	Entry  []byte
}

// LogReader reads a ZooKeeper transaction log file record by record, as
// FileTxnLog's iterator does: a zero length, a record running past the end of
// the file or a record not followed by 'B' ends the file's data (ZooKeeper then
// moves to the next file); a checksum mismatch, an unreasonable length or an
// undecodable record is corruption, reported with the file and the record's
// offset.
type LogReader struct {
	path  string
	f     *os.File
	r     *bufio.Reader
	off   int64 // offset of the next unread byte
	size  int64
	limit int
	end   LogEnd
	endAt int64
	done  bool
	// Header is the file header (magic, version, dbid).
	Magic   int32
	Version int32
	DBID    int64
}

// OpenLog opens a log file and reads its header. A file shorter than the header
// (a crash right after it was created) reads as an empty log ending torn at 0.
func OpenLog(path string, opt ReadOptions) (*LogReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	l, err := NewLogReader(f, st.Size(), path, opt)
	if err != nil {
		f.Close()
		return nil, err
	}
	l.f = f
	return l, nil
}

// NewLogReader reads a log of size bytes from r; name labels errors.
func NewLogReader(r io.Reader, size int64, name string, opt ReadOptions) (*LogReader, error) {
	l := &LogReader{path: name, r: bufio.NewReaderSize(r, int(min(max(size, 4096), 256<<10))), size: size, limit: opt.limit()}
	var h [logHeaderSize]byte
	ok, err := l.read(h[:])
	if err != nil {
		return nil, err
	}
	if !ok {
		l.finish(LogEndTorn, 0)
		return l, nil
	}
	l.Magic = int32(binary.BigEndian.Uint32(h[0:]))
	l.Version = int32(binary.BigEndian.Uint32(h[4:]))
	l.DBID = int64(binary.BigEndian.Uint64(h[8:]))
	if l.Magic != LogMagic {
		return nil, &FileError{File: name, Err: fmt.Errorf("%w: magic %#x, not a ZooKeeper transaction log (want %#x \"ZKLG\")",
			ErrCorrupt, uint32(l.Magic), LogMagic)}
	}
	return l, nil
}

// Path is the file being read.
func (l *LogReader) Path() string { return l.path }

// Offset is the number of bytes consumed so far.
func (l *LogReader) Offset() int64 { return l.off }

// Size is the file's size when it was opened.
func (l *LogReader) Size() int64 { return l.size }

// End reports why and where the file's data ended, once Next has returned io.EOF.
func (l *LogReader) End() (LogEnd, int64) { return l.end, l.endAt }

// Close closes the file (if OpenLog opened it).
func (l *LogReader) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}

// read fills b; ok is false at the end of the file (nothing or part of b there).
func (l *LogReader) read(b []byte) (ok bool, err error) {
	n, err := io.ReadFull(l.r, b)
	l.off += int64(n)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return false, nil
	}
	if err != nil {
		return false, &FileError{File: l.path, Offset: l.off, Err: err}
	}
	return true, nil
}

func (l *LogReader) finish(why LogEnd, at int64) {
	l.done, l.end, l.endAt = true, why, at
}

func (l *LogReader) corrupt(at int64, format string, args ...any) error {
	return &FileError{File: l.path, Offset: at, Err: fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))}
}

// Next returns the next record, or io.EOF at the end of the file's data.
//
//	| checksum i64 | length i32 | txnEntry (length bytes) | 'B' |
//
// checksum = Adler-32 of the txnEntry in the low 32 bits.
func (l *LogReader) Next() (*LogRecord, error) {
	if l.done {
		return nil, io.EOF
	}
	start := l.off
	var hdr [12]byte
	ok, err := l.read(hdr[:])
	if err != nil {
		return nil, err
	}
	if !ok {
		if l.off == start {
			l.finish(LogEndEOF, start)
		} else {
			l.finish(LogEndTorn, start)
		}
		return nil, io.EOF
	}
	sum := binary.BigEndian.Uint64(hdr[0:])
	n := int32(binary.BigEndian.Uint32(hdr[8:]))
	switch {
	case n == 0:
		l.finish(LogEndPadding, start)
		return nil, io.EOF
	case n < 0 || int64(n) > int64(l.limit):
		// ZooKeeper: "Unreasonable length", which stops the load.
		return nil, &FileError{File: l.path, Offset: start, Err: fmt.Errorf("%w: record length %d (limit %d)", ErrTooLarge, n, l.limit)}
	case int64(n) > l.size-l.off:
		// The record runs past the end of the file: torn, and not worth allocating.
		l.finish(LogEndTorn, start)
		return nil, io.EOF
	}
	entry := make([]byte, n+1)
	ok, err = l.read(entry)
	if err != nil {
		return nil, err
	}
	if !ok || entry[n] != 'B' {
		l.finish(LogEndTorn, start)
		return nil, io.EOF
	}
	entry = entry[:n:n]
	if got := uint64(adler32.Checksum(entry)); got != sum {
		return nil, l.corrupt(start, "record checksum %#x, computed %#x (ZooKeeper: CRC check failed)", sum, got)
	}
	txn, err := DecodeTxn(entry)
	if err != nil {
		return nil, &FileError{File: l.path, Offset: start, Err: err}
	}
	return &LogRecord{Txn: txn, Offset: start, Entry: entry}, nil
}

// AppendLogHeader appends a log file header (magic, version 2, dbid 0).
func AppendLogHeader(dst []byte) []byte {
	dst = jute.AppendInt(dst, LogMagic)
	dst = jute.AppendInt(dst, FileVersion)
	return jute.AppendLong(dst, 0)
}

// AppendLogRecord appends one framed record holding entry (an AppendTxn result).
func AppendLogRecord(dst, entry []byte) []byte {
	dst = jute.AppendLong(dst, int64(adler32.Checksum(entry)))
	dst = jute.AppendBuffer(dst, entry)
	return append(dst, 'B')
}
