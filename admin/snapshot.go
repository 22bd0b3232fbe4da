package admin

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"zkd/datatree"
	"zkd/jute"
	"zkd/replica"
	"zkd/session"
)

// The snapshot command (ZooKeeper 3.9's SnapshotCommand, names "snapshot" and
// "snap"): GET <CommandURL>/snapshot[?streaming=false] takes a snapshot of the
// tree now and streams it. As in ZooKeeper, in this order:
//
//	no Authorization header               -> 401 {"command" : "snapshot", "error" : "Auth info is missing for the command"}
//	a scheme without a provider, bad data -> 401 ... "Not authenticated"
//	the ids lack ALL on "/"               -> 403 ... "Not authorized"
//	admin.snapshot.enabled not set        -> 503 {"command" : "snapshot", "error" : null}
//	more than one per admin.rateLimiterIntervalInMS -> 429, the same body
//	the member knows no leader            -> 200 ... "This ZooKeeper instance is not currently serving requests"
//	the snapshot fails                    -> 500, the same body as 503
//	streaming (the default)               -> 200, application/octet-stream, the snapshot file
//	streaming=false                       -> 200 {"command" : "snapshot", "error" : null}
//
// Either 200 carries the headers last_zxid (0x<hex>) and snapshot_size (bytes).
// The file is zkd's own snapshot (package snapshot: header, zstd body, trailer with
// a CRC32C of the body), not ZooKeeper's format: `zkd export --server` reads it and
// writes ZooKeeper's files. zkd serves the command only when admin.snapshot.enabled
// is set (ZooKeeper 3.9 defaults it to true; 3.8, whose configurations zkd runs,
// has no such command), and lists it on the command page only then.
//
// Reference: ZooKeeper 3.9 Commands.SnapshotCommand, Commands.runCommand's auth,
// JettyAdminServer.CommandServlet, RateLimiter.

// Snapshot is a snapshot file opened for the snapshot command; the command closes Body.
type Snapshot struct {
	Zxid uint64
	Size int64
	Body io.ReadCloser
}

const (
	snapshotCommand = "snapshot"

	// ZooKeeper's answers to a command that needs auth (Commands.runCommand).
	msgAuthMissing   = "Auth info is missing for the command"
	msgAuthFailed    = "Not authenticated"
	msgNotAuthorized = "Not authorized"
	msgNotServing    = "This ZooKeeper instance is not currently serving requests"
)

// isSnapshotCommand reports whether name is one of the snapshot command's names.
func isSnapshotCommand(name string) bool { return name == snapshotCommand || name == "snap" }

// rateLimiter lets one request through per interval: ZooKeeper's RateLimiter
// with a rate of 1 (a fixed window that reopens once interval has passed since
// it last did).
type rateLimiter struct {
	interval time.Duration
	now      func() time.Time
	mu       struct {
		sync.Mutex
		reset time.Time // guarded by mu: when the window last reopened
		left  int       // guarded by mu: requests still allowed in the window
	}
}

func newRateLimiter(interval time.Duration, now func() time.Time) *rateLimiter {
	l := &rateLimiter{interval: interval, now: now}
	l.mu.reset, l.mu.left = now(), 1
	return l
}

func (l *rateLimiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := l.now(); now.Sub(l.mu.reset) > l.interval {
		l.mu.reset, l.mu.left = now, 1
	}
	if l.mu.left == 0 {
		return false
	}
	l.mu.left--
	return true
}

// writeJSON writes a command's JSON body with a status.
func writeJSON(w http.ResponseWriter, status int, body object) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(encode(body))
}

// serveSnapshot answers the snapshot command (see the table above).
func (s *Server) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	log := s.cfg.Logger.With("command", snapshotCommand, "remote", r.RemoteAddr)
	refuse := func(status int, msg any) {
		writeJSON(w, status, object{{"command", snapshotCommand}, {"error", msg}})
	}
	if status, msg := s.authorize(r); status != 0 {
		log.Warn("snapshot command refused", "status", status, "reason", msg)
		refuse(status, msg)
		return
	}
	if !s.cfg.SnapshotEnabled {
		log.Warn("Snapshot command is disabled (admin.snapshot.enabled)")
		refuse(http.StatusServiceUnavailable, nil)
		return
	}
	if !s.snapLimit.allow() {
		log.Warn("Snapshot request was rate limited (admin.rateLimiterIntervalInMS)", "interval", s.cfg.RateLimiterInterval)
		refuse(http.StatusTooManyRequests, nil)
		return
	}
	// Boolean.parseBoolean: "true" in any case is true, anything else false.
	streaming := true
	if v, ok := r.URL.Query()["streaming"]; ok {
		streaming = strings.EqualFold(v[0], "true")
	}
	if s.cfg.TakeSnapshot == nil {
		log.Warn("snapshot command: this server keeps no snapshots")
		refuse(http.StatusInternalServerError, nil)
		return
	}
	start := time.Now()
	snap, err := s.cfg.TakeSnapshot(r.Context())
	switch {
	case errors.Is(err, replica.ErrNoLeader):
		refuse(http.StatusOK, msgNotServing)
		return
	case err != nil:
		log.Warn("Exception occurred when taking the snapshot via the snapshot admin command", "err", err)
		refuse(http.StatusInternalServerError, nil)
		return
	}
	defer snap.Body.Close()
	// Set as ZooKeeper spells them: lower case, which Header.Set would capitalise.
	w.Header()["last_zxid"] = []string{"0x" + strconv.FormatUint(snap.Zxid, 16)}
	w.Header()["snapshot_size"] = []string{strconv.FormatInt(snap.Size, 10)}
	if !streaming {
		writeJSON(w, http.StatusOK, object{{"command", snapshotCommand}, {"error", nil}})
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(snap.Size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	n, err := io.Copy(w, snap.Body)
	secs := time.Since(start).Seconds()
	if err != nil {
		// The client sees a short body: its length and the file's trailer tell it.
		log.Warn("Exception streaming out data", "zxid", "0x"+strconv.FormatUint(snap.Zxid, 16),
			"sent", n, "size", snap.Size, "err", err)
		return
	}
	log.Info("snapshot streamed", "zxid", "0x"+strconv.FormatUint(snap.Zxid, 16), "bytes", n,
		"seconds", strconv.FormatFloat(secs, 'f', 3, 64))
}

// authorize authenticates the request's Authorization header ("<scheme> <auth>")
// and checks that the ids hold ALL on "/", as ZooKeeper 3.9 does for the commands
// that need auth; it returns 0 or the status and message to refuse with.
// Schemes: digest ("digest user:password", with the super digest as on a client
// connection) and ip (the peer's address); x509 needs an HTTPS AdminServer, which
// zkd does not serve, so it is refused like any unknown scheme.
func (s *Server) authorize(r *http.Request) (int, string) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return http.StatusUnauthorized, msgAuthMissing
	}
	parts := javaSplit(values[0], " ")
	if len(parts) != 1 && len(parts) != 2 {
		return http.StatusUnauthorized, msgAuthFailed
	}
	var ids datatree.Identity
	switch parts[0] {
	case "digest":
		if len(parts) != 2 {
			return http.StatusUnauthorized, msgAuthFailed
		}
		digest := session.DigestID(parts[1])
		if super := s.sess.Config().SuperDigest; super != "" && digest == super {
			ids = append(ids, jute.Id{Scheme: "super", ID: ""})
		}
		ids = append(ids, jute.Id{Scheme: "digest", ID: digest})
	case "ip":
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return http.StatusUnauthorized, msgAuthFailed
		}
		ids = append(ids, jute.Id{Scheme: "ip", ID: host})
	default:
		return http.StatusUnauthorized, msgAuthFailed
	}
	tree := s.sess.Tree()
	acl, _, code := tree.GetACL("/", datatree.Identity{{Scheme: "super"}})
	if code != jute.CodeOK {
		return http.StatusInternalServerError, "Error occurred during auth"
	}
	// Every permission bit on its own, as ZooKeeper's handleAuthorization checks them.
	for bit := int32(1); bit <= jute.PermAll; bit <<= 1 {
		if jute.PermAll&bit != 0 && !tree.CheckACL(acl, ids, bit) {
			return http.StatusForbidden, msgNotAuthorized
		}
	}
	return 0, ""
}

// javaSplit splits as Java's String.split does: trailing empty strings are dropped.
func javaSplit(s, sep string) []string {
	parts := strings.Split(s, sep)
	for len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}
