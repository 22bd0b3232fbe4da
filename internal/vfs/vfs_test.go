package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

// both runs a test against the OS filesystem in a temporary directory and against
// a MemFS, so the two implementations keep one contract.
func both(t *testing.T, f func(t *testing.T, fsys FS, dir string)) {
	t.Run("fs=os", func(t *testing.T) { f(t, OS(), t.TempDir()) })
	t.Run("fs=mem", func(t *testing.T) {
		m := NewMem()
		if err := m.MkdirAll("/data"); err != nil {
			t.Fatal(err)
		}
		f(t, m, "/data")
	})
}

func mustWrite(t *testing.T, fsys FS, name string, data []byte) {
	t.Helper()
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, fsys FS, name string) []byte {
	t.Helper()
	f, err := fsys.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFileReadWrite(t *testing.T) {
	both(t, func(t *testing.T, fsys FS, dir string) {
		name := filepath.Join(dir, "a")
		f, err := fsys.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.Name() != name {
			t.Fatalf("Name() = %q, want %q", f.Name(), name)
		}
		if _, err := f.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("XY"), 8); err != nil {
			t.Fatal(err)
		}
		if n, err := f.Size(); err != nil || n != 10 {
			t.Fatalf("Size() = %d, %v; want 10", n, err)
		}
		got := make([]byte, 10)
		if _, err := f.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if want := []byte("hello\x00\x00\x00XY"); !bytes.Equal(got, want) {
			t.Fatalf("ReadAt = %q, want %q", got, want)
		}
		if n, err := f.ReadAt(got, 5); n != 5 || !errors.Is(err, io.EOF) {
			t.Fatalf("ReadAt past end = %d, %v; want 5, EOF", n, err)
		}
		if err := f.Truncate(3); err != nil {
			t.Fatal(err)
		}
		if err := f.Preallocate(0, 64); err != nil {
			t.Fatal(err)
		}
		if n, _ := f.Size(); n != 64 {
			t.Fatalf("Size() after Preallocate = %d, want 64", n)
		}
		if err := f.Preallocate(0, 16); err != nil { // never shrinks
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		want := append([]byte("hel"), make([]byte, 61)...)
		if got := readAll(t, fsys, name); !bytes.Equal(got, want) {
			t.Fatalf("content = %q, want %q", got, want)
		}
	})
}

func TestNamespace(t *testing.T) {
	both(t, func(t *testing.T, fsys FS, dir string) {
		sub := filepath.Join(dir, "x", "y")
		if err := fsys.MkdirAll(sub); err != nil {
			t.Fatal(err)
		}
		if err := fsys.MkdirAll(sub); err != nil { // idempotent
			t.Fatal(err)
		}
		a, b := filepath.Join(sub, "a"), filepath.Join(sub, "b")
		mustWrite(t, fsys, a, []byte("A"))
		mustWrite(t, fsys, b, []byte("B"))
		if names, err := fsys.ReadDir(sub); err != nil || !slices.Equal(names, []string{"a", "b"}) {
			t.Fatalf("ReadDir = %v, %v", names, err)
		}
		if names, err := fsys.ReadDir(dir); err != nil || !slices.Equal(names, []string{"x"}) {
			t.Fatalf("ReadDir(parent) = %v, %v", names, err)
		}
		if err := fsys.Rename(a, b); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, fsys, b); string(got) != "A" {
			t.Fatalf("after rename b = %q", got)
		}
		if _, err := fsys.Open(a); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open(renamed) err = %v, want ErrNotExist", err)
		}
		// An open handle survives Remove.
		f, err := fsys.Open(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := fsys.Remove(b); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 1)
		if _, err := f.ReadAt(got, 0); err != nil || string(got) != "A" {
			t.Fatalf("ReadAt after Remove = %q, %v", got, err)
		}
		f.Close()
		if err := fsys.Remove(b); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("second Remove err = %v, want ErrNotExist", err)
		}
		if err := fsys.SyncDir(sub); err != nil {
			t.Fatal(err)
		}
		if _, err := fsys.OpenReadWrite(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("OpenReadWrite(missing) err = %v", err)
		}
		if _, err := fsys.Create(filepath.Join(dir, "nodir", "f")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Create in missing dir err = %v", err)
		}
	})
}

func TestReadOnlyFileRejectsWrites(t *testing.T) {
	both(t, func(t *testing.T, fsys FS, dir string) {
		name := filepath.Join(dir, "r")
		mustWrite(t, fsys, name, []byte("r"))
		f, err := fsys.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write([]byte("x")); err == nil {
			t.Fatal("Write on a read-only file succeeded")
		}
		if err := f.Sync(); err != nil { // fdatasync on a read-only descriptor is fine
			t.Fatal(err)
		}
	})
}

// ReadAll gives the file's bytes on either filesystem: mapped on the OS one
// (checked on Linux, where the mapping must be taken), read on the MemFS. The
// bytes stay right until release, even when the file is written meanwhile
// past them, as the log's replay relies on.
func TestReadAll(t *testing.T) {
	both(t, func(t *testing.T, fsys FS, dir string) {
		name := filepath.Join(dir, "seg")
		want := bytes.Repeat([]byte("0123456789abcdef"), 5000)
		mustWrite(t, fsys, name, want)
		f, err := fsys.OpenReadWrite(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		buf, release, err := ReadAll(f, len(want))
		if err != nil {
			t.Fatal(err)
		}
		if _, mapped := f.(mapper); mapped != (runtime.GOOS == "linux" && fsys == OS()) {
			t.Fatalf("file %T maps: %v", f, mapped)
		}
		if _, err := f.WriteAt([]byte("tail"), int64(len(want))); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, want) {
			t.Fatal("ReadAll returned other bytes than the file's")
		}
		release()

		if _, _, err := ReadAll(f, len(want)+100); err == nil {
			t.Fatal("ReadAll past the end of the file succeeded")
		}
		empty, release, err := ReadAll(f, 0)
		if err != nil || len(empty) != 0 {
			t.Fatalf("ReadAll of 0 bytes: %d bytes, %v", len(empty), err)
		}
		release()
	})
}
