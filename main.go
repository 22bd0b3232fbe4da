// Command zkd is a ZooKeeper-compatible coordination server.
//
//	zkd                      standalone on 127.0.0.1:2181, data in ./zkd-data
//	zkd zoo.cfg              the same keys as ZooKeeper's zoo.cfg
//	zkd -config zoo.cfg      the same
//	zkd version              print the version
//	zkd start-foreground zoo.cfg   as zkServer.sh start-foreground
//
// Without a config file, the official ZooKeeper Docker image's variables (ZOO_*)
// configure zkd as that image's entrypoint would.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println("zkd", version)
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "bench" {
		os.Exit(benchMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "import" {
		os.Exit(importMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "export" {
		os.Exit(exportMain(os.Args[2:]))
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

func parseFlags(args []string) (Config, *slog.Logger, error) { return parseFlagsEnv(args, os.Getenv) }

// parseFlagsEnv parses the command line with getenv standing for the environment
// (JVM flag variables, ZOOPIDFILE, the Docker image's ZOO_* variables).
func parseFlagsEnv(args []string, getenv func(string) string) (Config, *slog.Logger, error) {
	cfg := DefaultConfig()
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
		fmt.Fprintf(fs.Output(), "Usage: zkd [start-foreground] [flags] [-Dkey=value ...] [zoo.cfg]\n       zkd version\n\n"+
			"Without a config file zkd runs standalone on 127.0.0.1:2181 with data in ./zkd-data,\n"+
			"the AdminServer on 127.0.0.1:8080 (skipped with a warning if that port is taken);\n"+
			"the official Docker image's ZOO_* variables, when set, stand in for a config file.\n"+
			"A zoo.cfg is read with ZooKeeper's keys and defaults. ZooKeeper settings given as JVM\n"+
			"system properties (-Dzookeeper.X=Y here, or in SERVER_JVMFLAGS / JVMFLAGS) apply on top;\n"+
			"flags given explicitly override both.\n\nFlags:\n")
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
	props, args := systemProperties(args, getenv)
	if err := fs.Parse(args); err != nil {
		return cfg, nil, err
	}
	if *configPath == "" && fs.NArg() > 0 {
		*configPath = fs.Arg(0)
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return cfg, nil, fmt.Errorf("-log-level: %w", err)
	}
	cfg.LogFormat = *logFormat
	log := newLogger(cfg)
	cfg.PIDFile = *pidFile
	if *configPath == "" {
		if path, text, ok := dockerConfig(getenv); ok {
			if path != "" {
				*configPath = path
			} else {
				log.Info("no configuration file: configured from the ZOO_* environment as the official Docker image does")
				if id, err := strconv.ParseInt(dockerMyID(getenv), 10, 64); err == nil {
					cfg.Quorum.MyID = id
				}
				if err := cfg.loadZooCfg("zoo.cfg from the ZOO_* environment", []byte(text), log); err != nil {
					return cfg, nil, err
				}
			}
		}
	}
	if *configPath != "" {
		if err := cfg.LoadZooCfg(*configPath, log); err != nil {
			return cfg, nil, err
		}
	}
	if err := cfg.ApplySystemProperties(props); err != nil {
		return cfg, nil, err
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
			cfg.FourLetterWords = parseList(*whitelist)
		}
	})
	return cfg, log, cfg.Validate()
}

func newLogger(cfg Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// run serves until ctx is cancelled (SIGINT or SIGTERM).
func run(ctx context.Context, cfg Config, log *slog.Logger) error {
	in, err := start(cfg, log)
	if err != nil {
		return err
	}
	if cfg.PIDFile != "" {
		remove, err := writePIDFile(cfg.PIDFile)
		if err != nil {
			_ = in.stop()
			return err
		}
		defer remove()
	}
	select {
	case <-ctx.Done():
	case ferr := <-in.node.Failed():
		// The log can no longer be trusted to be written: stop as ZooKeeper does
		// rather than serve reads of a state nobody can extend.
		_ = in.stop()
		return ferr
	}
	log.Info("shutting down")
	start := time.Now()
	err = in.stop()
	log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
	return err
}
