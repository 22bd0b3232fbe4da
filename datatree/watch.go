package datatree

import (
	"sync"

	"zkd/jute"
)

// Watcher receives watch events; the session layer implements it, one per connection.
type Watcher interface {
	// Notify queues ev for delivery to the client. It is called by the applier with
	// stripe locks held (and by readers for setWatches), so it must not block and
	// must not call back into the tree.
	Notify(ev Event)
	// Identity returns the ids of the connection, used to drop events about nodes
	// the watcher may not read. It may be called from any goroutine.
	Identity() Identity
}

// Event is one watch notification.
type Event struct {
	Type jute.EventType
	Path string
	// Zxid is the entry that caused the event, or -1 for events made up by setWatches.
	Zxid jute.Zxid
}

type watchMode uint8

const (
	modeStandard watchMode = iota + 1
	modePersistent
	modeRecursive
)

type watchTable map[string]map[Watcher]watchMode

// watchManager holds every registered watch. ZooKeeper 3.8 keeps one mode per
// (watcher, path, table): the last registration wins (spec/semantics.md §8.3).
type watchManager struct {
	mu        sync.Mutex
	data      watchTable // guarded by mu; exist, data, persistent and recursive watches
	child     watchTable // guarded by mu; child and persistent watches
	byWatcher map[Watcher]*watcherPaths
	recursive int // guarded by mu; number of recursive registrations (0: skip ancestor walks)
}

type watcherPaths struct {
	data, child map[string]struct{}
}

func (m *watchManager) init() {
	m.data = make(watchTable)
	m.child = make(watchTable)
	m.byWatcher = make(map[Watcher]*watcherPaths)
}

// addLocked registers w on path in one table. REQUIRES: m.mu held.
func (m *watchManager) addLocked(isData bool, path string, w Watcher, mode watchMode) {
	table := m.child
	if isData {
		table = m.data
	}
	// Every key kept must be a copy: path may alias the request buffer.
	owned := false
	ws := table[path]
	if ws == nil {
		ws = make(map[Watcher]watchMode, 1)
		path, owned = jute.Clone(path), true
		table[path] = ws
	}
	if old, ok := ws[w]; ok && old == modeRecursive {
		m.recursive--
	}
	ws[w] = mode
	if mode == modeRecursive {
		m.recursive++
	}
	idx := m.byWatcher[w]
	if idx == nil {
		idx = &watcherPaths{data: make(map[string]struct{}), child: make(map[string]struct{})}
		m.byWatcher[w] = idx
	}
	set := idx.child
	if isData {
		set = idx.data
	}
	// Insert only when absent: assigning to an existing string key would replace
	// the stored key with path.
	if _, ok := set[path]; !ok {
		if !owned {
			path = jute.Clone(path)
		}
		set[path] = struct{}{}
	}
}

func (m *watchManager) add(isData bool, path string, w Watcher, mode watchMode) {
	m.mu.Lock()
	m.addLocked(isData, path, w, mode)
	m.mu.Unlock()
}

// removeLocked drops w's registration on path in one table. REQUIRES: m.mu held.
func (m *watchManager) removeLocked(isData bool, path string, w Watcher) {
	table := m.child
	if isData {
		table = m.data
	}
	ws := table[path]
	if ws == nil {
		return
	}
	if mode, ok := ws[w]; ok {
		if mode == modeRecursive {
			m.recursive--
		}
		delete(ws, w)
		if len(ws) == 0 {
			delete(table, path)
		}
	}
	if idx := m.byWatcher[w]; idx != nil {
		if isData {
			delete(idx.data, path)
		} else {
			delete(idx.child, path)
		}
		if len(idx.data) == 0 && len(idx.child) == 0 {
			delete(m.byWatcher, w)
		}
	}
}

// RemoveWatcher drops every watch of w; called when its connection closes.
func (t *Tree) RemoveWatcher(w Watcher) {
	m := &t.watches
	m.mu.Lock()
	defer m.mu.Unlock()
	idx := m.byWatcher[w]
	if idx == nil {
		return
	}
	for p := range idx.data {
		m.removeLocked(true, p, w)
	}
	for p := range idx.child {
		m.removeLocked(false, p, w)
	}
	delete(m.byWatcher, w)
}

// firing is one event bound for one watcher, collected under the watch lock and
// delivered after it is released.
type firing struct {
	w  Watcher
	ev Event
}

// collectLocked gathers the watchers an event on path fires, consuming standard
// watches. REQUIRES: m.mu held.
func (m *watchManager) collectLocked(out []firing, ev Event) []firing {
	start := len(out)
	seen := func(w Watcher) bool {
		for _, f := range out[start:] {
			if f.w == w {
				return true
			}
		}
		return false
	}
	take := func(isData bool, path string, onlyRecursive bool) {
		table := m.child
		if isData {
			table = m.data
		}
		ws := table[path]
		for w, mode := range ws {
			if onlyRecursive && mode != modeRecursive {
				continue
			}
			// Recursive watchers never see NodeChildrenChanged (3.8.0 registers
			// them in the child table too, where this rule keeps them quiet).
			if mode == modeRecursive && ev.Type == jute.EventNodeChildrenChanged {
				continue
			}
			if !seen(w) {
				out = append(out, firing{w: w, ev: ev})
			}
			if mode == modeStandard {
				m.removeLocked(isData, path, w)
			}
		}
	}
	switch ev.Type {
	case jute.EventNodeChildrenChanged:
		take(false, ev.Path, false)
	case jute.EventNodeDeleted:
		take(true, ev.Path, false)
		take(false, ev.Path, false)
	default:
		take(true, ev.Path, false)
	}
	if ev.Type != jute.EventNodeChildrenChanged && m.recursive > 0 {
		for p := ev.Path; p != "/"; {
			p, _ = parentOf(p)
			take(true, p, true)
			if ev.Type == jute.EventNodeDeleted {
				take(false, p, true) // ZooKeeper triggers NodeDeleted on both tables
			}
		}
	}
	return out
}

// WatchCounts reports the number of watching connections, watched paths and
// (path, watcher) registrations, for the wchs four-letter word.
func (t *Tree) WatchCounts() (watchers, paths, total int) {
	m := &t.watches
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := make(map[string]struct{}, len(m.data)+len(m.child))
	for p, ws := range m.data {
		seen[p] = struct{}{}
		total += len(ws)
	}
	for p, ws := range m.child {
		seen[p] = struct{}{}
		total += len(ws)
	}
	return len(m.byWatcher), len(seen), total
}

// WatchedPaths returns the paths w watches (data and child tables), for wchc.
func (t *Tree) WatchedPaths(w Watcher) []string {
	m := &t.watches
	m.mu.Lock()
	defer m.mu.Unlock()
	idx := m.byWatcher[w]
	if idx == nil {
		return nil
	}
	out := make([]string, 0, len(idx.data)+len(idx.child))
	for p := range idx.data {
		out = append(out, p)
	}
	for p := range idx.child {
		if _, dup := idx.data[p]; !dup {
			out = append(out, p)
		}
	}
	return out
}
