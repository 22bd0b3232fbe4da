package vfs

import (
	"bytes"
	"errors"
	"io/fs"
	"syscall"
	"testing"
)

// content returns name's bytes on m, or nil with ok false if it does not exist.
func content(t *testing.T, m *MemFS, name string) (b []byte, ok bool) {
	t.Helper()
	f, err := m.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, _ := f.Size()
	b = make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil && n > 0 {
		t.Fatal(err)
	}
	return b, true
}

func TestCrashKeepsOnlyDurableState(t *testing.T) {
	type want struct {
		data   string
		exists bool
	}
	cases := []struct {
		name string
		run  func(t *testing.T, m *MemFS)
		want want // of /d/f after a crash that drops unsynced changes
	}{
		{"unsynced write is lost", func(t *testing.T, m *MemFS) {
			f := create(t, m, "/d/f", true)
			f.Write([]byte("xyz"))
		}, want{"", true}},
		{"synced write survives", func(t *testing.T, m *MemFS) {
			f := create(t, m, "/d/f", true)
			f.Write([]byte("xyz"))
			f.Sync()
			f.Write([]byte("uvw"))
		}, want{"xyz", true}},
		{"create without SyncDir is lost", func(t *testing.T, m *MemFS) {
			f := create(t, m, "/d/f", false)
			f.Write([]byte("xyz"))
			f.Sync()
		}, want{"", false}},
		{"remove without SyncDir comes back", func(t *testing.T, m *MemFS) {
			f := create(t, m, "/d/f", true)
			f.Write([]byte("xyz"))
			f.Sync()
			m.Remove("/d/f")
		}, want{"xyz", true}},
		{"remove with SyncDir sticks", func(t *testing.T, m *MemFS) {
			create(t, m, "/d/f", true)
			m.Remove("/d/f")
			m.SyncDir("/d")
		}, want{"", false}},
		{"rename without SyncDir is undone", func(t *testing.T, m *MemFS) {
			f := create(t, m, "/d/g", true)
			f.Write([]byte("g"))
			f.Sync()
			m.Rename("/d/g", "/d/f")
		}, want{"", false}},
		{"rename with SyncDir sticks", func(t *testing.T, m *MemFS) {
			f := create(t, m, "/d/g", true)
			f.Write([]byte("g"))
			f.Sync()
			m.Rename("/d/g", "/d/f")
			m.SyncDir("/d")
		}, want{"g", true}},
		{"unsynced truncate is undone", func(t *testing.T, m *MemFS) {
			f := create(t, m, "/d/f", true)
			f.Write([]byte("xyz"))
			f.Sync()
			f.Truncate(1)
		}, want{"xyz", true}},
		{"synced preallocation survives", func(t *testing.T, m *MemFS) {
			f := create(t, m, "/d/f", true)
			f.Preallocate(0, 4)
			f.Sync()
		}, want{"\x00\x00\x00\x00", true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMem()
			m.MkdirAll("/d")
			tc.run(t, m)
			c := m.CrashClone(CrashOptions{})
			got, ok := content(t, c, "/d/f")
			if ok != tc.want.exists || string(got) != tc.want.data {
				t.Fatalf("after crash /d/f = %q (exists %v), want %q (exists %v)", got, ok, tc.want.data, tc.want.exists)
			}
			// Keeping every unsynced change gives exactly what was visible.
			all := m.CrashClone(CrashOptions{Unsynced: KeepUnsynced})
			now, nowOK := content(t, m, "/d/f")
			got, ok = content(t, all, "/d/f")
			if ok != nowOK || !bytes.Equal(got, now) {
				t.Fatalf("KeepUnsynced: /d/f = %q (%v), want %q (%v)", got, ok, now, nowOK)
			}
		})
	}
}

// create makes a file in a directory that exists, optionally syncing the name.
func create(t *testing.T, m *MemFS, name string, syncDir bool) File {
	t.Helper()
	f, err := m.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if syncDir {
		if err := m.SyncDir("/d"); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestPrefixUnsyncedTearsInOrder(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/d")
	f := create(t, m, "/d/f", true)
	f.Write([]byte("0123"))
	f.Sync()
	f.Write([]byte("abcd"))
	f.Write([]byte("efgh"))
	for keep := int64(0); keep <= 8; keep++ {
		c := m.CrashClone(CrashOptions{Unsynced: PrefixUnsynced, Bytes: keep})
		got, _ := content(t, c, "/d/f")
		want := "0123" + "abcdefgh"[:keep]
		if string(got) != want {
			t.Fatalf("keep=%d: %q, want %q", keep, got, want)
		}
	}
}

func TestScrambleUnsyncedKeepsWholeSectors(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/d")
	f := create(t, m, "/d/f", true)
	f.Preallocate(0, 4*SectorSize)
	f.Sync()
	data := bytes.Repeat([]byte{0xff}, 3*SectorSize)
	f.WriteAt(data, SectorSize/2)
	sawPartial := false
	for seed := uint64(0); seed < 16; seed++ {
		got, _ := content(t, m.CrashClone(CrashOptions{Unsynced: ScrambleUnsynced, Seed: seed}), "/d/f")
		if len(got) != 4*SectorSize {
			t.Fatalf("seed %d: size %d", seed, len(got))
		}
		// Every sector is all of what was written to it or none.
		for s := 0; s < 4; s++ {
			sec := got[s*SectorSize : (s+1)*SectorSize]
			ones := bytes.Count(sec, []byte{0xff})
			if ones != 0 && ones != bytes.Count(m.mustRead(t, "/d/f")[s*SectorSize:(s+1)*SectorSize], []byte{0xff}) {
				t.Fatalf("seed %d: sector %d partly kept", seed, s)
			}
			if ones == 0 && s > 0 {
				sawPartial = true
			}
		}
	}
	if !sawPartial {
		t.Fatal("no seed dropped a sector")
	}
}

func (m *MemFS) mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, ok := content(t, m, name)
	if !ok {
		t.Fatalf("%s missing", name)
	}
	return b
}

func TestInjectorFaults(t *testing.T) {
	t.Run("short write", func(t *testing.T) {
		m := NewMem()
		m.MkdirAll("/d")
		f := create(t, m, "/d/f", true)
		m.SetInjector(FailKind(OpWrite, 0, syscall.ENOSPC, 2))
		n, err := f.Write([]byte("abcd"))
		if n != 2 || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Write = %d, %v; want 2, ENOSPC", n, err)
		}
		if got := m.mustRead(t, "/d/f"); string(got) != "ab" {
			t.Fatalf("content %q, want ab", got)
		}
		if _, err := f.Write([]byte("cd")); err != nil { // only the nth fails
			t.Fatal(err)
		}
	})
	t.Run("failed sync leaves data visible but not durable", func(t *testing.T) {
		m := NewMem()
		m.MkdirAll("/d")
		f := create(t, m, "/d/f", true)
		f.Write([]byte("abcd"))
		m.SetInjector(FailKind(OpSync, 0, syscall.EIO, 0))
		if err := f.Sync(); !errors.Is(err, syscall.EIO) {
			t.Fatalf("Sync err = %v, want EIO", err)
		}
		if got := m.mustRead(t, "/d/f"); string(got) != "abcd" {
			t.Fatalf("visible %q", got)
		}
		if got := m.CrashClone(CrashOptions{}).mustRead(t, "/d/f"); len(got) != 0 {
			t.Fatalf("durable %q, want empty", got)
		}
	})
	t.Run("crash stops everything", func(t *testing.T) {
		m := NewMem()
		m.MkdirAll("/d")
		f := create(t, m, "/d/f", true)
		m.SetInjector(CrashAfterBytes(3))
		n, err := f.Write([]byte("abcdef"))
		if n != 3 || !errors.Is(err, ErrCrashed) || !m.Crashed() {
			t.Fatalf("Write = %d, %v; want 3, ErrCrashed", n, err)
		}
		if err := f.Sync(); !errors.Is(err, ErrCrashed) {
			t.Fatalf("Sync after crash err = %v", err)
		}
		if _, err := m.Open("/d/f"); !errors.Is(err, ErrCrashed) {
			t.Fatalf("Open after crash err = %v", err)
		}
		got := m.CrashClone(CrashOptions{Unsynced: KeepUnsynced}).mustRead(t, "/d/f")
		if string(got) != "abc" {
			t.Fatalf("torn write kept %q, want abc", got)
		}
	})
	t.Run("failed create has no effect", func(t *testing.T) {
		m := NewMem()
		m.MkdirAll("/d")
		m.SetInjector(FailKind(OpCreate, 0, syscall.EIO, 0))
		if _, err := m.Create("/d/f"); !errors.Is(err, syscall.EIO) {
			t.Fatalf("Create err = %v", err)
		}
		if names, _ := m.ReadDir("/d"); len(names) != 0 {
			t.Fatalf("ReadDir = %v", names)
		}
	})
}

func TestCrashCloneAtReplaysHistory(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/d")
	f := create(t, m, "/d/f", true) // ops 0 mkdir, 1 create, 2 syncdir
	f.Write([]byte("ab"))           // op 3
	f.Sync()                        // op 4
	f.Write([]byte("cde"))          // op 5
	m.Rename("/d/f", "/d/g")        // op 6
	m.SyncDir("/d")                 // op 7

	pts := m.CrashPoints()
	// 9 operation boundaries (0..8) plus the inner bytes of the writes: 1 + 2.
	if len(pts) != 9+1+2 {
		t.Fatalf("CrashPoints = %v", pts)
	}
	if p := m.PointAtByte(3); p != (CrashPoint{Op: 5, Bytes: 1}) {
		t.Fatalf("PointAtByte(3) = %+v", p)
	}
	if op, ok := m.OpAt(5); !ok || op != (Op{N: 5, Kind: OpWrite, Path: "/d/f", Len: 3, Written: 2}) {
		t.Fatalf("OpAt(5) = %+v, %v", op, ok)
	}
	if op, ok := m.OpAt(6); !ok || op.Kind != OpRename || op.Path != "/d/f" {
		t.Fatalf("OpAt(6) = %+v, %v", op, ok)
	}
	check := func(p CrashPoint, opts CrashOptions, name, want string, exists bool) {
		t.Helper()
		got, ok := content(t, m.CrashCloneAt(p, opts), name)
		if ok != exists || string(got) != want {
			t.Fatalf("at %+v %+v: %s = %q (%v), want %q (%v)", p, opts, name, got, ok, want, exists)
		}
	}
	keep := CrashOptions{Unsynced: KeepUnsynced}
	check(CrashPoint{Op: 3}, CrashOptions{}, "/d/f", "", true)
	check(CrashPoint{Op: 3, Bytes: 1}, keep, "/d/f", "a", true)
	check(CrashPoint{Op: 3, Bytes: 1}, CrashOptions{}, "/d/f", "", true)
	check(CrashPoint{Op: 5}, CrashOptions{}, "/d/f", "ab", true)
	check(CrashPoint{Op: 5, Bytes: 2}, keep, "/d/f", "abcd", true)
	check(CrashPoint{Op: 7}, CrashOptions{}, "/d/f", "ab", true)
	check(CrashPoint{Op: 7}, keep, "/d/g", "abcde", true)
	check(CrashPoint{Op: 8}, CrashOptions{}, "/d/g", "ab", true)
	check(CrashPoint{Op: 8}, CrashOptions{}, "/d/f", "", false)
	// Going backwards restarts the replay.
	check(CrashPoint{Op: 1}, keep, "/d/f", "", false)

	// The clone's history starts at the crash: it can crash again.
	c := m.CrashCloneAt(CrashPoint{Op: 5}, CrashOptions{})
	g, err := c.OpenReadWrite("/d/f")
	if err != nil {
		t.Fatal(err)
	}
	g.WriteAt([]byte("Z"), 0)
	if got, _ := content(t, c.CrashCloneAt(CrashPoint{Op: 0}, CrashOptions{}), "/d/f"); string(got) != "ab" {
		t.Fatalf("second-generation crash = %q", got)
	}
	if n := c.Ops(); n != 1 {
		t.Fatalf("clone ops = %d, want 1", n)
	}
}
