package zkdisk

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"zkd/datatree"
	"zkd/internal/vfs"
	"zkd/snapshot"
)

// hasEntries reports whether dir exists and holds anything.
// A file where the directory should be counts as holding something.
func hasEntries(dir string) (bool, error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case !st.IsDir():
		return true, nil
	}
	ents, err := os.ReadDir(dir)
	return len(ents) > 0, err
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// stageDir makes an empty temporary directory beside target (so the final rename
// stays within one file system). Its name starts with "." so no server mistakes
// it for data.
func stageDir(target string) (string, error) {
	parent := filepath.Dir(target)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(target)+".tmp-")
	if err != nil {
		return "", err
	}
	// MkdirTemp makes it private; the published directory gets the usual mode.
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// publish renames the finished staging directory to target and makes the rename
// durable. target must be absent or an empty directory.
func publish(tmp, target string) error {
	if err := syncDir(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, target); err != nil {
		return err
	}
	return syncDir(filepath.Dir(target))
}

// writeFileSync writes a file and fsyncs it.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ZkdDirs are the directories of zkd's own data under a dataDir and dataLogDir.
type ZkdDirs struct {
	Root      string // <dataDir>/zkd
	Snapshots string // <dataDir>/zkd/snapshots
	Log       string // <dataLogDir or dataDir>/zkd/log
}

// ZkdLayout returns zkd's directories for a dataDir and dataLogDir ("" = dataDir).
func ZkdLayout(dataDir, dataLogDir string) ZkdDirs {
	if dataLogDir == "" {
		dataLogDir = dataDir
	}
	root := filepath.Join(dataDir, "zkd")
	return ZkdDirs{Root: root, Snapshots: filepath.Join(root, "snapshots"), Log: filepath.Join(dataLogDir, "zkd", "log")}
}

// CheckZkdTarget returns ErrTargetExists if dataDir (or dataLogDir) already holds
// zkd data, which an import must never overwrite.
func CheckZkdTarget(dataDir, dataLogDir string) error {
	l := ZkdLayout(dataDir, dataLogDir)
	for _, dir := range []string{l.Root, l.Log} {
		busy, err := hasEntries(dir)
		if err != nil {
			return fmt.Errorf("zkdisk: %w", err)
		}
		if busy {
			return fmt.Errorf("%w: %s is not empty; an import never overwrites zkd data (move it away first)", ErrTargetExists, dir)
		}
	}
	return nil
}

// WriteZkdDataDir writes tree as a new zkd data directory: one snapshot,
// <dataDir>/zkd/snapshots/snap-<index>, at index = the tree's zxid (zkd's zxid is
// its raft index, so zxids continue above the imported ones and clients'
// lastZxidSeen stays valid), term 1 and no voters (the server takes membership
// from its configuration when a snapshot carries none). The log directory is
// left absent: zkd creates it. Everything is written into a temporary directory
// beside <dataDir>/zkd, fsynced, then renamed into place, so a failure or crash
// leaves no partial zkd directory.
func WriteZkdDataDir(dataDir, dataLogDir string, tree *datatree.Tree, progress func(Progress)) (snapshot.Info, error) {
	if err := CheckZkdTarget(dataDir, dataLogDir); err != nil {
		return snapshot.Info{}, err
	}
	l := ZkdLayout(dataDir, dataLogDir)
	tmp, err := stageDir(l.Root)
	if err != nil {
		return snapshot.Info{}, fmt.Errorf("zkdisk: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	im, err := tree.Freeze()
	if err != nil {
		return snapshot.Info{}, fmt.Errorf("zkdisk: %w", err)
	}
	snapDir := filepath.Join(tmp, "snapshots")
	stop := watchGrowth(snapDir, tree.NodeCount(), progress)
	info, err := snapshot.Write(vfs.OS(), snapDir, snapshot.Meta{Index: uint64(im.Zxid()), Term: 1}, im)
	stop()
	im.Release()
	if err != nil {
		return snapshot.Info{}, fmt.Errorf("zkdisk: %w", err)
	}
	if progress != nil {
		progress(Progress{Phase: PhaseWrite, File: filepath.Join(l.Snapshots, info.Name), Nodes: info.Nodes, TotalNodes: info.Nodes, Bytes: info.Size})
	}
	if err := publish(tmp, l.Root); err != nil {
		return snapshot.Info{}, fmt.Errorf("zkdisk: %w", err)
	}
	ok = true
	return info, nil
}

// watchGrowth reports the size of the files growing in dir while snapshot.Write,
// which has no progress hook, streams into it. The returned func stops it.
func watchGrowth(dir string, nodes int64, progress func(Progress)) func() {
	if progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			ents, _ := os.ReadDir(dir)
			var size int64
			name := dir
			for _, e := range ents {
				if info, err := e.Info(); err == nil {
					size += info.Size()
					name = filepath.Join(dir, e.Name())
				}
			}
			progress(Progress{Phase: PhaseWrite, File: name, Bytes: size})
		}
	}()
	return func() { close(done); wg.Wait() }
}

// ExportOptions say where and how to write a ZooKeeper data directory.
type ExportOptions struct {
	// Dir is the ZooKeeper dataDir; version-2 is created in it.
	Dir string
	// Codec is the snapshot's compression (ZooKeeper reads all three by name).
	Codec    Codec
	Progress func(Progress)
	// Context, when set, stops the export at its next write once it is done:
	// the staged files are removed and nothing is published.
	Context context.Context
}

// Export writes the tree's current state as a ZooKeeper 3.8 data directory (see
// WriteZooKeeperDataDir).
func Export(tree *datatree.Tree, opt ExportOptions) (*Summary, error) {
	start := time.Now()
	im, err := tree.Freeze()
	if err != nil {
		return nil, fmt.Errorf("zkdisk: %w", err)
	}
	defer im.Release()
	nodes := make([]datatree.NodeImage, 0, tree.NodeCount())
	if err := im.Nodes(func(n *datatree.NodeImage) error { nodes = append(nodes, *n); return nil }); err != nil {
		return nil, fmt.Errorf("zkdisk: %w", err)
	}
	sum, err := WriteZooKeeperDataDir(opt, int64(im.Zxid()), im.Sessions(), nodes)
	if sum != nil {
		sum.Elapsed = time.Since(start)
	}
	return sum, err
}

// WriteZooKeeperDataDir writes <Dir>/version-2 holding one snapshot of the given
// state, named snapshot.<zxid hex>, and the epoch files acceptedEpoch and
// currentEpoch = zxid >> 32, so that ZooKeeper 3.8, standalone or in an ensemble,
// starts on it as on its own data (its next epoch, hence every new zxid, is above
// the exported one). Written into a temporary directory beside version-2, fsynced,
// then renamed into place; an existing non-empty version-2 is never touched.
func WriteZooKeeperDataDir(opt ExportOptions, zxid int64, sessions []datatree.SessionImage, nodes []datatree.NodeImage) (*Summary, error) {
	if zxid < 0 {
		return nil, fmt.Errorf("zkdisk: zxid %d", zxid)
	}
	target := filepath.Join(opt.Dir, VersionDir)
	busy, err := hasEntries(target)
	if err != nil {
		return nil, fmt.Errorf("zkdisk: %w", err)
	}
	if busy {
		return nil, fmt.Errorf("%w: %s is not empty; an export never overwrites ZooKeeper data", ErrTargetExists, target)
	}
	tmp, err := stageDir(target)
	if err != nil {
		return nil, fmt.Errorf("zkdisk: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	name := SnapshotName(zxid, opt.Codec)
	f, err := os.OpenFile(filepath.Join(tmp, name), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("zkdisk: %w", err)
	}
	file := filepath.Join(target, name)
	progress := opt.Progress
	if progress != nil {
		progress = func(p Progress) { p.File = file; opt.Progress(p) }
	}
	var out io.Writer = f
	if opt.Context != nil {
		out = ctxWriter{ctx: opt.Context, w: f}
	}
	fw := &countingWriter{w: out}
	info, err := WriteSnapshot(fw, opt.Codec, zxid, sessions, nodes, progress)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("zkdisk: write %s: %w", file, err)
	}
	epoch := []byte(strconv.FormatInt(zxid>>32, 10))
	for _, n := range []string{"acceptedEpoch", "currentEpoch"} {
		if err := writeFileSync(filepath.Join(tmp, n), epoch); err != nil {
			return nil, fmt.Errorf("zkdisk: %w", err)
		}
	}
	if opt.Context != nil && opt.Context.Err() != nil {
		return nil, fmt.Errorf("zkdisk: %w", opt.Context.Err())
	}
	if err := publish(tmp, target); err != nil {
		return nil, fmt.Errorf("zkdisk: %w", err)
	}
	ok = true
	return &Summary{LastZxid: zxid, Znodes: info.Nodes, Sessions: len(sessions), Ephemerals: info.Ephemerals,
		DataBytes: info.DataBytes, FileBytes: fw.n, Output: file, OutputBytes: fw.n, Digest: info.Digest}, nil
}

// ctxWriter fails every write once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
