package zkdisk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDetect(t *testing.T) {
	t.Run("ZooKeeper data directory", func(t *testing.T) {
		f, err := Detect(fixtureDir, "")
		if err != nil {
			t.Fatal(err)
		}
		// The newest zxid is the last record of the newest log, above every snapshot.
		if !f.Any() || f.Snapshots != 5 || f.Logs != 5 || f.NewestZxid != 0x122 || filepath.Base(f.NewestFile) != "log.11c" {
			t.Fatalf("%+v", f)
		}
		msg := f.RefusalMessage("")
		for _, want := range []string{filepath.Join(fixtureDir, VersionDir), "0x122", "zkd import --from " + fixtureDir + " --to " + fixtureDir, "docs/migration.md"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message lacks %q:\n%s", want, msg)
			}
		}
		if msg := f.RefusalMessage("/etc/zk/zoo.cfg"); !strings.Contains(msg, "zkd import --config /etc/zk/zoo.cfg") {
			t.Errorf("message with a config:\n%s", msg)
		}
	})
	t.Run("separate log directory", func(t *testing.T) {
		data := copyDir(t, fixtureDir, func(n string) bool { return strings.HasPrefix(n, "snapshot.") })
		logs := copyDir(t, fixtureDir, func(n string) bool { return strings.HasPrefix(n, "log.") })
		f, err := Detect(data, logs)
		if err != nil || f.Snapshots != 5 || f.Logs != 5 || f.NewestZxid != 0x122 {
			t.Fatalf("%+v %v", f, err)
		}
		if msg := f.RefusalMessage(""); !strings.Contains(msg, "--log-dir "+logs) {
			t.Errorf("message lacks the log dir:\n%s", msg)
		}
		// The logs alone.
		if f, _ := Detect(t.TempDir(), logs); !f.Any() || f.NewestZxid != 0x122 {
			t.Errorf("logs only: %+v", f)
		}
	})
	t.Run("snapshot only", func(t *testing.T) {
		f, err := Detect("testdata/compressed/gz", "")
		if err != nil || f.Snapshots != 1 || f.NewestZxid != 0x122 {
			t.Fatalf("%+v %v", f, err)
		}
	})
	t.Run("nothing of ZooKeeper", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, VersionDir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, VersionDir, "notes.txt"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{dir, filepath.Join(dir, "absent")} {
			if f, err := Detect(d, ""); err != nil || f.Any() {
				t.Errorf("%s: %+v %v", d, f, err)
			}
		}
	})
	t.Run("an empty newest log defers to the one before", func(t *testing.T) {
		dir := fixtureCopy(t)
		if err := os.WriteFile(filepath.Join(dir, VersionDir, "log.123"), AppendLogHeader(nil), 0o644); err != nil {
			t.Fatal(err)
		}
		if f, err := Detect(dir, ""); err != nil || f.NewestZxid != 0x123 {
			// log.123 holds nothing: the newest zxid seen is its name's, 0x123.
			t.Fatalf("%+v %v", f, err)
		}
	})
}

func TestListingFollowsZooKeeperNames(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"snapshot.1f", "snapshot.a", "snapshot.20.gz", "snapshot.20.snappy", "snapshot.zz", "snapshot", "log.5", "log.100000001", "log.x", "logs.3", "snapshot.b.tmp"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	snaps, _ := ListSnapshots(dir)
	var got []string
	for _, s := range snaps {
		got = append(got, filepath.Base(s.Path)+"/"+s.Codec.String())
	}
	if want := "snapshot.20.gz/gz snapshot.20.snappy/snappy snapshot.1f/plain snapshot.b.tmp/plain snapshot.a/plain"; strings.Join(got, " ") != want {
		t.Errorf("snapshots %v, want %s", got, want)
	}
	logs, _ := ListLogs(dir)
	if len(logs) != 2 || logs[0].Zxid != 5 || logs[1].Zxid != 0x100000001 {
		t.Errorf("logs %+v", logs)
	}
	if SnapshotName(0x122, CodecSnappy) != "snapshot.122.snappy" || LogName(0x100000001) != "log.100000001" {
		t.Error("names")
	}
}

// TestPrinter checks both renderings with a simulated clock.
func TestPrinter(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	var plain strings.Builder
	p := NewPrinter(&plain, false)
	p.Now = clock
	p.Update(Progress{Phase: PhaseSnapshot, File: "/d/snapshot.5", Nodes: 0, Total: 4 << 20})
	now = now.Add(2 * time.Second)
	p.Update(Progress{Phase: PhaseSnapshot, File: "/d/snapshot.5", Nodes: 10000, Bytes: 2 << 20, Total: 4 << 20}) // within the interval
	now = now.Add(9 * time.Second)
	p.Update(Progress{Phase: PhaseSnapshot, File: "/d/snapshot.5", Nodes: 40000, Bytes: 3 << 20, Total: 4 << 20})
	now = now.Add(time.Second)
	p.Update(Progress{Phase: PhaseSnapshot, File: "/d/snapshot.5", Nodes: 48000, Bytes: 4 << 20, Total: 4 << 20})
	p.Update(Progress{Phase: PhaseLog, File: "/d/log.6", Txns: 7, Bytes: 100, Total: 100})
	p.Done()
	// Plain: nothing at a phase's start, a line per interval, the final figures
	// when the phase ends.
	want := "reading snapshot snapshot.5  75% 40000 znodes 3.0 MiB 3636 znodes/s 0.3 MB/s\n" +
		"reading snapshot snapshot.5 100% 48000 znodes 4.0 MiB 4000 znodes/s 0.3 MB/s\n" +
		"replaying log log.6 100% 7 txns 100 B\n"
	if plain.String() != want {
		t.Errorf("plain output:\n%s\nwant:\n%s", plain.String(), want)
	}

	var tty strings.Builder
	p = NewPrinter(&tty, true)
	p.Now = clock
	p.Update(Progress{Phase: PhaseWrite, File: "out", Nodes: 5, TotalNodes: 10})
	now = now.Add(time.Second)
	p.Update(Progress{Phase: PhaseWrite, File: "out", Nodes: 10, TotalNodes: 10, Bytes: 1 << 20})
	p.Done()
	out := tty.String()
	if !strings.Contains(out, "\r\033[Kwriting out [############............]  50% 5 znodes") ||
		!strings.Contains(out, "[########################] 100% 10 znodes 1.0 MiB 10 znodes/s 1.0 MB/s") || !strings.HasSuffix(out, "\n") {
		t.Errorf("terminal output %q", out)
	}

	// An online export's download and check count bytes (MB/s) until the tree is built.
	var dl strings.Builder
	p = NewPrinter(&dl, false)
	p.Now = clock
	url := "http://zk1:8080/commands/snapshot"
	p.Update(Progress{Phase: PhaseDownload, File: url, Total: 8 << 20})
	now = now.Add(2 * time.Second)
	p.Update(Progress{Phase: PhaseDownload, File: url, Bytes: 8 << 20, Total: 8 << 20})
	p.Update(Progress{Phase: PhaseCheck, File: url, Bytes: 1 << 20, Total: 8 << 20})
	now = now.Add(time.Second)
	p.Update(Progress{Phase: PhaseCheck, File: url, Nodes: 5000, TotalNodes: 5000, Bytes: 8 << 20, Total: 8 << 20})
	p.Done()
	want = "downloading snapshot 100% 8.0 MiB 4.2 MB/s\n" +
		"checking snapshot 100% 5000 znodes 8.0 MiB 5000 znodes/s 8.4 MB/s\n"
	if dl.String() != want {
		t.Errorf("download output:\n%s\nwant:\n%s", dl.String(), want)
	}
}
