// Command zkd is a ZooKeeper-compatible coordination server.
//
//	zkd                      standalone on 127.0.0.1:2181, data in ./zkd-data
//	zkd zoo.cfg              the same keys as ZooKeeper's zoo.cfg
//	zkd -config zoo.cfg      the same
//	zkd start-foreground zoo.cfg   as zkServer.sh start-foreground
//	zkd bench ...            load generator (cmd_bench.go)
//	zkd probe                health check for containers and scripts (cmd_probe.go)
//	zkd version              version, commit, build date, Go version, OS/arch
//	zkd help                 the subcommands, one line each
//
// Without a config file, the official ZooKeeper Docker image's variables (ZOO_*)
// configure zkd as that image's entrypoint would.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // -pprof serves the default mux
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"zkd/server"
	"zkd/zoocfg"
)

func main() {
	if cmd, ok := lookupCommand(os.Args[1:]); ok {
		os.Exit(cmd.run(os.Args[2:]))
	}
	cfg, log, err := parseFlagsEnv(os.Args[1:], os.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "zkd: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		fmt.Fprintf(os.Stderr, "zkd: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (zoocfg.Config, *slog.Logger, error) {
	return parseFlagsEnv(args, os.Getenv)
}

// parseFlagsEnv parses the command line with getenv standing for the environment
// (JVM flag variables, ZOOPIDFILE, the Docker image's ZOO_* variables). The
// configuration is built in this order, each step on top of the last: a config
// file (or the ZOO_* variables, or a bare zkd's defaults), -D system properties,
// then the flags given explicitly.
func parseFlagsEnv(args []string, getenv func(string) string) (zoocfg.Config, *slog.Logger, error) {
	cfg := zoocfg.Default()
	// `zkd [zkServer.sh] start-foreground zoo.cfg`: the official image's command and
	// zkServer.sh's verb; zkd always runs in the foreground.
	if len(args) > 0 && filepath.Base(args[0]) == "zkServer.sh" {
		args = args[1:]
	}
	if len(args) > 0 && args[0] == "start-foreground" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("zkd", flag.ContinueOnError)
	fs.Usage = func() {
		writeUsageHead(fs.Output())
		fmt.Fprintf(fs.Output(), "\nServer flags:\n")
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "ZooKeeper configuration file (zoo.cfg); may also be the first argument")
	addr := fs.String("addr", cfg.ClientAddr, "client address host:port (clientPortAddress:clientPort); port 0 picks a free port")
	dataDir := fs.String("data-dir", cfg.DataDir, "data directory (dataDir)")
	tick := fs.Duration("tick-time", cfg.TickTime, "tickTime: unit of session timeouts")
	superDigest := fs.String("super-digest", "", "zookeeper.DigestAuthenticationProvider.superDigest, e.g. super:xQJmxLMiHGwaqBvst5y6rkB6HQs=")
	maxBuffer := fs.Int("jute-maxbuffer", cfg.MaxBuffer, "jute.maxbuffer: largest request frame accepted, bytes")
	extended := fs.Bool("extended-types", false, "zookeeper.extendedTypesEnabled: allow TTL nodes")
	whitelist := fs.String("4lw", "srvr", "4lw.commands.whitelist: comma-separated four-letter words, * for all")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logFormat := fs.String("log-format", cfg.LogFormat, "log format: text or json")
	pidFile := fs.String("pidfile", getenv("ZOOPIDFILE"), "write the process id to this file while running (default $ZOOPIDFILE)")
	fs.StringVar(&pprofAddr, "pprof", "", "serve Go's profiler (net/http/pprof) on this address, e.g. 127.0.0.1:6060 (off by default)")
	props, args := zoocfg.SystemProperties(args, getenv)
	if err := fs.Parse(args); err != nil {
		return cfg, nil, err
	}
	if *configPath == "" && fs.NArg() > 0 {
		*configPath = fs.Arg(0)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return cfg, nil, fmt.Errorf("-log-level: %w", err)
	}
	log := newLogger(level, *logFormat)
	if *configPath != "" {
		loaded, err := zoocfg.Load(*configPath)
		if err != nil {
			return cfg, nil, err
		}
		cfg = loaded
	} else if loaded, ok, err := zoocfg.LoadDockerEnv(getenv); err != nil {
		return cfg, nil, err
	} else if ok {
		if loaded.ConfigFile == "" {
			log.Info("no configuration file: configured from the ZOO_* environment as the official Docker image does")
			if err := writeDockerConfig(loaded, getenv, log); err != nil {
				return cfg, nil, err
			}
		}
		cfg = loaded
	}
	cfg.LogLevel, cfg.LogFormat, cfg.PIDFile = level, *logFormat, *pidFile
	if err := cfg.ApplySystemProperties(props); err != nil {
		return cfg, nil, err
	}
	for _, w := range cfg.Warnings {
		log.LogAttrs(context.Background(), slog.LevelWarn, w.Msg, w.Attrs()...)
	}
	// Flags set explicitly win over the file and system properties.
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "addr":
			cfg.ClientAddr = *addr
		case "data-dir":
			cfg.DataDir = *dataDir
		case "tick-time":
			cfg.TickTime = *tick
		case "super-digest":
			cfg.SuperDigest = *superDigest
		case "jute-maxbuffer":
			cfg.MaxBuffer = *maxBuffer
		case "extended-types":
			cfg.ExtendedTypes = *extended
		case "4lw":
			cfg.FourLetterWords = zoocfg.ParseList(*whitelist)
		}
	})
	return cfg, log, cfg.Validate()
}

func newLogger(level slog.Level, format string) *slog.Logger {
	return slog.New(newLogHandler(os.Stderr, level, format))
}

// newLogHandler returns the text or JSON handler of zkd's logs. Durations are
// logged in milliseconds, under a key ending in _ms, as every other duration zkd
// logs or prints (timeout_ms, took_ms): the JSON handler would print
// nanoseconds, the text one "1.5s". Session ids and zxids are hex through their
// own LogValue.
func newLogHandler(w io.Writer, level slog.Level, format string) slog.Handler {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationsInMs}
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

func durationsInMs(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindDuration {
		return a
	}
	key := a.Key
	if !strings.HasSuffix(key, "_ms") {
		key += "_ms"
	}
	return slog.Int64(key, a.Value.Duration().Milliseconds())
}

// pprofAddr is -pprof: where Go's profiler is served, "" for nowhere.
var pprofAddr string

// servePprof serves net/http/pprof's handlers (registered on the default mux by
// its import) until the process ends: CPU, heap, mutex and block profiles and
// the execution tracer of a live server.
func servePprof(addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("-pprof: %w", err)
	}
	log.Info("profiler listening", "addr", ln.Addr().String(), "path", "/debug/pprof/")
	go func() { _ = http.Serve(ln, nil) }()
	return nil
}

// run serves until ctx is cancelled (SIGINT or SIGTERM).
func run(ctx context.Context, cfg zoocfg.Config, log *slog.Logger) error {
	if limit, source := applyMemoryLimit(os.Args[1:], os.Getenv); limit > 0 {
		log.Info("Go memory limit set", "bytes", limit, "from", source)
	}
	tuneGC(ctx, os.Getenv)
	if pprofAddr != "" {
		runtime.SetMutexProfileFraction(100)
		runtime.SetBlockProfileRate(100000)
		if err := servePprof(pprofAddr, log); err != nil {
			return err
		}
	}
	srv, err := startInstance(cfg, log)
	if err != nil {
		return err
	}
	if cfg.PIDFile != "" {
		remove, err := writePIDFile(cfg.PIDFile)
		if err != nil {
			_ = srv.Stop()
			return err
		}
		defer remove()
	}
	select {
	case <-ctx.Done():
	case ferr := <-srv.Err():
		// The log can no longer be trusted to be written: stop as ZooKeeper does
		// rather than serve reads of a state nobody can extend.
		_ = srv.Stop()
		return ferr
	}
	log.Info("shutting down")
	start := time.Now()
	err = srv.Stop()
	log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
	return err
}

// startInstance starts a server with this binary's version.
func startInstance(cfg zoocfg.Config, log *slog.Logger) (*server.Server, error) {
	return server.Start(context.Background(), cfg, server.Options{Version: version, BuildTime: buildTime(), Logger: log})
}
