package zkdisk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"zkd/datatree"
	"zkd/internal/vfs"
	"zkd/snapshot"
)

// ErrRefused is returned by Fetch when the server does not send a snapshot: the
// AdminServer's snapshot command answered with an error (its status and message
// are in the error's text).
var ErrRefused = errors.New("zkdisk: the server refused the snapshot command")

// FetchOptions say which running zkd to take a snapshot from.
type FetchOptions struct {
	// Server is its AdminServer: http://host:port, optionally with the command
	// URL (admin.commandURL, /commands when absent); host:port alone means http.
	Server string
	// Auth is the Authorization header the command needs, "<scheme> <auth>":
	// "digest user:password", or "ip" (the caller's address).
	Auth string
	// TempDir holds the download while it is checked and read (a hidden file,
	// removed before Fetch returns).
	TempDir string
	// Client makes the request; nil: one without an overall timeout (a large
	// tree takes as long as it takes), which gives up on a server that accepts
	// no connection or sends no headers within a minute.
	Client   *http.Client
	Progress func(Progress)
}

// Fetched is a snapshot taken from a running server, checked and loaded.
type Fetched struct {
	Tree  *datatree.Tree
	URL   string // the snapshot command's URL
	Zxid  int64  // the applied zxid the snapshot holds
	Bytes int64  // size of the stream
}

// SnapshotURL returns the URL of the snapshot command of the AdminServer at
// server (see FetchOptions.Server); Fetch asks it for the stream (?streaming=true).
func SnapshotURL(server string) (string, error) {
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("zkdisk: server URL %q: %w", server, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("zkdisk: server URL %q: want http://host:port[/commands]", server)
	}
	path := strings.TrimSuffix(u.Path, "/")
	if path == "" {
		path = "/commands"
	}
	u.Path = path + "/snapshot"
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// Fetch asks a running zkd's AdminServer for a snapshot of its tree (the
// snapshot command: a consistent image at one applied zxid, in zkd's snapshot
// format) and loads it. The stream is kept in a temporary file while it
// downloads, then read back with every check of zkd's snapshot format (header
// checksum, trailer, node count, CRC32C of the whole body) plus its length
// against the server's snapshot_size and its zxid against last_zxid. A stream
// that ends early or fails a check is a *FileError naming the URL and the offset
// (ErrTruncated, or the snapshot package's ErrCorrupt); a refusal is ErrRefused.
// Nothing is left behind either way.
func Fetch(ctx context.Context, opt FetchOptions) (*Fetched, error) {
	target, err := SnapshotURL(opt.Server)
	if err != nil {
		return nil, err
	}
	client := opt.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: time.Minute,
			// The stream is zstd already; asking for gzip would only cost CPU.
			DisableCompression: true,
		}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+"?streaming=true", nil)
	if err != nil {
		return nil, fmt.Errorf("zkdisk: %w", err)
	}
	if opt.Auth != "" {
		req.Header.Set("Authorization", opt.Auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("zkdisk: %w", err)
	}
	defer resp.Body.Close()
	if err := refusal(target, resp); err != nil {
		return nil, err
	}
	zxid, err := strconv.ParseUint(strings.TrimPrefix(resp.Header.Get("last_zxid"), "0x"), 16, 63)
	if err != nil {
		return nil, fmt.Errorf("%w: %s answered without a last_zxid header (%q): not a snapshot stream", ErrRefused,
			target, resp.Header.Get("last_zxid"))
	}
	size := resp.ContentLength
	if v := resp.Header.Get("snapshot_size"); v != "" {
		if size, err = strconv.ParseInt(v, 10, 64); err != nil || size < 0 {
			return nil, fmt.Errorf("%w: %s: snapshot_size %q", ErrRefused, target, v)
		}
	}

	f, err := os.CreateTemp(opt.TempDir, ".zkd-export-*.download")
	if err != nil {
		return nil, fmt.Errorf("zkdisk: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	n, err := download(f, resp.Body, target, size, opt.Progress)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("zkdisk: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	tree, meta, err := loadChecked(tmp, target, n, opt.Progress)
	if err != nil {
		return nil, err
	}
	if meta.Index != zxid {
		return nil, &FileError{File: target, Offset: 0, Err: fmt.Errorf("%w: the stream holds zxid 0x%x, the server announced 0x%x",
			snapshot.ErrCorrupt, meta.Index, zxid)}
	}
	return &Fetched{Tree: tree, URL: target, Zxid: int64(zxid), Bytes: n}, nil
}

// refusal turns any answer but a snapshot stream into an error that says what
// to do about it.
func refusal(target string, resp *http.Response) error {
	isJSON := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json")
	if resp.StatusCode == http.StatusOK && !isJSON {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var reply struct {
		Error *string `json:"error"`
	}
	msg := ""
	if isJSON && json.Unmarshal(body, &reply) == nil && reply.Error != nil {
		msg = *reply.Error
	}
	hint := ""
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		hint = "pass --auth 'digest user:password' for an id with ALL on / (or the super digest)"
	case http.StatusServiceUnavailable:
		hint = "the command is disabled: set admin.snapshot.enabled=true in the server's zoo.cfg and restart it"
	case http.StatusTooManyRequests:
		hint = "the server takes one snapshot per admin.rateLimiterIntervalInMS, 5 minutes by default: try again later"
	case http.StatusNotFound:
		hint = "no AdminServer command URL there: check the port and admin.commandURL"
	case http.StatusOK:
		if strings.HasPrefix(msg, "Unknown command") {
			hint = "this server has no snapshot command (Apache ZooKeeper 3.8, or an older zkd)"
		}
	}
	text := resp.Status
	if msg != "" {
		text += ": " + msg
	}
	if hint != "" {
		text += " (" + hint + ")"
	}
	return fmt.Errorf("%w: %s answered %s", ErrRefused, target, text)
}

// download copies the stream to f, reporting progress, and checks that it is as
// long as announced (size; -1 when unknown).
func download(f *os.File, body io.Reader, target string, size int64, progress func(Progress)) (int64, error) {
	report := func(n int64) {
		if progress != nil {
			progress(Progress{Phase: PhaseDownload, File: target, Bytes: n, Total: max(size, 0)})
		}
	}
	buf := make([]byte, 256<<10)
	var n int64
	report(0)
	for {
		m, err := body.Read(buf)
		if m > 0 {
			if _, werr := f.Write(buf[:m]); werr != nil {
				return n, fmt.Errorf("zkdisk: %w", werr)
			}
			n += int64(m)
			report(n)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, &FileError{File: target, Offset: n, Err: fmt.Errorf("%w: the download broke off: %w", ErrTruncated, err)}
		}
	}
	if size >= 0 && n != size {
		return n, &FileError{File: target, Offset: n, Err: fmt.Errorf("%w: the stream ended after %d of the %d bytes announced",
			ErrTruncated, n, size)}
	}
	return n, nil
}

// loadChecked reads the downloaded snapshot back with the snapshot package's
// checks. A failure is located at the start of the last stretch of the file the
// reader had asked for: the trailer for a stream cut short, the header, or the
// compressed block being decoded.
func loadChecked(path, target string, size int64, progress func(Progress)) (*datatree.Tree, snapshot.Meta, error) {
	fs := &trackFS{FS: vfs.OS(), size: size, progress: progress, target: target}
	// TTL markers are kept as stored whatever the server's setting, as on import.
	tree, meta, err := snapshot.LoadFile(fs, path, datatree.Config{ExtendedTypes: true})
	if err != nil {
		return nil, meta, &FileError{File: target, Offset: fs.last.Load(), Err: err}
	}
	if progress != nil {
		progress(Progress{Phase: PhaseCheck, File: target, Nodes: tree.NodeCount(), TotalNodes: tree.NodeCount(), Bytes: size, Total: size})
	}
	return tree, meta, nil
}

// trackFS opens files whose reads are tracked: the offset of the latest read,
// and the furthest byte read for progress.
type trackFS struct {
	vfs.FS
	size     int64
	target   string
	progress func(Progress)
	last     atomic.Int64 // offset of the latest ReadAt
	furthest atomic.Int64 // end of the furthest ReadAt into the body
}

func (t *trackFS) Open(name string) (vfs.File, error) {
	f, err := t.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return &trackFile{File: f, fs: t}, nil
}

type trackFile struct {
	vfs.File
	fs *trackFS
}

func (f *trackFile) ReadAt(p []byte, off int64) (int, error) {
	t := f.fs
	t.last.Store(off)
	n, err := f.File.ReadAt(p, off)
	// The trailer is read first; progress follows the body, read in order.
	if end := off + int64(n); t.progress != nil && end < t.size && end > t.furthest.Load() {
		t.furthest.Store(end)
		t.progress(Progress{Phase: PhaseCheck, File: t.target, Bytes: end, Total: t.size})
	}
	return n, err
}

// ExportOnline exports a running zkd: Fetch, then Export of the tree it loads,
// the same writer as an offline export. It refuses a non-empty target before
// asking the server for anything; the download is kept in a hidden file in
// to.Dir (created if missing, and removed again on failure if it was) unless
// from.TempDir says otherwise. The summary is Export's, with the source.
func ExportOnline(ctx context.Context, from FetchOptions, to ExportOptions) (*Summary, error) {
	start := time.Now()
	target := filepath.Join(to.Dir, VersionDir)
	busy, err := hasEntries(target)
	if err != nil {
		return nil, fmt.Errorf("zkdisk: %w", err)
	}
	if busy {
		return nil, fmt.Errorf("%w: %s is not empty; an export never overwrites ZooKeeper data", ErrTargetExists, target)
	}
	_, statErr := os.Stat(to.Dir)
	created := errors.Is(statErr, iofs.ErrNotExist)
	if err := os.MkdirAll(to.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("zkdisk: %w", err)
	}
	ok := false
	defer func() {
		if !ok && created {
			os.Remove(to.Dir) // only if still empty
		}
	}()
	if from.TempDir == "" {
		from.TempDir = to.Dir
	}
	if from.Progress == nil {
		from.Progress = to.Progress
	}
	got, err := Fetch(ctx, from)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("zkdisk: %w", err)
	}
	if to.Context == nil {
		to.Context = ctx
	}
	sum, err := Export(got.Tree, to)
	if err != nil {
		return nil, err
	}
	ok = true
	sum.Snapshot, sum.SnapshotZxid = "", 0
	sum.Source, sum.SourceBytes = got.URL, got.Bytes
	sum.Elapsed = time.Since(start)
	return sum, nil
}
