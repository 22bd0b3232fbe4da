package main

import "testing"

func TestMemoryLimitFromJVMFlags(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		args []string
		env  map[string]string
		want int64
	}{
		{nil, map[string]string{"SERVER_JVMFLAGS": "-Xms1g -Xmx2g -XX:+UseG1GC"}, 2 << 30},
		{nil, map[string]string{"JVMFLAGS": "-Xmx512m", "SERVER_JVMFLAGS": "-Xmx768m"}, 768 << 20},
		{[]string{"-Xmx1048576k", "zoo.cfg"}, nil, 1 << 30},
		{nil, map[string]string{"GOMEMLIMIT": "100MiB", "SERVER_JVMFLAGS": "-Xmx2g"}, 0},
		{nil, map[string]string{"SERVER_JVMFLAGS": "-Xmxbad"}, -1}, // falls through to the cgroup, whatever it is
	}
	for _, c := range cases {
		got, src := memoryLimit(c.args, env(c.env))
		if c.want >= 0 && got != c.want {
			t.Errorf("args %v env %v: limit %d from %q, want %d", c.args, c.env, got, src, c.want)
		}
		if c.want == -1 && src != "" && src != "cgroup memory.max" {
			t.Errorf("a bad -Xmx was used: %q", src)
		}
	}
}

// GOGC stays Go's default for a small live heap and falls towards 25 for a
// large one, so that the heap grows by at most a quarter of the data (and at
// least 64 MiB) between collections.
func TestGCPercentFollowsTheLiveHeap(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100}, {10 << 20, 100}, {64 << 20, 100}, {128 << 20, 50}, {240 << 20, 26}, {256 << 20, 25}, {4 << 30, 25},
	} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", c.live>>20, got, c.want)
		}
	}
}
