// Package packaging tests what an operator installs: `make install` and the
// systemd unit it writes, the Dockerfile, and the binary's health check. The
// package has no code; its tests run the repository's Makefile.
package packaging

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"zkd/internal/testutil"
	"zkd/zoocfg"
)

// unitFile is a parsed systemd unit: each key's values, in order, per section.
type unitFile map[string]map[string][]string

// parseUnit reads a systemd unit (systemd.syntax(7): sections, key=value lines,
// comments, backslash continuations).
func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section, pending := "", ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(pending + sc.Text())
		pending = ""
		if strings.HasSuffix(line, `\`) {
			pending = strings.TrimSuffix(line, `\`) + " "
			continue
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, n, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u unitFile) get(t *testing.T, section, key string) string {
	t.Helper()
	vs := u[section][key]
	if len(vs) != 1 {
		t.Fatalf("[%s] %s: %d values %q, want one", section, key, len(vs), vs)
	}
	return vs[0]
}

// makeInstall runs `make install` from the repository root with vars.
func makeInstall(t *testing.T, vars ...string) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		testutil.Missing(t, "make")
	}
	cmd := exec.Command("make", append([]string{"-s", "install"}, vars...)...)
	cmd.Dir = testutil.ModuleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install %s: %v\n%s", strings.Join(vars, " "), err, out)
	}
}

// Every file the installed unit refers to is installed by `make install`, under
// DESTDIR; what it does not install, systemd makes (StateDirectory,
// RuntimeDirectory) or the sysusers entry does (the user). A zoo.cfg already
// there (Debian's) is kept; the default one parses and keeps its data where the
// unit may write.
func TestMakeInstallProvidesEveryFileTheUnitNeeds(t *testing.T) {
	dest := t.TempDir()
	const confDir = "/etc/zookeeper/conf"
	debianCfg := "# Debian's\ntickTime=2000\ndataDir=/var/lib/zookeeper\nclientPort=2181\n"
	if err := os.MkdirAll(filepath.Join(dest, confDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dest, confDir, "zoo.cfg"), []byte(debianCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	makeInstall(t, "DESTDIR="+dest)

	unitPath := filepath.Join(dest, "/etc/systemd/system/zkd.service")
	u := parseUnit(t, unitPath)
	under := func(p string) string { return filepath.Join(dest, p) }
	mustExist := func(what, p string) {
		t.Helper()
		if !filepath.IsAbs(p) {
			t.Errorf("%s %q is not an absolute path", what, p)
			return
		}
		if _, err := os.Stat(under(p)); err != nil {
			t.Errorf("%s %s is not installed: %v", what, p, err)
		}
	}

	exe := strings.Fields(u.get(t, "Service", "ExecStart"))
	if len(exe) != 2 || exe[0] != "/usr/local/bin/zkd" || exe[1] != confDir+"/zoo.cfg" {
		t.Errorf("ExecStart %q, want /usr/local/bin/zkd %s/zoo.cfg", exe, confDir)
	}
	for _, p := range exe {
		mustExist("ExecStart's", p)
	}
	if st, err := os.Stat(under(exe[0])); err == nil && st.Mode().Perm()&0o111 == 0 {
		t.Errorf("%s is not executable: %v", exe[0], st.Mode())
	}
	mustExist("ConditionPathExists", u.get(t, "Unit", "ConditionPathExists"))
	doc := u.get(t, "Unit", "Documentation")
	if p, ok := strings.CutPrefix(doc, "file://"); !ok {
		t.Errorf("Documentation %q is not a file:// URL", doc)
	} else {
		mustExist("Documentation", p)
	}
	for _, ef := range u["Service"]["EnvironmentFile"] {
		if !strings.HasPrefix(ef, "-") {
			mustExist("EnvironmentFile", ef)
		}
	}

	// Directories systemd makes for the unit, and what the unit writes there.
	state := "/var/lib/" + u.get(t, "Service", "StateDirectory")
	runtime := "/run/" + u.get(t, "Service", "RuntimeDirectory")
	for _, p := range strings.Fields(u.get(t, "Service", "ReadWritePaths")) {
		if p != state {
			t.Errorf("ReadWritePaths %s is neither installed nor made by systemd (StateDirectory %s)", p, state)
		}
	}
	for _, env := range u["Service"]["Environment"] {
		if pid, ok := strings.CutPrefix(env, "ZOOPIDFILE="); ok && filepath.Dir(pid) != runtime {
			t.Errorf("ZOOPIDFILE %s is not in RuntimeDirectory %s", pid, runtime)
		}
	}

	// The user: Debian's zookeeper package makes it; the sysusers entry makes it
	// elsewhere, with the same name and home.
	user, group := u.get(t, "Service", "User"), u.get(t, "Service", "Group")
	sysusers, err := os.ReadFile(under("/etc/sysusers.d/zkd.conf"))
	if err != nil {
		t.Fatalf("sysusers entry not installed: %v", err)
	}
	found := false
	for _, line := range strings.Split(string(sysusers), "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && f[0] == "u" && f[1] == user && user == group {
			found = true
			if home := f[len(f)-2]; home != state {
				t.Errorf("sysusers home %s, want the state directory %s", home, state)
			}
		}
	}
	if !found {
		t.Errorf("no sysusers line makes user and group %s/%s:\n%s", user, group, sysusers)
	}

	// Debian's zoo.cfg is kept as it was.
	if b, _ := os.ReadFile(under(confDir + "/zoo.cfg")); string(b) != debianCfg {
		t.Errorf("an existing zoo.cfg was overwritten:\n%s", b)
	}
	for _, doc := range []string{"README.md", "operations.md", "security.md"} {
		mustExist("doc", "/usr/local/share/doc/zkd/"+doc)
	}

	// Without one, the default zoo.cfg is installed; it keeps its data in the
	// directory the unit may write, and it is valid. (It is parsed with dataDir
	// moved to a temporary directory: parsing reads <dataDir>/myid, and on a
	// machine with Debian's zookeeper package /var/lib/zookeeper/myid holds
	// Debian's placeholder text, which ZooKeeper refuses too.)
	fresh := t.TempDir()
	makeInstall(t, "DESTDIR="+fresh)
	text, err := os.ReadFile(filepath.Join(fresh, confDir, "zoo.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "\ndataDir="+state+"\n") || strings.Contains(string(text), "dataLogDir") {
		t.Errorf("default zoo.cfg does not keep its data (and log) in %s:\n%s", state, text)
	}
	moved := strings.ReplaceAll(string(text), "dataDir="+state, "dataDir="+t.TempDir())
	cfg, err := zoocfg.Parse("zoo.cfg", []byte(moved))
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Errorf("default zoo.cfg: %v", err)
	}
	if len(cfg.Warnings) > 0 {
		t.Errorf("default zoo.cfg: %v", cfg.Warnings)
	}
}

// A tarball-style install (PREFIX elsewhere, no DESTDIR) writes a unit with its
// own paths, which systemd itself accepts.
func TestUnitOfATarballInstallVerifies(t *testing.T) {
	tmp := t.TempDir()
	prefix := filepath.Join(tmp, "opt", "zkd")
	makeInstall(t, "PREFIX="+prefix, "CONFDIR="+filepath.Join(tmp, "conf"),
		"UNITDIR="+filepath.Join(tmp, "units"), "SYSUSERSDIR="+filepath.Join(tmp, "sysusers"))
	unit := filepath.Join(tmp, "units", "zkd.service")
	u := parseUnit(t, unit)
	if exe := u.get(t, "Service", "ExecStart"); !strings.HasPrefix(exe, prefix+"/bin/zkd ") {
		t.Errorf("ExecStart %q does not use PREFIX %s", exe, prefix)
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		testutil.Missing(t, "systemd-analyze (package systemd)")
	}
	out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The installed binary's health check, as the Docker image runs it.
	zkd := filepath.Join(prefix, "bin", "zkd")
	if out, err := exec.Command(zkd, "probe", "-mode", "srvr", "-server", "127.0.0.1:1", "-timeout", "2s").CombinedOutput(); err == nil {
		t.Errorf("probe of a closed port succeeded: %s", out)
	} else if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("probe of a closed port: %v (want exit status 1)\n%s", err, out)
	}
	// make stamps the checkout's commit and the build date.
	git := exec.Command("git", "rev-parse", "HEAD")
	git.Dir = testutil.ModuleRoot(t)
	head, gitErr := git.Output()
	out, err = exec.Command(zkd, "version").CombinedOutput()
	if err != nil || strings.Contains(string(out), "built:       unknown") ||
		gitErr == nil && !strings.Contains(string(out), "commit:      "+strings.TrimSpace(string(head))+"\n") {
		t.Errorf("zkd version of a make build lacks its commit or date: %v\n%s", err, out)
	}
}

// instruction is one Dockerfile instruction with its arguments.
type instruction struct {
	cmd  string // upper case
	args string
	line int
}

// parseDockerfile splits a Dockerfile into instructions (comments dropped,
// backslash continuations joined).
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(string(b), "\n") {
		line := strings.TrimSpace(raw)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("%s ends inside a continued instruction", path)
	}
	return out
}

// execForm decodes an instruction's JSON (exec form) arguments.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(in.args), &argv); err != nil {
		t.Errorf("line %d: %s %s is not in exec form (a JSON array): the image has no shell", in.line, in.cmd, in.args)
	}
	return argv
}

// No container engine runs where the tests do, so the Dockerfile is checked as
// text: the official image's ports, volumes, variables and command, a health
// check and entrypoint the shell-less image can run, and sources that exist.
func TestDockerfileFollowsTheOfficialImage(t *testing.T) {
	root := testutil.ModuleRoot(t)
	ins := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	known := []string{"FROM", "ARG", "WORKDIR", "COPY", "RUN", "ENV", "USER", "EXPOSE", "VOLUME",
		"HEALTHCHECK", "ENTRYPOINT", "CMD", "LABEL"}
	stages := 0
	env := map[string]string{}
	var final []instruction // the instructions of the last stage
	args := map[string]bool{}
	for _, in := range ins {
		if !slices.Contains(known, in.cmd) {
			t.Errorf("line %d: unknown instruction %s", in.line, in.cmd)
		}
		if in.cmd == "FROM" {
			stages++
			final = nil
		}
		final = append(final, in)
		if in.cmd == "ARG" {
			name, _, _ := strings.Cut(in.args, "=")
			args[name] = true
		}
		// Every ${VAR} a build step uses is declared.
		for _, ref := range strings.Split(in.args, "${")[1:] {
			name, _, _ := strings.Cut(ref, "}")
			if in.cmd != "ENV" && !args[name] {
				t.Errorf("line %d: ${%s} is not a declared ARG", in.line, name)
			}
		}
	}
	if stages != 2 {
		t.Errorf("%d stages, want 2 (build, then the distroless runtime)", stages)
	}
	byCmd := func(cmd string) []instruction {
		var out []instruction
		for _, in := range final {
			if in.cmd == cmd {
				out = append(out, in)
			}
		}
		return out
	}
	one := func(cmd string) instruction {
		t.Helper()
		l := byCmd(cmd)
		if len(l) != 1 {
			t.Fatalf("final stage has %d %s instructions, want 1", len(l), cmd)
		}
		return l[0]
	}
	for _, in := range byCmd("ENV") {
		for _, kv := range strings.Fields(in.args) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Errorf("line %d: ENV %q is not key=value", in.line, kv)
			}
			env[k] = v
		}
	}
	// The official image's Dockerfile (docker-library/zookeeper, 3.8).
	official := map[string]string{
		"ZOO_CONF_DIR": "/conf", "ZOO_DATA_DIR": "/data", "ZOO_DATA_LOG_DIR": "/datalog", "ZOO_LOG_DIR": "/logs",
		"ZOO_TICK_TIME": "2000", "ZOO_INIT_LIMIT": "5", "ZOO_SYNC_LIMIT": "2", "ZOO_AUTOPURGE_PURGEINTERVAL": "0",
		"ZOO_AUTOPURGE_SNAPRETAINCOUNT": "3", "ZOO_MAX_CLIENT_CNXNS": "60", "ZOO_STANDALONE_ENABLED": "true",
		"ZOO_ADMINSERVER_ENABLED": "true", "ZOOCFGDIR": "/conf",
	}
	for k, v := range official {
		if env[k] != v {
			t.Errorf("ENV %s=%q, the official image has %q", k, env[k], v)
		}
	}
	if got := strings.Fields(one("EXPOSE").args); !slices.Equal(got, []string{"2181", "2888", "3888", "8080"}) {
		t.Errorf("EXPOSE %v, the official image exposes 2181 2888 3888 8080", got)
	}
	if got := execForm(t, one("VOLUME")); !slices.Equal(got, []string{"/data", "/datalog", "/logs"}) {
		t.Errorf("VOLUME %v, the official image has /data /datalog /logs", got)
	}
	if u := one("USER").args; u != "1000:1000" {
		t.Errorf("USER %s, the official image's zookeeper user is 1000:1000", u)
	}
	if got := execForm(t, one("ENTRYPOINT")); !slices.Equal(got, []string{"/usr/local/bin/zkd"}) {
		t.Errorf("ENTRYPOINT %v", got)
	}
	if got := execForm(t, one("CMD")); !slices.Equal(got, []string{"zkServer.sh", "start-foreground"}) {
		t.Errorf("CMD %v, the official image runs zkServer.sh start-foreground", got)
	}
	hc := one("HEALTHCHECK")
	opts, cmd, ok := strings.Cut(hc.args, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %q has no CMD", hc.args)
	}
	for _, opt := range strings.Fields(opts) {
		if !strings.HasPrefix(opt, "--interval=") && !strings.HasPrefix(opt, "--timeout=") &&
			!strings.HasPrefix(opt, "--start-period=") && !strings.HasPrefix(opt, "--retries=") {
			t.Errorf("HEALTHCHECK option %q", opt)
		}
	}
	argv := execForm(t, instruction{cmd: "HEALTHCHECK CMD", args: cmd, line: hc.line})
	if len(argv) < 2 || argv[0] != "/usr/local/bin/zkd" || argv[1] != "probe" {
		t.Errorf("HEALTHCHECK runs %v, want /usr/local/bin/zkd probe ...", argv)
	}
	if !slices.Contains(argv, "srvr") {
		t.Errorf("HEALTHCHECK %v: only srvr is on every whitelist", argv)
	}
	// The runtime stage copies zkd from the build stage, which stamps its version.
	var build strings.Builder
	for _, in := range ins {
		build.WriteString(in.args + "\n")
	}
	for _, want := range []string{"-X main.version=", "-X main.commit=", "-X main.buildDate=", "CGO_ENABLED=0"} {
		if !strings.Contains(build.String(), want) {
			t.Errorf("the build does not set %s", want)
		}
	}
	// Sources copied from the build context exist.
	for _, in := range ins {
		if in.cmd != "COPY" || strings.Contains(in.args, "--from=") {
			continue
		}
		f := strings.Fields(in.args)
		for _, src := range f[:len(f)-1] {
			if _, err := os.Stat(filepath.Join(root, src)); err != nil {
				t.Errorf("line %d: COPY source %s: %v", in.line, src, err)
			}
		}
	}
}
