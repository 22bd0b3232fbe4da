package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"zkd/datatree"
	"zkd/internal/vfs"
	"zkd/jute"
	"zkd/replica"
	"zkd/snapshot"
	"zkd/txnlog"
	"zkd/zkdisk"
	"zkd/zoocfg"
)

// importMain runs `zkd import`; args excludes "import". It returns the exit code.
func importMain(args []string) int {
	return importCmd(args, os.Stdout, os.Stderr, zkdisk.IsTerminal(os.Stdout))
}

// exportMain runs `zkd export`; args excludes "export". It returns the exit code.
// A first interrupt stops the export at the next write or downloaded block and
// removes what it had staged; a second one ends the process at once.
func exportMain(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	return exportCmd(ctx, args, os.Stdout, os.Stderr, zkdisk.IsTerminal(os.Stdout))
}

func importCmd(args []string, stdout, stderr io.Writer, tty bool) int {
	fs := flag.NewFlagSet("zkd import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: zkd import [--config zoo.cfg] [--from DIR] [--log-dir DIR] [--to DIR]\n\n"+
			"Reads an Apache ZooKeeper 3.4-3.9 data directory (version-2/ snapshots and logs, of a stopped\n"+
			"ZooKeeper; its files are only read), replays it as ZooKeeper would, checks ZooKeeper's digests,\n"+
			"and writes a new zkd data directory (<to>/zkd) whose zxids continue above ZooKeeper's.\n"+
			"With --config, dataDir and dataLogDir come from the zoo.cfg (--from and --to default to dataDir).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "zoo.cfg to take dataDir and dataLogDir from")
	from := fs.String("from", "", "ZooKeeper dataDir (holding version-2/snapshot.*)")
	logDir := fs.String("log-dir", "", "ZooKeeper dataLogDir (holding version-2/log.*; default: --from)")
	to := fs.String("to", "", "zkd dataDir to create <to>/zkd in (default: --from, beside ZooKeeper's files)")
	noVerify := fs.Bool("no-verify-digest", false, "import even if ZooKeeper's stored digests do not match (reported as warnings)")
	trustEmpty := fs.Bool("trust-empty-snapshot", false, "replay logs found without any snapshot onto an empty tree (zookeeper.snapshot.trust.empty)")
	maxBuffer := fs.Int("jute-maxbuffer", zkdisk.DefaultMaxBuffer, "jute.maxbuffer ZooKeeper ran with: records up to twice this are read")
	quiet := fs.Bool("quiet", false, "no progress output, only the summary")
	if err := fs.Parse(args); err != nil {
		return exitUsage(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "zkd import: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *configPath != "" {
		cfg, err := migrateConfig(*configPath)
		if err != nil {
			fmt.Fprintf(stderr, "zkd import: %v\n", err)
			return 2
		}
		setDefault(from, cfg.dataDir)
		setDefault(logDir, cfg.dataLogDir)
		setDefault(to, cfg.dataDir)
	}
	if *from == "" {
		fmt.Fprintln(stderr, "zkd import: --from (or --config) is required")
		return 2
	}
	setDefault(to, *from)
	printer := zkdisk.NewPrinter(stdout, tty)
	opt := zkdisk.ImportOptions{
		From: zkdisk.LoadOptions{DataDir: *from, LogDir: *logDir, NoVerifyDigest: *noVerify, TrustEmptySnapshot: *trustEmpty,
			ReadOptions: zkdisk.ReadOptions{MaxBuffer: *maxBuffer}},
		To: *to, ToLogDir: *logDir,
	}
	if !*quiet {
		opt.From.Progress = printer.Update
	}
	fmt.Fprintf(stdout, "importing ZooKeeper data from %s into %s\n", *from, zkdisk.ZkdLayout(*to, *logDir).Root)
	sum, err := zkdisk.Import(opt)
	printer.Done()
	if err != nil {
		fmt.Fprintf(stderr, "zkd import: %v\nnothing was written.\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "imported:")
	_, _ = sum.WriteTo(stdout)
	fmt.Fprintf(stdout, "start zkd with dataDir=%s; its zxids continue from 0x%x.\n", *to, sum.LastZxid)
	return 0
}

// exportCmd runs `zkd export`; ctx ends it early, writing nothing.
func exportCmd(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	fs := flag.NewFlagSet("zkd export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: zkd export --to DIR [--config zoo.cfg] [--data-dir DIR] [--log-dir DIR]\n"+
			"       zkd export --to DIR --server http://HOST:PORT[/commands] [--auth 'SCHEME AUTH']\n\n"+
			"Writes zkd's tree as an Apache ZooKeeper 3.8 data directory: <to>/version-2/ with one\n"+
			"snapshot (with its digest) and acceptedEpoch/currentEpoch, which ZooKeeper 3.8 and 3.9\n"+
			"load and serve unchanged.\n\n"+
			"Offline (the default): from a stopped zkd data directory (a running server locks it).\n"+
			"Online (--server): from a running zkd, any member of an ensemble, through its AdminServer's\n"+
			"snapshot command, which the server must enable (admin.snapshot.enabled=true). The server\n"+
			"syncs, then snapshots its tree at one applied zxid while it keeps serving; the stream (zkd's\n"+
			"own snapshot format) is checked whole (length, checksums) before anything is written, so a\n"+
			"cut or corrupt download stops with its offset and writes nothing. The command needs an\n"+
			"Authorization header with ALL on / (--auth; the default \"ip\" passes a root open to anyone).\n\n"+
			"Flags:\n")
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "zoo.cfg zkd ran with (dataDir, dataLogDir, extendedTypesEnabled, skipACL, snapshot.compression.method)")
	to := fs.String("to", "", "ZooKeeper dataDir to create <to>/version-2 in (required)")
	dataDir := fs.String("data-dir", "", "zkd dataDir (default: the config's dataDir, else zkd-data)")
	logDir := fs.String("log-dir", "", "zkd dataLogDir (default: the config's, else --data-dir)")
	server := fs.String("server", "", "export a running zkd: its AdminServer, http://host:port[/commands] (admin.serverPort, admin.commandURL)")
	auth := fs.String("auth", "ip", "with --server: the Authorization the snapshot command needs, 'digest user:password' or 'ip'; @FILE reads it from FILE")
	compression := fs.String("compression", "", "snapshot compression: gz or snappy (default: the config's snapshot.compression.method, else none, ZooKeeper's default)")
	extended := fs.Bool("extended-types", false, "zkd ran with extendedTypesEnabled (TTL nodes)")
	skipACL := fs.Bool("skip-acl", false, "zkd ran with skipACL=yes")
	quiet := fs.Bool("quiet", false, "no progress output, only the summary")
	if err := fs.Parse(args); err != nil {
		return exitUsage(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "zkd export: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *server != "" {
		var offline []string
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "config", "data-dir", "log-dir", "extended-types", "skip-acl":
				offline = append(offline, "--"+f.Name)
			}
		})
		if len(offline) > 0 {
			fmt.Fprintf(stderr, "zkd export: --server exports a running server; %s are for a stopped data directory\n",
				strings.Join(offline, ", "))
			return 2
		}
		return exportOnline(ctx, *server, *auth, *to, *compression, *quiet, stdout, stderr, tty)
	}
	treeCfg := datatree.Config{ExtendedTypes: *extended, SkipACL: *skipACL}
	ensemble := false
	if *configPath != "" {
		cfg, err := migrateConfig(*configPath)
		if err != nil {
			fmt.Fprintf(stderr, "zkd export: %v\n", err)
			return 2
		}
		setDefault(dataDir, cfg.dataDir)
		setDefault(logDir, cfg.dataLogDir)
		setDefault(compression, cfg.compression)
		treeCfg.ExtendedTypes = treeCfg.ExtendedTypes || cfg.extendedTypes
		treeCfg.SkipACL = treeCfg.SkipACL || cfg.skipACL
		ensemble = cfg.ensemble
	}
	setDefault(dataDir, zoocfg.Default().DataDir)
	if *to == "" {
		fmt.Fprintln(stderr, "zkd export: --to is required")
		return 2
	}
	if *compression != "" && zkdisk.ParseCodec(*compression) == zkdisk.CodecPlain {
		fmt.Fprintf(stderr, "zkd export: --compression %q: want gz or snappy\n", *compression)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fmt.Fprintf(stdout, "exporting zkd data from %s into %s\n", *dataDir, *to)
	tree, err := loadZkdDataDir(*dataDir, *logDir, treeCfg, ensemble, log)
	if err != nil {
		fmt.Fprintf(stderr, "zkd export: %v\nnothing was written.\n", err)
		return 1
	}
	printer := zkdisk.NewPrinter(stdout, tty)
	opt := zkdisk.ExportOptions{Dir: *to, Codec: zkdisk.ParseCodec(*compression), Context: ctx}
	if !*quiet {
		opt.Progress = printer.Update
	}
	sum, err := zkdisk.Export(tree, opt)
	printer.Done()
	if err != nil {
		return exportFailed(ctx, stderr, err)
	}
	fmt.Fprintln(stdout, "exported:")
	_, _ = sum.WriteTo(stdout)
	fmt.Fprintf(stdout, "start Apache ZooKeeper with dataDir=%s.\n", *to)
	return 0
}

// exportOnline is `zkd export --server`: zkdisk.ExportOnline, with the same
// output as an offline export.
func exportOnline(ctx context.Context, server, auth, to, compression string, quiet bool,
	stdout, stderr io.Writer, tty bool) int {
	if to == "" {
		fmt.Fprintln(stderr, "zkd export: --to is required")
		return 2
	}
	if compression != "" && zkdisk.ParseCodec(compression) == zkdisk.CodecPlain {
		fmt.Fprintf(stderr, "zkd export: --compression %q: want gz or snappy\n", compression)
		return 2
	}
	if _, err := zkdisk.SnapshotURL(server); err != nil {
		fmt.Fprintf(stderr, "zkd export: %v\n", err)
		return 2
	}
	if file, ok := strings.CutPrefix(auth, "@"); ok {
		b, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintf(stderr, "zkd export: --auth: %v\n", err)
			return 2
		}
		auth = strings.TrimSpace(string(b))
	}
	printer := zkdisk.NewPrinter(stdout, tty)
	opt := zkdisk.ExportOptions{Dir: to, Codec: zkdisk.ParseCodec(compression), Context: ctx}
	if !quiet {
		opt.Progress = printer.Update
	}
	fmt.Fprintf(stdout, "exporting the running zkd at %s into %s\n", server, to)
	sum, err := zkdisk.ExportOnline(ctx, zkdisk.FetchOptions{Server: server, Auth: auth}, opt)
	printer.Done()
	if err != nil {
		return exportFailed(ctx, stderr, err)
	}
	fmt.Fprintln(stdout, "exported:")
	_, _ = sum.WriteTo(stdout)
	fmt.Fprintf(stdout, "start Apache ZooKeeper with dataDir=%s.\n", to)
	return 0
}

// exportFailed reports a failed export and returns its exit code.
func exportFailed(ctx context.Context, stderr io.Writer, err error) int {
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "zkd export: interrupted; nothing was written.")
		return 1
	}
	fmt.Fprintf(stderr, "zkd export: %v\nnothing was written.\n", err)
	return 1
}

func exitUsage(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

func setDefault(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

// migrateSettings are the zoo.cfg keys import and export need.
type migrateSettings struct {
	dataDir, dataLogDir string
	// extendedTypes and skipACL change what applying a logged entry does, so the
	// export must replay zkd's log with the values the server ran with.
	extendedTypes, skipACL bool
	// ensemble says the server was a member of an ensemble: only entries its log
	// knows to be committed are exported (a standalone server commits its whole log).
	ensemble bool
	// compression is snapshot.compression.method: the snapshot ZooKeeper would
	// write with this zoo.cfg is what an export writes by default.
	compression string
}

// migrateConfig reads the keys import and export need from a zoo.cfg.
func migrateConfig(path string) (migrateSettings, error) {
	cfg, err := zoocfg.Load(path)
	if err != nil {
		return migrateSettings{}, err
	}
	return migrateSettings{dataDir: cfg.DataDir, dataLogDir: cfg.DataLogDir, extendedTypes: cfg.ExtendedTypes,
		skipACL: cfg.SkipACL, ensemble: cfg.Ensemble(), compression: cfg.SnapshotCompression}, nil
}

// loadZkdDataDir rebuilds the tree of a stopped zkd data directory: its newest
// snapshot, then the log entries after it applied as the server applies them
// (replica.ApplyLogged). A standalone server commits its whole log; an ensemble
// member only what its log knows to be committed.
func loadZkdDataDir(dataDir, dataLogDir string, cfg datatree.Config, ensemble bool, log *slog.Logger) (*datatree.Tree, error) {
	fsys := vfs.OS()
	dirs := zkdisk.ZkdLayout(dataDir, dataLogDir)
	if _, err := os.Stat(dirs.Root); err != nil {
		return nil, fmt.Errorf("no zkd data in %s: %w", dataDir, err)
	}
	tree, meta, err := snapshot.Load(fsys, dirs.Snapshots, cfg, log)
	if err != nil {
		return nil, err
	}
	if tree == nil {
		tree = datatree.New(cfg)
	}
	if _, err := os.Stat(dirs.Log); errors.Is(err, iofs.ErrNotExist) {
		return tree, nil
	}
	wal, err := txnlog.Open(fsys, dirs.Log, txnlog.Options{SnapshotIndex: meta.Index, Logger: log})
	if err != nil {
		return nil, err
	}
	defer wal.Close()
	first, last := max(wal.FirstIndex(), meta.Index+1), wal.LastIndex()
	if ensemble {
		last = min(last, wal.HardState().Commit)
	}
	if last < first {
		return tree, nil
	}
	if wal.FirstIndex() > meta.Index+1 {
		return nil, fmt.Errorf("the log starts at index %d but the snapshot ends at %d", wal.FirstIndex(), meta.Index)
	}
	ents, err := wal.Entries(first, last+1)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		replica.ApplyLogged(tree, jute.Zxid(e.Index), e.Data)
	}
	return tree, nil
}
