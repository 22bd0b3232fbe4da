package jute

import (
	"encoding/binary"

	"github.com/valyala/bytebufferpool"
)

// AppendInt appends a 32-bit int.
func AppendInt(dst []byte, v int32) []byte { return binary.BigEndian.AppendUint32(dst, uint32(v)) }

// AppendLong appends a 64-bit long.
func AppendLong(dst []byte, v int64) []byte { return binary.BigEndian.AppendUint64(dst, uint64(v)) }

// AppendBool appends a boolean.
func AppendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// AppendString appends a ustring. Replies never carry null strings (go-zookeeper
// cannot decode them), so "" is written as length 0.
func AppendString(dst []byte, s string) []byte {
	dst = AppendInt(dst, int32(len(s)))
	return append(dst, s...)
}

// AppendBuffer appends a buffer; nil is written as null (-1), keeping Java's
// distinction between null and empty znode data.
func AppendBuffer(dst []byte, b []byte) []byte {
	if b == nil {
		return AppendInt(dst, -1)
	}
	dst = AppendInt(dst, int32(len(b)))
	return append(dst, b...)
}

// AppendStrings appends a vector<ustring>; nil is written as an empty vector.
func AppendStrings(dst []byte, v []string) []byte {
	dst = AppendInt(dst, int32(len(v)))
	for _, s := range v {
		dst = AppendString(dst, s)
	}
	return dst
}

// AppendACLs appends a vector<ACL>.
func AppendACLs(dst []byte, v []ACL) []byte {
	dst = AppendInt(dst, int32(len(v)))
	for i := range v {
		dst = v[i].Append(dst)
	}
	return dst
}

// BeginFrame reserves a 4-byte length prefix at the end of dst and returns dst and
// the prefix's offset, to be passed to EndFrame once the payload has been appended.
func BeginFrame(dst []byte) ([]byte, int) {
	return append(dst, 0, 0, 0, 0), len(dst)
}

// EndFrame writes the length of the payload appended since BeginFrame.
func EndFrame(dst []byte, mark int) []byte {
	binary.BigEndian.PutUint32(dst[mark:], uint32(len(dst)-mark-4))
	return dst
}

// AppendReplyHeader appends a ReplyHeader.
func AppendReplyHeader(dst []byte, xid int32, zxid Zxid, err Code) []byte {
	dst = AppendInt(dst, xid)
	dst = AppendLong(dst, int64(zxid))
	return AppendInt(dst, int32(err))
}

// AppendNotification appends a whole notification frame (xid -1) for one event.
func AppendNotification(dst []byte, zxid Zxid, typ EventType, path string) []byte {
	dst, mark := BeginFrame(dst)
	dst = AppendReplyHeader(dst, XidNotification, zxid, CodeOK)
	dst = AppendInt(dst, int32(typ))
	dst = AppendInt(dst, StateSyncConnected)
	dst = AppendString(dst, path)
	return EndFrame(dst, mark)
}

// AcquireBuffer returns a pooled buffer; give it back with ReleaseBuffer once the
// bytes have been written out. The pool calibrates its size classes from use.
func AcquireBuffer() *bytebufferpool.ByteBuffer { return bytebufferpool.Get() }

// ReleaseBuffer returns b to the pool; b must not be used afterwards.
func ReleaseBuffer(b *bytebufferpool.ByteBuffer) { bytebufferpool.Put(b) }
