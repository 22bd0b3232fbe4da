package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"zkd/jute"
)

// The base tree is what the table workloads (README, Performance) read and write: n
// znodes of 100 B, a thousand children per parent so that no getChildren reply
// nears jute.maxbuffer:
//
//	/zkbench-tree            data: "zkbench-tree n=<n> size=100" once complete
//	/zkbench-tree/b<j>       j = i / 1000
//	/zkbench-tree/b<j>/k<m>  m = i % 1000, 100 B
//
// It is created once per server (not per run: creating 100k znodes would dominate
// every run) and its marker is written last, so an interrupted preload is redone.
const (
	treeRoot     = "/zkbench-tree"
	treeFanout   = 1000
	treeDataSize = 100
)

// treeKeys returns the n key paths of a shaped tree below root.
func treeKeys(root string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = root + "/b" + strconv.Itoa(i/treeFanout) + "/k" + strconv.Itoa(i%treeFanout)
	}
	return keys
}

// treeBuckets returns the parents of n keys below root.
func treeBuckets(root string, n int) []string {
	b := make([]string, (n+treeFanout-1)/treeFanout)
	for j := range b {
		b[j] = root + "/b" + strconv.Itoa(j)
	}
	return b
}

// treeMarker is the root's data once a tree of n znodes is complete.
func treeMarker(root string, n int) string {
	return fmt.Sprintf("%s n=%d size=%d", strings.TrimPrefix(root, "/"), n, treeDataSize)
}

// parseTreeMarker returns the n of a marker written by treeMarker.
func parseTreeMarker(data string) (int, bool) {
	for _, f := range strings.Fields(data) {
		if v, ok := strings.CutPrefix(f, "n="); ok {
			n, err := strconv.Atoi(v)
			return n, err == nil && n >= 0
		}
	}
	return 0, false
}

// ensureTree makes sure the base tree of cfg.TreeZnodes znodes is on the servers,
// creating it (unmeasured) if its marker is missing or of another size.
func ensureTree(ctx context.Context, e *env) error {
	if e.cfg.treeReady {
		return nil
	}
	_, err := ensureTreeOn(ctx, e)
	return err
}

// ensureTreeOn is ensureTree that reports whether it had to create the tree.
func ensureTreeOn(ctx context.Context, e *env) (created bool, err error) {
	n := e.cfg.TreeZnodes
	c, err := e.dial(ctx, nil)
	if err != nil {
		return false, err
	}
	defer c.Close()
	r, err := c.Do(ctx, jute.OpGetData, &jute.PathWatchRequest{Path: treeRoot})
	if err != nil {
		return false, err
	}
	if r.Err == jute.CodeOK {
		d := jute.NewDecoder(r.Body)
		data := string(d.Buffer())
		if data == treeMarker(treeRoot, n) {
			return false, nil
		}
		// Another size, or an interrupted preload (no marker yet: most likely of
		// this size): remove what is there, the shaped part by its known names.
		old, ok := parseTreeMarker(data)
		if !ok {
			old = n
		}
		if err := unload(ctx, e, treeRoot, old, e.cfg.PreloadClients); err != nil {
			return false, fmt.Errorf("remove the old %s: %w", treeRoot, err)
		}
		if err := deleteTree(ctx, c, treeRoot); err != nil {
			return false, fmt.Errorf("remove the old %s: %w", treeRoot, err)
		}
	}
	if err := preload(ctx, e, treeRoot, n, e.cfg.PreloadClients, nil); err != nil {
		return true, fmt.Errorf("create %s: %w", treeRoot, err)
	}
	r, err = c.Do(ctx, jute.OpSetData, &jute.SetDataRequest{Path: treeRoot, Data: []byte(treeMarker(treeRoot, n)), Version: -1})
	if err != nil {
		return true, err
	}
	if r.Err != jute.CodeOK {
		return true, fmt.Errorf("mark %s complete: %w", treeRoot, r.Err)
	}
	return true, e.barrier(ctx)
}

// preload creates root, its buckets and n keys of 100 B below them: the buckets on
// one session, then the keys in contiguous chunks over clients sessions (spread
// over the servers), each with setupWindow creates in flight. Existing znodes are
// fine. each, if not nil, sees every key's create reply (on a reader goroutine,
// concurrently from several sessions).
func preload(ctx context.Context, e *env, root string, n, clients int, each func(r *Reply)) error {
	c, err := e.dial(ctx, nil)
	if err != nil {
		return err
	}
	err = createAll(ctx, c, append([]string{root}, treeBuckets(root, n)...), nil)
	c.Close()
	if err != nil {
		return err
	}
	keys := treeKeys(root, n)
	data := payload(treeDataSize)
	return overSessions(ctx, e, n, clients, func(c *Conn, lo, hi int) error {
		var req jute.CreateRequest
		return pipelineEach(ctx, c, hi-lo, func(i int) (jute.OpCode, jute.Record) {
			req = jute.CreateRequest{Path: keys[lo+i], Data: data, ACL: jute.OpenACLUnsafe}
			return jute.OpCreate, &req
		}, func(code jute.Code) bool { return code == jute.CodeOK || code == jute.CodeNodeExists }, each)
	})
}

// unload deletes a tree preload made (keys over clients sessions, then the
// buckets and root); missing znodes are fine.
func unload(ctx context.Context, e *env, root string, n, clients int) error {
	keys := treeKeys(root, n)
	err := overSessions(ctx, e, n, clients, func(c *Conn, lo, hi int) error {
		return deleteAll(ctx, c, keys[lo:hi])
	})
	if err != nil {
		return err
	}
	c, err := e.dial(ctx, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	return deleteAll(ctx, c, append([]string{root}, treeBuckets(root, n)...))
}

// overSessions splits [0, n) into clients contiguous chunks and runs fn on each
// with its own session (session j on the connect string's server j).
func overSessions(ctx context.Context, e *env, n, clients int, fn func(c *Conn, lo, hi int) error) error {
	clients = max(1, min(clients, n))
	conns, err := e.dialN(ctx, clients, nil)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for j, c := range conns {
		lo, hi := n*j/clients, n*(j+1)/clients
		wg.Add(1)
		go func() { defer wg.Done(); errs[j] = fn(c, lo, hi) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
