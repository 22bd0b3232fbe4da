package zkdisk

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Found is what Detect saw of ZooKeeper data in a dataDir and dataLogDir.
type Found struct {
	DataDir   string // as given
	LogDir    string // as given ("" when it is DataDir)
	Snapshots int    // snapshot.* files in DataDir/version-2
	Logs      int    // log.* files in (LogDir or DataDir)/version-2
	// NewestZxid is the highest zxid found: of the newest snapshot's name and of
	// the last readable record of the newest non-empty log file.
	NewestZxid int64
	// NewestFile is the file NewestZxid came from.
	NewestFile string
}

// Any reports whether ZooKeeper data was found.
func (f Found) Any() bool { return f.Snapshots+f.Logs > 0 }

// Detect looks for Apache ZooKeeper's version-2 snapshots and logs under a dataDir
// and dataLogDir ("" = dataDir), so that a server can refuse to start an empty
// tree beside them. Only directory listing errors are returned; an unreadable log
// counts with the zxid of its name.
func Detect(dataDir, dataLogDir string) (Found, error) {
	f := Found{DataDir: dataDir, LogDir: dataLogDir}
	if dataLogDir == dataDir {
		f.LogDir = ""
	}
	snaps, err := ListSnapshots(filepath.Join(dataDir, VersionDir))
	if err != nil {
		return f, fmt.Errorf("zkdisk: %w", err)
	}
	logDir := dataDir
	if f.LogDir != "" {
		logDir = f.LogDir
	}
	logs, err := ListLogs(filepath.Join(logDir, VersionDir))
	if err != nil {
		return f, fmt.Errorf("zkdisk: %w", err)
	}
	f.Snapshots, f.Logs = len(snaps), len(logs)
	f.NewestZxid = -1
	if len(snaps) > 0 {
		f.NewestZxid, f.NewestFile = snaps[0].Zxid, snaps[0].Path
	}
	// The newest log's last record; an empty newest log (created, nothing
	// written) defers to the one before it.
	for i := len(logs) - 1; i >= 0 && i >= len(logs)-3; i-- {
		z, ok := lastLogZxid(logs[i].Path)
		if !ok {
			z = logs[i].Zxid
		}
		if z > f.NewestZxid {
			f.NewestZxid, f.NewestFile = z, logs[i].Path
		}
		if ok {
			break
		}
	}
	if f.NewestZxid < 0 {
		f.NewestZxid = 0
	}
	return f, nil
}

// lastLogZxid returns the zxid of the last readable record of a log file.
func lastLogZxid(path string) (int64, bool) {
	r, err := OpenLog(path, ReadOptions{})
	if err != nil {
		return 0, false
	}
	defer r.Close()
	var last int64
	found := false
	for {
		rec, err := r.Next()
		if err == io.EOF || err != nil {
			return last, found
		}
		last, found = rec.Txn.Header.Zxid, true
	}
}

// RefusalMessage says why a server must not start on a directory holding
// ZooKeeper's data and no zkd data, and the command that imports it. configPath
// is the zoo.cfg the server was started with ("" if none).
func (f Found) RefusalMessage(configPath string) string {
	var b strings.Builder
	where := filepath.Join(f.DataDir, VersionDir)
	if f.LogDir != "" {
		where += " and " + filepath.Join(f.LogDir, VersionDir)
	}
	fmt.Fprintf(&b, "%s holds Apache ZooKeeper data (%d snapshots, %d transaction logs; newest zxid 0x%x in %s) "+
		"and there is no zkd data beside it: starting would serve an empty tree instead of that data.\n",
		where, f.Snapshots, f.Logs, f.NewestZxid, filepath.Base(f.NewestFile))
	b.WriteString("Import it first (ZooKeeper must be stopped; its files are only read):\n\n    ")
	if configPath != "" {
		fmt.Fprintf(&b, "zkd import --config %s", configPath)
	} else {
		fmt.Fprintf(&b, "zkd import --from %s", f.DataDir)
		if f.LogDir != "" {
			fmt.Fprintf(&b, " --log-dir %s", f.LogDir)
		}
		fmt.Fprintf(&b, " --to %s", f.DataDir)
	}
	b.WriteString("\n\nthen start zkd again; or point dataDir at another directory. See docs/migration.md.")
	return b.String()
}
