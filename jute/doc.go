// Package jute owns ZooKeeper's client wire format: the records of zookeeper.jute,
// opcodes, error codes, event types and permission bits, and the framing around them.
//
// Encoding is plain concatenation of big-endian fields (see ../shared/spec/wire.md §2):
//
//	int     | 4 bytes BE
//	long    | 8 bytes BE
//	boolean | 1 byte (reader: non-zero is true)
//	ustring | int length L (-1 = null) | L bytes UTF-8
//	buffer  | int length L (-1 = null) | L bytes
//	vector  | int count C (-1 = null)  | C elements  (C < -1 reads as empty, as in ZooKeeper)
//	frame   | int length N | N payload bytes   (N excludes itself)
//
// Decoding is zero-copy: a Decoder reads straight from the caller's buffer and the
// strings and byte slices it returns alias that buffer. They are valid only as long as
// the buffer is; a caller that keeps a decoded request past the life of the buffer must
// copy the frame first (the server copies a frame once, when a request is queued).
//
// Encoding appends to a caller-owned slice (Append* functions and the Append methods of
// records), so a connection can build a whole batch of replies in one reused buffer.
// AcquireBuffer/ReleaseBuffer hand out pooled buffers for that.
//
// Every decoder is total: any input either decodes or leaves a sticky error in the
// Decoder; none panics. Lengths are checked against the bytes present before any
// allocation, so a hostile length cannot make the decoder allocate.
//
// The package uses only the standard library and bytebufferpool; it is safe for
// concurrent use as it holds no shared state besides the pool.
package jute
