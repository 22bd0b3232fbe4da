package jute

import "slices"

// Record is implemented by every jute record: Decode reads its fields in order from
// d (errors are left in d), Append writes them to dst.
type Record interface {
	Decode(d *Decoder)
	Append(dst []byte) []byte
}

// Id is an authentication identity: a scheme and an id in that scheme's format.
type Id struct {
	Scheme string
	ID     string
}

func (r *Id) Decode(d *Decoder) { r.Scheme = d.String(); r.ID = d.String() }
func (r *Id) Append(dst []byte) []byte {
	return AppendString(AppendString(dst, r.Scheme), r.ID)
}

// ACL grants Perms to the identities matching ID.
type ACL struct {
	Perms int32
	ID    Id
}

func (r *ACL) Decode(d *Decoder)        { r.Perms = d.Int(); r.ID.Decode(d) }
func (r *ACL) Append(dst []byte) []byte { return r.ID.Append(AppendInt(dst, r.Perms)) }

// Well-known ACL lists (ZooDefs.Ids).
var (
	OpenACLUnsafe = []ACL{{Perms: PermAll, ID: Id{Scheme: "world", ID: "anyone"}}}
	ReadACLUnsafe = []ACL{{Perms: PermRead, ID: Id{Scheme: "world", ID: "anyone"}}}
	CreatorAllACL = []ACL{{Perms: PermAll, ID: Id{Scheme: "auth", ID: ""}}}
)

// Stat is the 68-byte client-visible znode status (wire.md §8.1).
type Stat struct {
	Czxid          int64
	Mzxid          int64
	Ctime          int64
	Mtime          int64
	Version        int32
	Cversion       int32
	Aversion       int32
	EphemeralOwner int64
	DataLength     int32
	NumChildren    int32
	Pzxid          int64
}

// StatSize is the encoded size of a Stat.
const StatSize = 68

func (s *Stat) Decode(d *Decoder) {
	s.Czxid, s.Mzxid, s.Ctime, s.Mtime = d.Long(), d.Long(), d.Long(), d.Long()
	s.Version, s.Cversion, s.Aversion = d.Int(), d.Int(), d.Int()
	s.EphemeralOwner = d.Long()
	s.DataLength, s.NumChildren = d.Int(), d.Int()
	s.Pzxid = d.Long()
}

func (s *Stat) Append(dst []byte) []byte {
	// One allocation, not the five that growing field by field from nil takes
	// (a write's reply is a Stat appended to nothing).
	dst = slices.Grow(dst, StatSize)
	dst = AppendLong(dst, s.Czxid)
	dst = AppendLong(dst, s.Mzxid)
	dst = AppendLong(dst, s.Ctime)
	dst = AppendLong(dst, s.Mtime)
	dst = AppendInt(dst, s.Version)
	dst = AppendInt(dst, s.Cversion)
	dst = AppendInt(dst, s.Aversion)
	dst = AppendLong(dst, s.EphemeralOwner)
	dst = AppendInt(dst, s.DataLength)
	dst = AppendInt(dst, s.NumChildren)
	return AppendLong(dst, s.Pzxid)
}

// ConnectRequest is the first frame of a connection (no RequestHeader). HasReadOnly
// records whether the optional trailing readOnly byte was present: 3.x clients send
// it, go-zookeeper and pre-3.4 clients do not, and the reply mirrors the request.
type ConnectRequest struct {
	ProtocolVersion int32
	LastZxidSeen    int64
	TimeOut         int32
	SessionID       int64
	Passwd          []byte
	ReadOnly        bool
	HasReadOnly     bool
}

func (r *ConnectRequest) Decode(d *Decoder) {
	r.ProtocolVersion = d.Int()
	r.LastZxidSeen = d.Long()
	r.TimeOut = d.Int()
	r.SessionID = d.Long()
	r.Passwd = d.Buffer()
	r.HasReadOnly = d.err == nil && d.Remaining() > 0
	r.ReadOnly = r.HasReadOnly && d.Bool()
}

func (r *ConnectRequest) Append(dst []byte) []byte {
	dst = AppendInt(dst, r.ProtocolVersion)
	dst = AppendLong(dst, r.LastZxidSeen)
	dst = AppendInt(dst, r.TimeOut)
	dst = AppendLong(dst, r.SessionID)
	dst = AppendBuffer(dst, r.Passwd)
	if r.HasReadOnly {
		dst = AppendBool(dst, r.ReadOnly)
	}
	return dst
}

// ConnectResponse answers a ConnectRequest (no ReplyHeader). TimeOut 0 and SessionID
// 0 mean the session is invalid or expired.
type ConnectResponse struct {
	ProtocolVersion int32
	TimeOut         int32
	SessionID       int64
	Passwd          []byte
	ReadOnly        bool
	HasReadOnly     bool
}

func (r *ConnectResponse) Decode(d *Decoder) {
	r.ProtocolVersion = d.Int()
	r.TimeOut = d.Int()
	r.SessionID = d.Long()
	r.Passwd = d.Buffer()
	r.HasReadOnly = d.err == nil && d.Remaining() > 0
	r.ReadOnly = r.HasReadOnly && d.Bool()
}

func (r *ConnectResponse) Append(dst []byte) []byte {
	dst = AppendInt(dst, r.ProtocolVersion)
	dst = AppendInt(dst, r.TimeOut)
	dst = AppendLong(dst, r.SessionID)
	dst = AppendBuffer(dst, r.Passwd)
	if r.HasReadOnly {
		dst = AppendBool(dst, r.ReadOnly)
	}
	return dst
}

// RequestHeader precedes every request after the handshake.
type RequestHeader struct {
	Xid  int32
	Type OpCode
}

// RequestHeaderSize is the encoded size of a RequestHeader.
const RequestHeaderSize = 8

func (r *RequestHeader) Decode(d *Decoder) { r.Xid = d.Int(); r.Type = OpCode(d.Int()) }
func (r *RequestHeader) Append(dst []byte) []byte {
	return AppendInt(AppendInt(dst, r.Xid), int32(r.Type))
}

// ReplyHeader precedes every reply and notification.
type ReplyHeader struct {
	Xid  int32
	Zxid Zxid
	Err  Code
}

// ReplyHeaderSize is the encoded size of a ReplyHeader.
const ReplyHeaderSize = 16

func (r *ReplyHeader) Decode(d *Decoder) {
	r.Xid = d.Int()
	r.Zxid = Zxid(d.Long())
	r.Err = Code(d.Int())
}
func (r *ReplyHeader) Append(dst []byte) []byte {
	return AppendReplyHeader(dst, r.Xid, r.Zxid, r.Err)
}

// CreateRequest is the body of create, create2 and createContainer, and with TTL of
// createTTL (Decode/Append handle TTL only through CreateTTLRequest).
type CreateRequest struct {
	Path  string
	Data  []byte
	ACL   []ACL
	Flags int32
}

func (r *CreateRequest) Decode(d *Decoder) {
	r.Path = d.String()
	r.Data = d.Buffer()
	r.ACL = d.ACLs()
	r.Flags = d.Int()
}

func (r *CreateRequest) Append(dst []byte) []byte {
	dst = AppendString(dst, r.Path)
	dst = AppendBuffer(dst, r.Data)
	dst = AppendACLs(dst, r.ACL)
	return AppendInt(dst, r.Flags)
}

// CreateTTLRequest is CreateRequest plus a time to live in milliseconds.
type CreateTTLRequest struct {
	CreateRequest
	TTL int64
}

func (r *CreateTTLRequest) Decode(d *Decoder) { r.CreateRequest.Decode(d); r.TTL = d.Long() }
func (r *CreateTTLRequest) Append(dst []byte) []byte {
	return AppendLong(r.CreateRequest.Append(dst), r.TTL)
}

// PathRequest is a request whose body is one path: getACL, sync, getEphemerals
// (prefixPath), getAllChildrenNumber. Also SyncResponse and CreateResponse.
type PathRequest struct {
	Path string
}

func (r *PathRequest) Decode(d *Decoder)        { r.Path = d.String() }
func (r *PathRequest) Append(dst []byte) []byte { return AppendString(dst, r.Path) }

// PathWatchRequest is exists, getData, getChildren and getChildren2.
type PathWatchRequest struct {
	Path  string
	Watch bool
}

func (r *PathWatchRequest) Decode(d *Decoder) { r.Path = d.String(); r.Watch = d.Bool() }
func (r *PathWatchRequest) Append(dst []byte) []byte {
	return AppendBool(AppendString(dst, r.Path), r.Watch)
}

// PathVersionRequest is delete and check (CheckVersionRequest).
type PathVersionRequest struct {
	Path    string
	Version int32
}

func (r *PathVersionRequest) Decode(d *Decoder) { r.Path = d.String(); r.Version = d.Int() }
func (r *PathVersionRequest) Append(dst []byte) []byte {
	return AppendInt(AppendString(dst, r.Path), r.Version)
}

// SetDataRequest replaces a node's data if Version matches (-1: any).
type SetDataRequest struct {
	Path    string
	Data    []byte
	Version int32
}

func (r *SetDataRequest) Decode(d *Decoder) {
	r.Path = d.String()
	r.Data = d.Buffer()
	r.Version = d.Int()
}

func (r *SetDataRequest) Append(dst []byte) []byte {
	return AppendInt(AppendBuffer(AppendString(dst, r.Path), r.Data), r.Version)
}

// SetACLRequest replaces a node's ACL if Version matches its aversion (-1: any).
type SetACLRequest struct {
	Path    string
	ACL     []ACL
	Version int32
}

func (r *SetACLRequest) Decode(d *Decoder) {
	r.Path = d.String()
	r.ACL = d.ACLs()
	r.Version = d.Int()
}

func (r *SetACLRequest) Append(dst []byte) []byte {
	return AppendInt(AppendACLs(AppendString(dst, r.Path), r.ACL), r.Version)
}

// PathTypeRequest is checkWatches and removeWatches (Type is a WatcherType) and
// addWatch (Type is the mode).
type PathTypeRequest struct {
	Path string
	Type int32
}

func (r *PathTypeRequest) Decode(d *Decoder) { r.Path = d.String(); r.Type = d.Int() }
func (r *PathTypeRequest) Append(dst []byte) []byte {
	return AppendInt(AppendString(dst, r.Path), r.Type)
}

// AuthPacket adds an identity to the connection.
type AuthPacket struct {
	Type   int32
	Scheme string
	Auth   []byte
}

func (r *AuthPacket) Decode(d *Decoder) { r.Type = d.Int(); r.Scheme = d.String(); r.Auth = d.Buffer() }
func (r *AuthPacket) Append(dst []byte) []byte {
	return AppendBuffer(AppendString(AppendInt(dst, r.Type), r.Scheme), r.Auth)
}

// SetWatches re-registers watches after a reconnect; with V2 set it is SetWatches2
// and carries the persistent lists as well.
type SetWatches struct {
	RelativeZxid        int64
	DataWatches         []string
	ExistWatches        []string
	ChildWatches        []string
	PersistentWatches   []string
	PersistentRecursive []string
	V2                  bool
}

func (r *SetWatches) Decode(d *Decoder) {
	r.RelativeZxid = d.Long()
	r.DataWatches = d.Strings()
	r.ExistWatches = d.Strings()
	r.ChildWatches = d.Strings()
	if r.V2 {
		r.PersistentWatches = d.Strings()
		r.PersistentRecursive = d.Strings()
	}
}

func (r *SetWatches) Append(dst []byte) []byte {
	dst = AppendLong(dst, r.RelativeZxid)
	dst = AppendStrings(dst, r.DataWatches)
	dst = AppendStrings(dst, r.ExistWatches)
	dst = AppendStrings(dst, r.ChildWatches)
	if r.V2 {
		dst = AppendStrings(dst, r.PersistentWatches)
		dst = AppendStrings(dst, r.PersistentRecursive)
	}
	return dst
}

// ReconfigRequest changes ensemble membership.
type ReconfigRequest struct {
	JoiningServers string
	LeavingServers string
	NewMembers     string
	CurConfigID    int64
}

func (r *ReconfigRequest) Decode(d *Decoder) {
	r.JoiningServers, r.LeavingServers, r.NewMembers = d.String(), d.String(), d.String()
	r.CurConfigID = d.Long()
}

func (r *ReconfigRequest) Append(dst []byte) []byte {
	dst = AppendString(dst, r.JoiningServers)
	dst = AppendString(dst, r.LeavingServers)
	dst = AppendString(dst, r.NewMembers)
	return AppendLong(dst, r.CurConfigID)
}

// BufferRecord is a record of one buffer: GetSASLRequest and SetSASLResponse.
type BufferRecord struct {
	Token []byte
}

func (r *BufferRecord) Decode(d *Decoder)        { r.Token = d.Buffer() }
func (r *BufferRecord) Append(dst []byte) []byte { return AppendBuffer(dst, r.Token) }

// Create2Response carries the created path and its Stat.
type Create2Response struct {
	Path string
	Stat Stat
}

func (r *Create2Response) Decode(d *Decoder)        { r.Path = d.String(); r.Stat.Decode(d) }
func (r *Create2Response) Append(dst []byte) []byte { return r.Stat.Append(AppendString(dst, r.Path)) }

// GetDataResponse carries data (nil = null) and Stat.
type GetDataResponse struct {
	Data []byte
	Stat Stat
}

func (r *GetDataResponse) Decode(d *Decoder)        { r.Data = d.Buffer(); r.Stat.Decode(d) }
func (r *GetDataResponse) Append(dst []byte) []byte { return r.Stat.Append(AppendBuffer(dst, r.Data)) }

// GetACLResponse carries an ACL list and Stat.
type GetACLResponse struct {
	ACL  []ACL
	Stat Stat
}

func (r *GetACLResponse) Decode(d *Decoder)        { r.ACL = d.ACLs(); r.Stat.Decode(d) }
func (r *GetACLResponse) Append(dst []byte) []byte { return r.Stat.Append(AppendACLs(dst, r.ACL)) }

// ChildrenResponse is GetChildrenResponse, and with HasStat GetChildren2Response.
// Also GetEphemeralsResponse (no Stat).
type ChildrenResponse struct {
	Children []string
	Stat     Stat
	HasStat  bool
}

func (r *ChildrenResponse) Decode(d *Decoder) {
	r.Children = d.Strings()
	if r.HasStat {
		r.Stat.Decode(d)
	}
}

func (r *ChildrenResponse) Append(dst []byte) []byte {
	dst = AppendStrings(dst, r.Children)
	if r.HasStat {
		dst = r.Stat.Append(dst)
	}
	return dst
}

// ClientInfo is one identity of a whoAmI reply.
type ClientInfo struct {
	AuthScheme string
	User       string
}

// WhoAmIResponse lists the identities of the connection.
type WhoAmIResponse struct {
	ClientInfo []ClientInfo
}

func (r *WhoAmIResponse) Decode(d *Decoder) {
	r.ClientInfo = nil
	n := d.vectorLength(8)
	if n < 0 || d.err != nil {
		return
	}
	out := make([]ClientInfo, n)
	for i := range out {
		out[i] = ClientInfo{AuthScheme: d.String(), User: d.String()}
	}
	if d.err == nil {
		r.ClientInfo = out
	}
}

func (r *WhoAmIResponse) Append(dst []byte) []byte {
	dst = AppendInt(dst, int32(len(r.ClientInfo)))
	for _, c := range r.ClientInfo {
		dst = AppendString(AppendString(dst, c.AuthScheme), c.User)
	}
	return dst
}

// WatcherEvent is the body of a notification.
type WatcherEvent struct {
	Type  EventType
	State int32
	Path  string
}

func (r *WatcherEvent) Decode(d *Decoder) {
	r.Type = EventType(d.Int())
	r.State = d.Int()
	r.Path = d.String()
}

func (r *WatcherEvent) Append(dst []byte) []byte {
	return AppendString(AppendInt(AppendInt(dst, int32(r.Type)), r.State), r.Path)
}

// IntRecord is a record of one int: ErrorResponse and GetAllChildrenNumberResponse.
type IntRecord struct {
	Value int32
}

func (r *IntRecord) Decode(d *Decoder)        { r.Value = d.Int() }
func (r *IntRecord) Append(dst []byte) []byte { return AppendInt(dst, r.Value) }
