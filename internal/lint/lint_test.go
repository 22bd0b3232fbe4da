package lint

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// rule says what one top-level package (and every package below it) may import.
// Packages inside the same tree may always import each other, like raft's rafttest.
type rule struct {
	// module lists top-level module packages, relative to the module path. "internal"
	// stands for every package under internal/.
	module []string
	// thirdParty lists module-path prefixes outside the standard library.
	thirdParty []string
	// anyModule lets the package import every module package (main only).
	anyModule bool
}

// graph is the allowed import graph of ../shared/STYLE.md §0 and DESIGN.md's table.
// Keys are top-level directories relative to the module root ("." is package main),
// or a subpackage's full path where a test harness needs more than its tree.
var graph = map[string]rule{
	"jute":     {thirdParty: []string{"github.com/valyala/bytebufferpool"}},
	"internal": {},
	"datatree": {module: []string{"jute", "internal"}, thirdParty: []string{"github.com/cespare/xxhash/v2"}},
	"difftest": {module: []string{"jute", "internal/zktest/raw"}}, // differential tester: a client like bench
	"txnlog":   {module: []string{"internal"}, thirdParty: []string{"golang.org/x/sys"}},
	"snapshot": {module: []string{"datatree", "jute", "internal"}, thirdParty: []string{"github.com/klauspost/compress"}},
	"quorum": {
		module:     []string{"txnlog", "internal"},
		thirdParty: []string{"go.etcd.io/raft/v3", "google.golang.org/protobuf"},
	},
	// replica reads server.N lines (zoocfg) to carry out reconfig.
	"replica": {module: []string{"quorum", "datatree", "snapshot", "jute", "zoocfg", "internal"}},
	// replicatest runs replicas in tests, so it opens their logs itself.
	"replica/replicatest": {module: []string{"replica", "quorum", "datatree", "snapshot", "jute", "txnlog", "zoocfg", "internal"}},
	"session": {
		module: []string{"datatree", "replica", "jute", "tlsconf", "sasl", "internal"},
		thirdParty: []string{"github.com/cespare/xxhash/v2", "github.com/valyala/bytebufferpool",
			"golang.org/x/sync"},
	},
	"netloop": {
		module: []string{"session", "jute", "internal"},
		thirdParty: []string{"github.com/panjf2000/gnet/v2", "github.com/panjf2000/ants/v2",
			"github.com/valyala/bytebufferpool", "golang.org/x/sys", "golang.org/x/sync"},
	},
	"bench": {module: []string{"jute", "internal"}, thirdParty: []string{"golang.org/x/sync"}},
	// Security building blocks, below session/netloop/quorum: TLS configs from
	// ZooKeeper's ssl.* keys (JKS and PKCS #12 readers, OCSP for ssl.ocsp), and
	// the SASL mechanisms (Kerberos tickets and GSS tokens through gokrb5).
	"tlsconf": {module: []string{"internal"}, thirdParty: []string{
		"github.com/pavlo-v-chernykh/keystore-go/v4", "software.sslmate.com/src/go-pkcs12", "golang.org/x/crypto/ocsp"}},
	"sasl": {module: []string{"internal"}, thirdParty: []string{"github.com/jcmturner/gokrb5/v8", "github.com/jcmturner/gofork"}},
	// admin serves /metrics through the Prometheus client library; nothing else
	// links it.
	"admin": {module: []string{"session", "replica", "datatree", "jute", "internal"},
		thirdParty: []string{"github.com/prometheus/client_golang"}},
	"server": {module: []string{"zoocfg", "admin", "netloop", "session", "replica", "quorum", "snapshot",
		"txnlog", "datatree", "jute", "zkdisk", "tlsconf", "sasl", "internal"}},
	// ZooKeeper's on-disk formats: import into a zkd snapshot, export from a tree.
	"zkdisk": {module: []string{"datatree", "snapshot", "jute", "internal"}, thirdParty: []string{"github.com/klauspost/compress"}},
	".":      mainRule,
	"cmd":    mainRule, // cmd/<name>: extra commands, wired like main

	// zoocfg: zoo.cfg, myid, ZOO_* and -D properties -> Config; imported by main,
	// the server assembly, test harnesses and reconfig, so it needs nothing of zkd.
	"zoocfg": {module: []string{"internal"}},
	"compat": {}, // tests only: real clients against a bin/zkd the tests build and run

	// Test-side history checker: real clients record histories against a running
	// ensemble (ZooKeeper or zkd processes), porcupine judges them.
	"internal/zkcheck": {module: []string{"internal"},
		thirdParty: []string{"github.com/go-zookeeper/zk", "github.com/anishathalye/porcupine"}},
	// tests only: make install, the systemd unit and the Dockerfile.
	"packaging": {module: []string{"zoocfg", "internal"}},
	// Test support. internal/zktest starts servers (in-process, as processes, as
	// ensembles) for every test, so it may import any package; its raw client is a
	// jute client only, so that difftest can judge zkd as any client would.
	"internal/zktest":     {anyModule: true, thirdParty: []string{"github.com/go-zookeeper/zk"}},
	"internal/zktest/raw": {module: []string{"jute"}},
	// tests/ (in-process) and tests/e2e (the built binary): the tests that start
	// whole servers, outside package main.
	"tests": {anyModule: true, thirdParty: []string{"github.com/go-zookeeper/zk"}},
}

// mainRule is main.go's row: it wires everything, so it may import every package.
var mainRule = rule{anyModule: true, thirdParty: []string{"golang.org/x/sync", "golang.org/x/sys",
	"gopkg.in/natefinch/lumberjack.v2"}}

// exclusive names third-party modules that only one tree may import, whatever the
// table says, so that a widened row cannot leak them.
var exclusive = map[string]string{
	"github.com/panjf2000/gnet/v2": "netloop",
	"go.etcd.io/raft/v3":           "quorum",
	// The Prometheus client library is the metrics endpoint's alone.
	"github.com/prometheus/client_golang": "admin",
}

// moduleRoot walks up from the working directory to the directory holding go.mod and
// returns it with the module path.
func moduleRoot(t *testing.T) (dir, modPath string) {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
					return dir, strings.Trim(f[1], `"`)
				}
			}
			t.Fatalf("%s/go.mod has no module line", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// topOf returns the tree of the graph a module package belongs to: its top-level
// directory ("quorum" for zkd/quorum/quorumtest, "." for the root package), or the
// deepest directory the graph has a row for ("internal/zkcheck", "internal/zktest/raw").
func hasRow(p string) bool {
	_, ok := graph[p]
	return ok
}

func topOf(rel string) string {
	if rel == "" {
		return "."
	}
	parts := strings.Split(rel, "/")
	for n := len(parts); n > 1; n-- {
		if p := strings.Join(parts[:n], "/"); hasRow(p) {
			return p
		}
	}
	return parts[0]
}

// isStdlib reports whether path names a standard-library package. The module's own
// path may also lack a dot ("zkd"), so callers test for it first.
func isStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func hasPathPrefix(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func TestImportGraph(t *testing.T) {
	root, modPath := moduleRoot(t)
	// -e: a package that does not build yet still lists its imports.
	cmd := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}

	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		pkg, imports := fields[0], fields[1:]
		if !hasPathPrefix(pkg, modPath) {
			t.Errorf("go list printed %q, outside module %s", pkg, modPath)
			continue
		}
		seen++
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, modPath), "/")
		top := topOf(rel)
		r, ok := graph[top]
		if !ok {
			t.Errorf("%s: top-level package %q is not in the import graph; give it a row in internal/lint/lint_test.go (and DESIGN.md)", pkg, top)
			continue
		}
		for _, imp := range imports {
			if msg := checkImport(modPath, top, r, imp); msg != "" {
				t.Errorf("%s imports %s: %s", pkg, imp, msg)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatal("go list ./... found no packages")
	}
}

// checkImport returns why package tree top (with rule r) may not import imp, or "".
func checkImport(modPath, top string, r rule, imp string) string {
	if hasPathPrefix(imp, modPath) {
		rel := strings.TrimPrefix(strings.TrimPrefix(imp, modPath), "/")
		to := topOf(rel)
		switch {
		case to == top, r.anyModule:
			return ""
		case to == ".":
			return "nothing imports package main"
		}
		for _, m := range r.module {
			if m == to {
				return ""
			}
		}
		return "not allowed by STYLE.md §0 (" + top + " may import " + describe(r.module) + ")"
	}
	if imp == "C" || isStdlib(imp) {
		return ""
	}
	for mod, owner := range exclusive {
		if hasPathPrefix(imp, mod) && top != owner {
			return "only " + owner + " may import " + mod
		}
	}
	for _, p := range r.thirdParty {
		if hasPathPrefix(imp, p) {
			return ""
		}
	}
	return "third-party import not allowed for " + top + " (allowed: " + describe(r.thirdParty) + ")"
}

func describe(list []string) string {
	if len(list) == 0 {
		return "nothing"
	}
	return strings.Join(list, ", ")
}

// sourceFile is one parsed non-test Go file of the module.
type sourceFile struct {
	rel  string // slash-separated path relative to the module root
	file *ast.File
	fset *token.FileSet
}

// nonTestFiles parses every non-test .go file under the module root, skipping
// testdata, vendor, hidden and underscore directories as the go tool does.
func nonTestFiles(t *testing.T) []sourceFile { return goFiles(t, false) }

// testFiles parses every _test.go file as nonTestFiles does the others.
func testFiles(t *testing.T) []sourceFile { return goFiles(t, true) }

func goFiles(t *testing.T, tests bool) []sourceFile {
	t.Helper()
	root, _ := moduleRoot(t)
	var files []sourceFile
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "vendor" ||
				strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			if path != root {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir // a nested module is not ours
				}
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") != tests {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			// Compilation reports syntax errors better; do not fail lint on them.
			t.Logf("skipping %s: %v", path, err)
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		files = append(files, sourceFile{rel: filepath.ToSlash(rel), file: f, fset: fset})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	return files
}

// importName returns the name under which f imports path: "" if it does not, "." for
// a dot import, "_" for a blank import.
func importName(f *ast.File, path string) string {
	for _, spec := range f.Imports {
		p, err := strconv.Unquote(spec.Path.Value)
		if err != nil || p != path {
			continue
		}
		if spec.Name != nil {
			return spec.Name.Name
		}
		return path[strings.LastIndex(path, "/")+1:]
	}
	return ""
}

// calls returns the positions of pkgName.Sel(...) calls in f for which bad(Sel) holds.
func calls(sf sourceFile, pkgName string, bad func(sel string) bool) []string {
	var hits []string
	ast.Inspect(sf.file, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && id.Name == pkgName && bad(sel.Sel.Name) {
			p := sf.fset.Position(sel.Pos())
			hits = append(hits, sf.rel+":"+strconv.Itoa(p.Line)+": "+pkgName+"."+sel.Sel.Name)
		}
		return true
	})
	return hits
}

// atomicTypes are the typed atomics of sync/atomic; everything else it exports is a
// function-style operation on a raw integer or pointer.
var atomicTypes = map[string]bool{
	"Bool": true, "Int32": true, "Int64": true, "Uint32": true, "Uint64": true,
	"Uintptr": true, "Pointer": true, "Value": true,
}

func TestNoRawAtomics(t *testing.T) {
	for _, sf := range nonTestFiles(t) {
		name := importName(sf.file, "sync/atomic")
		switch name {
		case "", "_":
			continue
		case ".":
			t.Errorf("%s: dot import of sync/atomic; use the typed atomics (atomic.Int64, ...)", sf.rel)
			continue
		}
		for _, h := range calls(sf, name, func(sel string) bool { return !atomicTypes[sel] }) {
			t.Errorf("%s: raw atomic; use a typed atomic (atomic.Int64, atomic.Uint64, atomic.Bool, atomic.Pointer[T]) [STYLE rule 24]", h)
		}
	}
}

func TestNoFmtPrintOutsideMain(t *testing.T) {
	banned := map[string]bool{"Print": true, "Printf": true, "Println": true}
	for _, sf := range nonTestFiles(t) {
		dir := filepath.ToSlash(filepath.Dir(sf.rel))
		if sf.rel == "main.go" || (dir != "." && sf.file.Name.Name == "main") {
			continue // the root main.go, or a command in its own directory
		}
		name := importName(sf.file, "fmt")
		switch name {
		case "", "_":
			continue
		case ".":
			t.Errorf("%s: dot import of fmt", sf.rel)
			continue
		}
		for _, h := range calls(sf, name, func(sel string) bool { return banned[sel] }) {
			t.Errorf("%s: fmt.Print* outside main.go; log through log/slog or write to an io.Writer [STYLE rule 39]", h)
		}
	}
}

// builders are the test helpers that build the zkd binary (testutil.BuildZkd,
// directly or through a zktest process), by package path within the module.
var builders = map[string][]string{
	"internal/testutil": {"BuildZkd"},
	"internal/zktest":   {"StartProcess", "StartProcessCluster"},
}

// TestBuiltZkdIsRemoved: a test package that builds zkd removes the binary when
// it ends, from a TestMain that runs the tests through testutil.Main; otherwise
// every run of it leaves a 26 MB binary in the temporary directory.
func TestBuiltZkdIsRemoved(t *testing.T) {
	_, modPath := moduleRoot(t)
	builds := map[string]string{} // directory -> a call that builds zkd
	removes := map[string]bool{}  // directory -> its TestMain calls testutil.Main
	for _, sf := range testFiles(t) {
		dir := filepath.ToSlash(filepath.Dir(sf.rel))
		for pkg, funcs := range builders {
			name := importName(sf.file, modPath+"/"+pkg)
			if name == "" || name == "_" || name == "." {
				continue
			}
			if hits := calls(sf, name, func(sel string) bool { return slices.Contains(funcs, sel) }); len(hits) > 0 {
				builds[dir] = hits[0]
			}
		}
		name := importName(sf.file, modPath+"/internal/testutil")
		for _, d := range sf.file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || fn.Name.Name != "TestMain" || name == "" {
				continue
			}
			main := sourceFile{rel: sf.rel, file: &ast.File{Name: sf.file.Name, Decls: []ast.Decl{fn}}, fset: sf.fset}
			if len(calls(main, name, func(sel string) bool { return sel == "Main" })) > 0 {
				removes[dir] = true
			}
		}
	}
	for dir, hit := range builds {
		if !removes[dir] {
			t.Errorf("%s builds zkd, but no TestMain in %s runs the tests through testutil.Main", hit, dir)
		}
	}
	if len(builds) == 0 {
		t.Error("no test package builds zkd: the rule checks nothing; is builders out of date?")
	}
}
