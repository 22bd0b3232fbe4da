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
