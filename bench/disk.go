package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// LimitResult is one run of DiskLimit: how many entries of a write workload's shape
// the disk takes per second when each batch is appended with one write and made
// durable with one fdatasync, as zkd's group commit does.
type LimitResult struct {
	Kind       string  `json:"kind"`               // "disk"
	Workload   string  `json:"workload,omitempty"` // whose batching it mirrors
	Rep        int     `json:"rep,omitempty"`
	Filesystem string  `json:"filesystem,omitempty"` // of the directory written to
	EntrySize  int     `json:"entry_size"`           // bytes per entry
	Batch      int     `json:"batch"`                // entries per write + fdatasync
	Entries    int64   `json:"entries"`              // appended and synced; = Fsyncs x Batch
	Fsyncs     int64   `json:"fsyncs"`
	ElapsedSec float64 `json:"elapsed_s"`
	// SyncLatency is the time of each batch's write + fdatasync, in nanoseconds.
	SyncLatency *Histogram `json:"sync_latency_ns"`
}

// EntriesPerSec is the entries made durable per second.
func (r *LimitResult) EntriesPerSec() float64 {
	if r.ElapsedSec <= 0 {
		return 0
	}
	return float64(r.Entries) / r.ElapsedSec
}

// FsyncsPerSec is the fdatasyncs per second.
func (r *LimitResult) FsyncsPerSec() float64 {
	if r.ElapsedSec <= 0 {
		return 0
	}
	return float64(r.Fsyncs) / r.ElapsedSec
}

// diskSegment is the size of DiskLimit's file: zkd's txnlog segment size.
const diskSegment = 64 << 20

// txnFraming is what an entry adds to a write's data and path in zkd's log: the
// txnlog frame header and padding, the raft entry, the txn header and the ACL.
const txnFraming = 64

// pathEstimate is the length of a benchmark write's path (/zkbench-<id>-<n>-<name>/w12/n3456).
const pathEstimate = 48

// DiskShape returns the DiskLimit shape that matches a write workload under cfg:
// batch is its sessions times its requests in flight (the most zkd can group into
// one fdatasync) and entrySize its data and path plus txnFraming. ok is false for
// a workload that is not a write workload.
func DiskShape(cfg Config, name string) (batch, entrySize int, ok bool) {
	w, found := LookupWorkload(name)
	if !found || w.writeClients == 0 {
		return 0, 0, false
	}
	clients, inFlight := w.writeClients, w.writeInFlight
	if cfg.Clients > 0 {
		clients = cfg.Clients
	}
	if cfg.InFlight > 0 {
		inFlight = cfg.InFlight
	}
	return clients * max(inFlight, 1), w.writeData + pathEstimate + txnFraming, true
}

// DiskLimit measures what the disk under dir allows a group-committing log: for d
// it appends batches of batch entries of entrySize bytes, one write and one
// fdatasync per batch, to a file preallocated and zero-filled in advance like a zkd
// log segment (so a sync flushes data, not allocation metadata), starting over at
// its beginning when it is full. The file is removed afterwards. The set-up is not
// timed. A cancelled ctx ends the run early with what was measured.
func DiskLimit(ctx context.Context, dir string, entrySize, batch int, d time.Duration) (*LimitResult, error) {
	if entrySize <= 0 || batch <= 0 || d <= 0 {
		return nil, errors.New("bench: disk limit needs a positive entry size, batch and duration")
	}
	f, err := os.CreateTemp(dir, "disklimit-*.log")
	if err != nil {
		return nil, fmt.Errorf("bench: disk limit: %w", err)
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	buf := payload(entrySize * batch)
	size := max(int64(diskSegment), int64(len(buf)))
	if err := zeroFill(f, size); err != nil {
		return nil, fmt.Errorf("bench: disk limit: prepare %s: %w", f.Name(), err)
	}
	res := &LimitResult{Kind: "disk", Filesystem: filesystemOf(dir), EntrySize: entrySize, Batch: batch, SyncLatency: &Histogram{}}
	var off int64
	start := now()
	deadline := start + int64(d)
	for t := start; t < deadline && ctx.Err() == nil; {
		if off+int64(len(buf)) > size {
			off = 0
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			return nil, fmt.Errorf("bench: disk limit: write %s at %d: %w", f.Name(), off, err)
		}
		if err := fdatasync(f); err != nil {
			return nil, fmt.Errorf("bench: disk limit: fdatasync %s: %w", f.Name(), err)
		}
		off += int64(len(buf))
		end := now()
		res.SyncLatency.Record(end - t)
		res.Fsyncs++
		res.Entries += int64(batch)
		t = end
	}
	res.ElapsedSec = float64(now()-start) / 1e9
	return res, nil
}

// zeroFill writes size zero bytes to f and syncs it with its size.
func zeroFill(f *os.File, size int64) error {
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
	}
	return f.Sync()
}
