package zkdisk

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"zkd/datatree"
	"zkd/snapshot"
)

// fixtureStream returns the fixture's tree and the snapshot stream a zkd
// server's snapshot command would send for it.
func fixtureStream(t *testing.T) (*datatree.Tree, []byte) {
	t.Helper()
	tree, _ := loadTree(t, LoadOptions{DataDir: fixtureDir})
	im, err := tree.Freeze()
	if err != nil {
		t.Fatal(err)
	}
	defer im.Release()
	var b bytes.Buffer
	if _, err := snapshot.Encode(&b, snapshot.Meta{Index: uint64(im.Zxid()), Term: 3}, im); err != nil {
		t.Fatal(err)
	}
	return tree, b.Bytes()
}

// snapshotServer answers GET /commands/snapshot as zkd does, with body as the
// stream and announce as its snapshot_size (and Content-Length), sending only
// body[:send]. It counts the requests it gets.
type snapshotServer struct {
	zxid     uint64
	body     []byte
	announce int
	send     int
	requests atomic.Int32
}

func (s *snapshotServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if r.URL.Path != "/commands/snapshot" || r.URL.Query().Get("streaming") != "true" || r.Header.Get("Authorization") != "ip" {
		http.Error(w, "unexpected request "+r.URL.String(), http.StatusBadRequest)
		return
	}
	w.Header()["last_zxid"] = []string{"0x" + strconv.FormatUint(s.zxid, 16)}
	w.Header()["snapshot_size"] = []string{strconv.Itoa(s.announce)}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(s.announce))
	_, _ = w.Write(s.body[:s.send])
}

func startSnapshotServer(t *testing.T, s *snapshotServer) string {
	t.Helper()
	ts := httptest.NewServer(s) // listens on 127.0.0.1:0
	t.Cleanup(ts.Close)
	return ts.URL
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("%s left behind in %s", e.Name(), dir)
	}
}

func TestSnapshotURL(t *testing.T) {
	f := func(server, want string) {
		t.Helper()
		got, err := SnapshotURL(server)
		if want == "" {
			if err == nil {
				t.Errorf("SnapshotURL(%q) = %q, want an error", server, got)
			}
			return
		}
		if err != nil || got != want {
			t.Errorf("SnapshotURL(%q) = %q, %v; want %q", server, got, err, want)
		}
	}
	f("127.0.0.1:8080", "http://127.0.0.1:8080/commands/snapshot")
	f("http://zk1:8080", "http://zk1:8080/commands/snapshot")
	f("http://zk1:8080/", "http://zk1:8080/commands/snapshot")
	f("http://zk1:8080/commands/", "http://zk1:8080/commands/snapshot")
	f("https://zk1:8443/zk", "https://zk1:8443/zk/snapshot")
	f("http://zk1:8080/commands?x=1", "http://zk1:8080/commands/snapshot")
	f("ftp://zk1:8080", "")
	f("http://", "")
}

// A whole stream loads to the tree that was sent, at its zxid.
func TestFetchLoadsTheStream(t *testing.T) {
	tree, body := fixtureStream(t)
	s := &snapshotServer{zxid: uint64(tree.LastZxid()), body: body, announce: len(body), send: len(body)}
	url := startSnapshotServer(t, s)
	tmp := t.TempDir()
	var phases []Phase
	got, err := Fetch(context.Background(), FetchOptions{Server: url, Auth: "ip", TempDir: tmp, Progress: func(p Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Zxid != int64(tree.LastZxid()) || got.Bytes != int64(len(body)) || got.URL != url+"/commands/snapshot" {
		t.Errorf("fetched zxid 0x%x, %d bytes from %s", got.Zxid, got.Bytes, got.URL)
	}
	compareTrees(t, treeState(t, tree), treeState(t, got.Tree))
	if got.Tree.Digest() != tree.Digest() {
		t.Errorf("digest %d, sent %d", got.Tree.Digest(), tree.Digest())
	}
	if strings.Join([]string{string(phases[0]), string(phases[len(phases)-1])}, ",") != "downloading,checking" {
		t.Errorf("progress phases %v", phases)
	}
	emptyDir(t, tmp)
}

// A stream cut anywhere, announced whole or announced as short as it is, and a
// stream with any byte flipped, are refused with the URL and an offset, and leave
// nothing in the temporary directory.
func TestFetchRefusesDamagedStreams(t *testing.T) {
	tree, body := fixtureStream(t)
	zxid := uint64(tree.LastZxid())
	tmp := t.TempDir()
	try := func(s *snapshotServer) (*Fetched, *FileError, error) {
		t.Helper()
		url := startSnapshotServer(t, s)
		got, err := Fetch(context.Background(), FetchOptions{Server: url, Auth: "ip", TempDir: tmp})
		emptyDir(t, tmp)
		var fe *FileError
		if err != nil && (!errors.As(err, &fe) || fe.File != url+"/commands/snapshot") {
			t.Fatalf("got %v, want a *FileError naming %s", err, url)
		}
		return got, fe, err
	}
	fetch := func(s *snapshotServer) (*FileError, error) {
		t.Helper()
		_, fe, err := try(s)
		if err == nil {
			t.Fatal("a damaged stream was accepted")
		}
		return fe, err
	}
	cuts := []int{0, 1, 11, 40, len(body) / 3, len(body) / 2, len(body) - 21, len(body) - 20, len(body) - 1}
	for _, n := range cuts {
		// The server announces the whole length and sends less: the download breaks off.
		fe, err := fetch(&snapshotServer{zxid: zxid, body: body, announce: len(body), send: n})
		if !errors.Is(err, ErrTruncated) || fe.Offset != int64(n) {
			t.Errorf("cut at %d, announced whole: %v", n, err)
		}
		// The server announces only what it sends: the file's own trailer is missing.
		fe, err = fetch(&snapshotServer{zxid: zxid, body: body, announce: n, send: n})
		if !errors.Is(err, snapshot.ErrCorrupt) || fe.Offset > int64(n) {
			t.Errorf("cut at %d, announced as cut: %v", n, err)
		}
	}
	// Every byte flipped: caught by the header checksum, zstd's own checks, the
	// body checksum, the node count or the trailer, with an offset within the
	// file; or (a few bits of the compressed form that decoding does not depend
	// on) the body decodes to the very bytes the checksum covers, and the tree
	// is the one sent.
	want := treeState(t, tree)
	caught := 0
	for i := range body {
		bad := bytes.Clone(body)
		bad[i] ^= 0x5a
		got, fe, err := try(&snapshotServer{zxid: zxid, body: bad, announce: len(bad), send: len(bad)})
		if err == nil {
			if got.Tree.Digest() != tree.Digest() {
				t.Errorf("byte %d flipped: accepted with digest %d, sent %d", i, got.Tree.Digest(), tree.Digest())
			}
			compareTrees(t, want, treeState(t, got.Tree))
			continue
		}
		caught++
		if fe.Offset < 0 || fe.Offset >= int64(len(body)) {
			t.Errorf("byte %d flipped: offset %d outside the stream: %v", i, fe.Offset, err)
		}
	}
	if caught < len(body)*99/100 {
		t.Errorf("only %d of %d flipped bytes refused", caught, len(body))
	}
	// A stream whose zxid is not the one announced.
	if _, err := fetch(&snapshotServer{zxid: zxid + 1, body: body, announce: len(body), send: len(body)}); !errors.Is(err, snapshot.ErrCorrupt) ||
		!strings.Contains(err.Error(), "announced") {
		t.Errorf("zxid mismatch: %v", err)
	}
}

// Refusals carry the server's status and message and say what to do.
func TestFetchExplainsRefusals(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   string
	}{
		{401, `{"command" : "snapshot", "error" : "Auth info is missing for the command"}`, "--auth"},
		{403, `{"command" : "snapshot", "error" : "Not authorized"}`, "Not authorized (pass --auth"},
		{503, `{"command" : "snapshot", "error" : null}`, "admin.snapshot.enabled=true"},
		{429, `{"command" : "snapshot", "error" : null}`, "admin.rateLimiterIntervalInMS"},
		{200, `{"command" : "snapshot", "error" : "Unknown command: snapshot"}`, "no snapshot command"},
		{200, `{"command" : "snapshot", "error" : "This ZooKeeper instance is not currently serving requests"}`, "not currently serving"},
		{404, `not found`, "admin.commandURL"},
	}
	for _, c := range cases {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if strings.HasPrefix(c.body, "{") {
				w.Header().Set("Content-Type", "application/json")
			}
			w.WriteHeader(c.status)
			_, _ = w.Write([]byte(c.body))
		}))
		_, err := Fetch(context.Background(), FetchOptions{Server: ts.URL, TempDir: t.TempDir()})
		ts.Close()
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), strconv.Itoa(c.status)) {
			t.Errorf("%d %s: %v", c.status, c.body, err)
		}
	}
}

// ExportOnline writes what Export writes for the same tree; it refuses a
// non-empty target before asking the server, and a failure leaves no directory
// it created.
func TestExportOnline(t *testing.T) {
	tree, body := fixtureStream(t)
	s := &snapshotServer{zxid: uint64(tree.LastZxid()), body: body, announce: len(body), send: len(body)}
	url := startSnapshotServer(t, s)
	dir := filepath.Join(t.TempDir(), "zk")
	sum, err := ExportOnline(context.Background(), FetchOptions{Server: url, Auth: "ip"}, ExportOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	offline := filepath.Join(t.TempDir(), "zk")
	want, err := Export(tree, ExportOptions{Dir: offline})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(sum.Output)
	if exp, _ := os.ReadFile(want.Output); !bytes.Equal(got, exp) || filepath.Base(sum.Output) != filepath.Base(want.Output) {
		t.Errorf("online export %s differs from the offline export of the same tree %s", sum.Output, want.Output)
	}
	if sum.Source != url+"/commands/snapshot" || sum.SourceBytes != int64(len(body)) || sum.Digest != tree.Digest() {
		t.Errorf("summary %+v", sum)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != VersionDir {
		t.Errorf("%s holds %v", dir, ents)
	}
	db, err := Load(LoadOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if db.Summary.DigestChecks != 1 || db.Summary.Digest != tree.Digest() || db.Summary.LastZxid != int64(tree.LastZxid()) {
		t.Errorf("reloaded: %+v", db.Summary)
	}

	// Again into the same directory: refused before any request.
	before := s.requests.Load()
	if _, err := ExportOnline(context.Background(), FetchOptions{Server: url, Auth: "ip"}, ExportOptions{Dir: dir}); !errors.Is(err, ErrTargetExists) {
		t.Errorf("second export: %v", err)
	}
	if s.requests.Load() != before {
		t.Error("the server was asked for a snapshot the export could not write")
	}
	// A damaged stream: the directory the export created is gone again.
	s.send = len(body) / 2
	fresh := filepath.Join(t.TempDir(), "a", "zk")
	if _, err := ExportOnline(context.Background(), FetchOptions{Server: url, Auth: "ip"}, ExportOptions{Dir: fresh}); !errors.Is(err, ErrTruncated) {
		t.Errorf("cut stream: %v", err)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("%s exists after a failed export: %v", fresh, err)
	}
}

// An export stopped through its context leaves nothing published.
func TestExportStoppedByContext(t *testing.T) {
	tree, _ := fixtureStream(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	if _, err := Export(tree, ExportOptions{Dir: dir, Context: ctx}); !errors.Is(err, context.Canceled) {
		t.Fatalf("export with a cancelled context: %v", err)
	}
	emptyDir(t, dir)
}
