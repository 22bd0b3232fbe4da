package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"zkd/replica"
	"zkd/session"
)

// Config configures the AdminServer.
type Config struct {
	// Addr is host:port (admin.serverAddress:admin.serverPort); port 0 picks a
	// free port (see Server.Addr).
	Addr string
	// CommandURL is admin.commandURL, the prefix of every command.
	CommandURL string
	// IdleTimeout is admin.idleTimeout: an idle keep-alive connection is closed after it.
	IdleTimeout time.Duration
	// InitialConfiguration is the text of the configuration zkd started from
	// (initial_configuration); empty: none, reported as null.
	InitialConfiguration string
	// SystemProperties are system_properties' fields: the -D properties zkd was
	// given and the zoo.cfg keys ZooKeeper turns into zookeeper.* properties.
	SystemProperties map[string]string
	// LastSnapshot returns the newest snapshot's zxid and time (last_snapshot); ok
	// is false when there is none yet.
	LastSnapshot func() (zxid uint64, at time.Time, ok bool)
	// Disk supplies fsync_threshold_exceed_count; may be nil.
	Disk *session.DiskStats
	// Ensemble returns the current membership (voting_view); nil: standalone.
	Ensemble func() replica.Ensemble
	// SnapshotEnabled is admin.snapshot.enabled: unless it is set, the snapshot
	// command answers 503 and is not listed (snapshot.go).
	SnapshotEnabled bool
	// RateLimiterInterval is admin.rateLimiterIntervalInMS: the snapshot command
	// runs at most once per interval; 0 does not limit it.
	RateLimiterInterval time.Duration
	// TakeSnapshot takes a consistent snapshot of the tree now and opens it, for
	// the snapshot command; nil: the command fails (500). It may take as long as
	// a snapshot takes to write; ctx ends when the client goes away.
	TakeSnapshot func(ctx context.Context) (Snapshot, error)
	// TLS, when set, serves the commands over HTTPS (https.go): only HTTPS
	// (admin.forceHttps), or with Unified HTTPS and HTTP on the one port
	// (admin.portUnification).
	TLS     *tls.Config
	Unified bool
	// Now is the rate limiter's clock (time.Now unless a test sets it).
	Now    func() time.Time
	Logger *slog.Logger
}

// DefaultConfig returns ZooKeeper's AdminServer defaults.
func DefaultConfig() Config {
	return Config{Addr: "0.0.0.0:8080", CommandURL: "/commands", IdleTimeout: 30 * time.Second,
		RateLimiterInterval: 5 * time.Minute}
}

// Validate fills defaults and reports a configuration error.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("admin: address %q: %w", c.Addr, err)
	}
	if c.CommandURL == "" {
		c.CommandURL = "/commands"
	}
	if !strings.HasPrefix(c.CommandURL, "/") {
		c.CommandURL = "/" + c.CommandURL
	}
	c.CommandURL = strings.TrimSuffix(c.CommandURL, "/")
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Second
	}
	if c.RateLimiterInterval < 0 {
		c.RateLimiterInterval = 0
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Server is a running AdminServer.
type Server struct {
	cfg  Config
	sess *session.Server
	ln   net.Listener
	http *http.Server
	errc chan error // buffer 1: Serve's result
	// snapLimit rate-limits the snapshot command; safe for concurrent use.
	snapLimit *rateLimiter
}

// Listen binds the AdminServer's port and serves in the background. It returns
// once the port accepts connections, or the bind error.
func Listen(cfg Config, sess *session.Server) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w", cfg.Addr, err)
	}
	switch {
	case cfg.TLS != nil && cfg.Unified:
		ln = unifiedListener{Listener: ln, tls: cfg.TLS}
	case cfg.TLS != nil:
		ln = tls.NewListener(ln, cfg.TLS)
	}
	s := &Server{cfg: cfg, sess: sess, ln: ln, errc: make(chan error, 1),
		snapLimit: newRateLimiter(cfg.RateLimiterInterval, cfg.Now)}
	s.http = &http.Server{Handler: s, IdleTimeout: cfg.IdleTimeout, ReadHeaderTimeout: cfg.IdleTimeout,
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	go func() { s.errc <- s.http.Serve(ln) }()
	cfg.Logger.Info(fmt.Sprintf("Started AdminServer on address %s, port %d and command URL %s",
		hostOf(ln.Addr()), portOf(ln.Addr()), cfg.CommandURL))
	return s, nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Stop closes the listener and waits for requests in progress (bounded by ctx);
// connections still busy then (a snapshot being streamed) are closed.
func (s *Server) Stop(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		_ = s.http.Close()
	}
	if serr := <-s.errc; err == nil && !errors.Is(serr, http.ErrServerClosed) {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("admin: stop: %w", err)
	}
	return nil
}

// ServeHTTP answers GET <CommandURL> with the list of commands and
// GET <CommandURL>/<name> with the command's JSON, as Jetty does for ZooKeeper 3.8.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", "zkd")
	path := r.URL.Path
	var name string
	switch {
	case path == s.cfg.CommandURL || path == s.cfg.CommandURL+"/":
	case strings.HasPrefix(path, s.cfg.CommandURL+"/"):
		name = strings.TrimPrefix(path, s.cfg.CommandURL+"/")
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "HTTP method "+r.Method+" is not supported by this URL", http.StatusMethodNotAllowed)
		return
	}
	if name == "" {
		// ZooKeeper's list has no Content-Type; nil keeps net/http from sniffing one.
		w.Header()["Content-Type"] = nil
		var b strings.Builder
		for _, c := range s.sortedNames() {
			b.WriteString(`<a href="` + s.cfg.CommandURL + "/" + c + `">` + c + "</a>\n<br/>\n")
		}
		_, _ = w.Write([]byte(b.String()))
		return
	}
	if isSnapshotCommand(name) {
		s.serveSnapshot(w, r)
		return
	}
	body := s.run(name, r.URL.Query())
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// sortedNames returns the primary command names in alphabetical order: 3.8's,
// and snapshot when it is enabled.
func (s *Server) sortedNames() []string {
	out := make([]string, 0, len(commands)+1)
	for _, c := range commands {
		out = append(out, c.name)
	}
	if s.cfg.SnapshotEnabled {
		out = append(out, snapshotCommand)
	}
	slices.Sort(out)
	return out
}

func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, _ := net.SplitHostPort(a.String())
	return host
}

func portOf(a net.Addr) int {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.Port
	}
	return 0
}
