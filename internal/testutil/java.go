package testutil

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// JavaClasses is a Java program a package's tests compile once per test binary,
// into a temporary directory that Remove deletes (a cleanup for Main).
type JavaClasses struct {
	Name string // names the directory and the compile errors
	once sync.Once
	dir  string
	err  error
}

// Compile runs javac with args (sources and options; -d is added) the first
// time it is called and returns the class directory; a failed compilation
// fails every test that asks for it.
func (j *JavaClasses) Compile(t testing.TB, javac string, args ...string) string {
	t.Helper()
	j.once.Do(func() {
		if j.dir, j.err = os.MkdirTemp("", "zkd-java-"+j.Name+"-"); j.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, javac, append([]string{"-d", j.dir}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			j.err = fmt.Errorf("javac %s: %v\n%s", j.Name, err, out)
		}
	})
	if j.err != nil {
		t.Fatal(j.err)
	}
	return j.dir
}

// Remove deletes the class directory, if there is one.
func (j *JavaClasses) Remove() {
	if j.dir != "" {
		os.RemoveAll(j.dir)
	}
}
