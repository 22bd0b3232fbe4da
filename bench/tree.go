package bench

import (
	"context"
	"fmt"
	"sync"

	"zkd/jute"
)

// window of the set-up helpers: requests in flight on their one session.
const setupWindow = 256

// pipeline sends requests on c with at most setupWindow in flight and waits for all
// replies. gen(i) fills the i-th request; ok(code) says whether a code is fine. It
// returns the first unacceptable code as an error.
func pipeline(ctx context.Context, c *Conn, n int, gen func(i int) (jute.OpCode, jute.Record), ok func(jute.Code) bool) error {
	return pipelineEach(ctx, c, n, gen, ok, nil)
}

// pipelineEach is pipeline that also hands every reply to each (on the reader
// goroutine; nil for none).
func pipelineEach(ctx context.Context, c *Conn, n int, gen func(i int) (jute.OpCode, jute.Record), ok func(jute.Code) bool, each func(r *Reply)) error {
	sem := make(chan struct{}, setupWindow)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	cb := func(r *Reply) {
		if each != nil {
			each(r)
		}
		if !ok(r.Err) {
			mu.Lock()
			if first == nil {
				first = fmt.Errorf("%v: %w", r.Op, r.Err)
			}
			mu.Unlock()
		}
		<-sem
		wg.Done()
	}
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		op, body := gen(i)
		wg.Add(1)
		if err := c.Submit(op, body, 0, cb); err != nil {
			wg.Done()
			wg.Wait()
			return err
		}
	}
	wg.Wait()
	return first
}

// createAll creates paths in order (parents before children: one session's requests
// take effect in order) with the same data; existing nodes are fine.
func createAll(ctx context.Context, c *Conn, paths []string, data []byte) error {
	var req jute.CreateRequest
	return pipeline(ctx, c, len(paths), func(i int) (jute.OpCode, jute.Record) {
		req = jute.CreateRequest{Path: paths[i], Data: data, ACL: jute.OpenACLUnsafe, Flags: int32(jute.ModePersistent)}
		return jute.OpCreate, &req
	}, func(code jute.Code) bool { return code == jute.CodeOK || code == jute.CodeNodeExists })
}

// listTree returns root and every node below it, parents before children.
func listTree(ctx context.Context, c *Conn, root string) ([]string, error) {
	out := []string{root}
	for i := 0; i < len(out); i++ {
		r, err := c.Do(ctx, jute.OpGetChildren, &jute.PathWatchRequest{Path: out[i]})
		if err != nil {
			return out, err
		}
		if r.Err == jute.CodeNoNode {
			continue
		}
		if r.Err != jute.CodeOK {
			return out, fmt.Errorf("getChildren %s: %w", out[i], r.Err)
		}
		var resp jute.ChildrenResponse
		d := jute.NewDecoder(r.Body)
		resp.Decode(&d)
		if d.Err() != nil {
			return out, d.Err()
		}
		for _, name := range resp.Children {
			out = append(out, joinPath(out[i], name))
		}
	}
	return out, nil
}

// deleteTree deletes root and everything below it; missing nodes are fine.
func deleteTree(ctx context.Context, c *Conn, root string) error {
	nodes, err := listTree(ctx, c, root)
	if err != nil {
		return err
	}
	return deleteAll(ctx, c, nodes)
}

// deleteAll deletes nodes in reverse order (children, listed after their parents,
// go first); missing nodes are fine.
func deleteAll(ctx context.Context, c *Conn, nodes []string) error {
	var req jute.PathVersionRequest
	n := len(nodes)
	return pipeline(ctx, c, n, func(i int) (jute.OpCode, jute.Record) {
		req = jute.PathVersionRequest{Path: nodes[n-1-i], Version: -1}
		return jute.OpDelete, &req
	}, func(code jute.Code) bool { return code == jute.CodeOK || code == jute.CodeNoNode })
}

func joinPath(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

// payload returns n bytes of printable filler.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}
