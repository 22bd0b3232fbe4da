package sasl

import (
	"os"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
)

// keytabFile is a keytab read from disk and read again when the file changes.
// Keys are rotated by rewriting the keytab (kadmin's ktadd), and a JDK server
// takes the new keys at its next login without a restart; a zkd server takes
// them at the next handshake (acceptor) or dial (learner) after the change. A
// re-read that fails keeps the keys already held. Safe for concurrent use.
type keytabFile struct {
	path string

	mu    sync.Mutex
	kt    *keytab.Keytab
	stamp keytabStamp
}

// keytabStamp tells one version of the file from the next.
type keytabStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (keytabStamp, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return keytabStamp{}, false
	}
	return keytabStamp{fi.ModTime(), fi.Size()}, true
}

func loadKeytabFile(path string) (*keytabFile, error) {
	stamp, _ := stampOf(path)
	kt, err := keytab.Load(path)
	if err != nil {
		return nil, err
	}
	return &keytabFile{path: path, kt: kt, stamp: stamp}, nil
}

// current returns the keytab, read again first if the file changed since it
// was read.
func (f *keytabFile) current() *keytab.Keytab {
	f.mu.Lock()
	defer f.mu.Unlock()
	stamp, ok := stampOf(f.path)
	if !ok || stamp == f.stamp {
		return f.kt
	}
	// Stamped before reading: a write racing the read shows as a change at
	// the next call, never as a missed one.
	if kt, err := keytab.Load(f.path); err == nil {
		f.kt = kt
	}
	f.stamp = stamp
	return f.kt
}
