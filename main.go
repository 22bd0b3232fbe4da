// Command zkd is a ZooKeeper-compatible coordination server.
//
//	zkd                      standalone on 127.0.0.1:2181, data in ./zkd-data
//	zkd zoo.cfg              the same keys as ZooKeeper's zoo.cfg
//	zkd -config zoo.cfg      the same
//	zkd version              print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
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
	cfg, log, err := parseFlags(os.Args[1:])
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

func parseFlags(args []string) (Config, *slog.Logger, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("zkd", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: zkd [flags] [-Dkey=value ...] [zoo.cfg]\n       zkd version\n\n"+
			"Without a config file zkd runs standalone on 127.0.0.1:2181 with data in ./zkd-data.\n"+
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
	props, args := systemProperties(args, os.Getenv)
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
