package zkdisk

import (
	"path/filepath"
	"time"

	"zkd/datatree"
)

// ImportOptions say what to import and where to.
type ImportOptions struct {
	// From is ZooKeeper's data.
	From LoadOptions
	// To is the zkd dataDir and ToLogDir its dataLogDir ("" = To).
	To, ToLogDir string
}

// Import loads ZooKeeper's database (Load), builds zkd's tree from it and writes
// it as a new zkd data directory (WriteZkdDataDir). It refuses, before reading
// anything, a target that already holds zkd data. The summary is that of the
// load, plus the file written.
func Import(opt ImportOptions) (*Summary, error) {
	start := time.Now()
	if err := CheckZkdTarget(opt.To, opt.ToLogDir); err != nil {
		return nil, err
	}
	db, err := Load(opt.From)
	if err != nil {
		return nil, err
	}
	sum := db.Summary
	// TTL markers are kept as stored whatever the server's setting; enabling
	// extended types here only lets the tree index them while it is built.
	tree, err := db.Restore(datatree.Config{ExtendedTypes: true}, opt.From.Progress)
	if err != nil {
		return nil, err
	}
	info, err := WriteZkdDataDir(opt.To, opt.ToLogDir, tree, opt.From.Progress)
	if err != nil {
		return nil, err
	}
	sum.Output = filepath.Join(ZkdLayout(opt.To, opt.ToLogDir).Snapshots, info.Name)
	sum.OutputBytes = info.Size
	sum.Elapsed = time.Since(start)
	return &sum, nil
}
