package jute

import (
	"log/slog"
	"strconv"
)

// OpCode is a request type (ZooDefs.OpCode). Values are pinned by the protocol.
type OpCode int32

// Opcodes of wire.md §5.
const (
	OpNotification         OpCode = 0
	OpCreate               OpCode = 1
	OpDelete               OpCode = 2
	OpExists               OpCode = 3
	OpGetData              OpCode = 4
	OpSetData              OpCode = 5
	OpGetACL               OpCode = 6
	OpSetACL               OpCode = 7
	OpGetChildren          OpCode = 8
	OpSync                 OpCode = 9
	OpPing                 OpCode = 11
	OpGetChildren2         OpCode = 12
	OpCheck                OpCode = 13
	OpMulti                OpCode = 14
	OpCreate2              OpCode = 15
	OpReconfig             OpCode = 16
	OpCheckWatches         OpCode = 17
	OpRemoveWatches        OpCode = 18
	OpCreateContainer      OpCode = 19
	OpDeleteContainer      OpCode = 20
	OpCreateTTL            OpCode = 21
	OpMultiRead            OpCode = 22
	OpAuth                 OpCode = 100
	OpSetWatches           OpCode = 101
	OpSASL                 OpCode = 102
	OpGetEphemerals        OpCode = 103
	OpGetAllChildrenNumber OpCode = 104
	OpSetWatches2          OpCode = 105
	OpAddWatch             OpCode = 106
	OpWhoAmI               OpCode = 107
	OpCreateSession        OpCode = -10
	OpCloseSession         OpCode = -11
	OpError                OpCode = -1
)

var opNames = map[OpCode]string{
	OpNotification: "notification", OpCreate: "create", OpDelete: "delete", OpExists: "exists",
	OpGetData: "getData", OpSetData: "setData", OpGetACL: "getACL", OpSetACL: "setACL",
	OpGetChildren: "getChildren", OpSync: "sync", OpPing: "ping", OpGetChildren2: "getChildren2",
	OpCheck: "check", OpMulti: "multi", OpCreate2: "create2", OpReconfig: "reconfig",
	OpCheckWatches: "checkWatches", OpRemoveWatches: "removeWatches",
	OpCreateContainer: "createContainer", OpDeleteContainer: "deleteContainer",
	OpCreateTTL: "createTTL", OpMultiRead: "multiRead", OpAuth: "auth", OpSetWatches: "setWatches",
	OpSASL: "sasl", OpGetEphemerals: "getEphemerals", OpGetAllChildrenNumber: "getAllChildrenNumber",
	OpSetWatches2: "setWatches2", OpAddWatch: "addWatch", OpWhoAmI: "whoAmI",
	OpCreateSession: "createSession", OpCloseSession: "closeSession", OpError: "error",
}

func (o OpCode) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Code is a KeeperException code. The zero value is success; every other value is an
// error, so a Code can be returned as an error directly.
type Code int32

// Error codes of wire.md §7.
const (
	CodeOK                       Code = 0
	CodeSystemError              Code = -1
	CodeRuntimeInconsistency     Code = -2
	CodeDataInconsistency        Code = -3
	CodeConnectionLoss           Code = -4
	CodeMarshallingError         Code = -5
	CodeUnimplemented            Code = -6
	CodeOperationTimeout         Code = -7
	CodeBadArguments             Code = -8
	CodeUnknownSession           Code = -12
	CodeNewConfigNoQuorum        Code = -13
	CodeReconfigInProgress       Code = -14
	CodeAPIError                 Code = -100
	CodeNoNode                   Code = -101
	CodeNoAuth                   Code = -102
	CodeBadVersion               Code = -103
	CodeNoChildrenForEphemerals  Code = -108
	CodeNodeExists               Code = -110
	CodeNotEmpty                 Code = -111
	CodeSessionExpired           Code = -112
	CodeInvalidCallback          Code = -113
	CodeInvalidACL               Code = -114
	CodeAuthFailed               Code = -115
	CodeSessionMoved             Code = -118
	CodeNotReadOnly              Code = -119
	CodeEphemeralOnLocalSession  Code = -120
	CodeNoWatcher                Code = -121
	CodeRequestTimeout           Code = -122
	CodeReconfigDisabled         Code = -123
	CodeSessionClosedRequireSASL Code = -124
	CodeQuotaExceeded            Code = -125
	CodeThrottledOp              Code = -127
)

var codeNames = map[Code]string{
	CodeOK: "ok", CodeSystemError: "SystemError", CodeRuntimeInconsistency: "RuntimeInconsistency",
	CodeDataInconsistency: "DataInconsistency", CodeConnectionLoss: "ConnectionLoss",
	CodeMarshallingError: "MarshallingError", CodeUnimplemented: "Unimplemented",
	CodeOperationTimeout: "OperationTimeout", CodeBadArguments: "BadArguments",
	CodeNewConfigNoQuorum: "NewConfigNoQuorum", CodeReconfigInProgress: "ReconfigInProgress",
	CodeAPIError: "APIError", CodeNoNode: "NoNode", CodeNoAuth: "NoAuth", CodeBadVersion: "BadVersion",
	CodeNoChildrenForEphemerals: "NoChildrenForEphemerals", CodeNodeExists: "NodeExists",
	CodeNotEmpty: "Directory not empty", CodeSessionExpired: "Session expired",
	CodeInvalidCallback: "Invalid callback", CodeInvalidACL: "InvalidACL", CodeAuthFailed: "AuthFailed",
	CodeSessionMoved: "Session moved", CodeNotReadOnly: "Not a read-only call",
	CodeEphemeralOnLocalSession: "Ephemeral node on local session", CodeNoWatcher: "No such watcher",
	CodeReconfigDisabled:         "Reconfig is disabled",
	CodeSessionClosedRequireSASL: "Session closed because client failed to authenticate",
	CodeQuotaExceeded:            "Quota has exceeded", CodeThrottledOp: "Op throttled due to high load",
}

// Error returns Java's KeeperException.Code message text.
func (c Code) Error() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return "Unknown error " + strconv.Itoa(int(c))
}

// EventType is Watcher.Event.EventType.
type EventType int32

// Event types the server sends (wire.md §6.4).
const (
	EventNone                   EventType = -1
	EventNodeCreated            EventType = 1
	EventNodeDeleted            EventType = 2
	EventNodeDataChanged        EventType = 3
	EventNodeChildrenChanged    EventType = 4
	EventDataWatchRemoved       EventType = 5
	EventChildWatchRemoved      EventType = 6
	EventPersistentWatchRemoved EventType = 7
)

// StateSyncConnected is the only KeeperState a server puts into a WatcherEvent.
const StateSyncConnected int32 = 3

// Special xids (wire.md §4).
const (
	XidNotification int32 = -1
	XidPing         int32 = -2
	XidAuth         int32 = -4
	XidSetWatches   int32 = -8
)

// Perms are ZooDefs.Perms bits.
const (
	PermRead   int32 = 1 << 0
	PermWrite  int32 = 1 << 1
	PermCreate int32 = 1 << 2
	PermDelete int32 = 1 << 3
	PermAdmin  int32 = 1 << 4
	PermAll    int32 = PermRead | PermWrite | PermCreate | PermDelete | PermAdmin
)

// CreateMode is CreateRequest.flags: an enumeration, not a bit mask.
type CreateMode int32

// Create modes of wire.md §6.2.
const (
	ModePersistent                  CreateMode = 0
	ModeEphemeral                   CreateMode = 1
	ModePersistentSequential        CreateMode = 2
	ModeEphemeralSequential         CreateMode = 3
	ModeContainer                   CreateMode = 4
	ModePersistentWithTTL           CreateMode = 5
	ModePersistentSequentialWithTTL CreateMode = 6
)

// Valid reports whether m is one of the defined modes.
func (m CreateMode) Valid() bool { return m >= ModePersistent && m <= ModePersistentSequentialWithTTL }

// Sequential reports whether names get a 10-digit suffix.
func (m CreateMode) Sequential() bool {
	return m == ModePersistentSequential || m == ModeEphemeralSequential || m == ModePersistentSequentialWithTTL
}

// Ephemeral reports whether the node is owned by its session.
func (m CreateMode) Ephemeral() bool { return m == ModeEphemeral || m == ModeEphemeralSequential }

// TTL reports whether the mode carries a time to live.
func (m CreateMode) TTL() bool {
	return m == ModePersistentWithTTL || m == ModePersistentSequentialWithTTL
}

// AddWatch modes.
const (
	AddWatchPersistent          int32 = 0
	AddWatchPersistentRecursive int32 = 1
)

// WatcherType values of Check/RemoveWatchesRequest.type.
const (
	WatcherChildren            int32 = 1
	WatcherData                int32 = 2
	WatcherAny                 int32 = 3
	WatcherPersistent          int32 = 4
	WatcherPersistentRecursive int32 = 5
)

// Zxid is a transaction id; in zkd it equals the raft log index of the entry.
type Zxid int64

func (z Zxid) String() string { return "0x" + strconv.FormatInt(int64(z), 16) }

// LogValue logs a zxid in hex, as every operator surface prints it, with the text
// and the JSON handler alike (the JSON one would otherwise print the number).
func (z Zxid) LogValue() slog.Value { return slog.StringValue(z.String()) }

// SessionID identifies a session; bits 63-56 carry the issuing server's id.
type SessionID int64

func (s SessionID) String() string { return "0x" + strconv.FormatUint(uint64(s), 16) }

// LogValue logs a session id in hex, as cons, dump and ZooKeeper's own logs
// print it, with the text and the JSON handler alike.
func (s SessionID) LogValue() slog.Value { return slog.StringValue(s.String()) }

// DefaultMaxBuffer is jute.maxbuffer's default: the largest frame payload accepted.
const DefaultMaxBuffer = 0xfffff
