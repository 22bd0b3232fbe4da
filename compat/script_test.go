package compat

// A driver for interactive command-line clients (zkCli, cli_mt) that runs a script
// from testdata, one command at a time, and checks each command's output.
//
// Script syntax, one directive per line:
//
//	# comment
//	session NAME           later commands go to client NAME (started on first use)
//	> COMMAND              run COMMAND: one check, named after the command
//	retry                  repeat the command until its expectations hold (bounded)
//	send COMMAND           write COMMAND and go on, without a check
//	quit                   end the session: a check that the client exits
//	= LINE                 the output has exactly this line ("\t" stands for a tab)
//	~ REGEXP               some output line matches REGEXP
//	! REGEXP               no output line matches REGEXP
//	children NAME...       the tab-indented output lines are exactly these, in any order
//	event [@S] TYPE PATH   a watch event TYPE on PATH arrives (for session S, by default
//	                       the command's), now or later; each event satisfies one line
//	rawevent TEXT          like event, with the event text as the client prints it
//
// ${SERVER} stands for the server's host:port. After each command the driver sends a
// marker command whose answer the client prints only once the command's own output
// is out, so each command's output is known exactly. Watch events, which clients
// print from another thread at any point, are taken out of the output and matched by
// the event lines instead.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	cmdTimeout   = 30 * time.Second // one command and its marker
	eventTimeout = 20 * time.Second // a watch event after the command that fires it
	retryTimeout = 40 * time.Second // a retried command (container and TTL reaping)
	retryPause   = 200 * time.Millisecond
)

type expectation struct {
	kind    string // "=", "~", "!", "children", "event"
	text    string // "=": the line; "event": the event text
	re      *regexp.Regexp
	names   []string
	session string // "event": whose events
	line    int
}

type step struct {
	kind    string // "cmd", "send", "quit"
	session string
	cmd     string // with ${VARS} replaced
	name    string // as written, so that a check has one name on every server
	retry   bool
	expects []expectation
	line    int
}

// dialect is what differs between clients.
type dialect struct {
	client string
	// start starts a client session against addr, stopped in t's Cleanup.
	start func(t *testing.T, addr, session string) (*proc, error)
	// marker returns the command sent after command n and a test for the line
	// that answers it; before is the part of that line printed ahead of it.
	marker func(n int) (cmd string, match func(line string) (before string, ok bool))
	// split separates a watch event from an output line.
	split func(line string) (out, event string, isEvent bool)
	// event formats "event TYPE PATH" as the client prints it.
	event func(typ, path string) string
	// ready is the event that says a new session is connected.
	ready string
	quit  string
}

func parseScript(t *testing.T, d *dialect, path string, vars map[string]string) []step {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []step
	session := "default"
	sc := bufio.NewScanner(f)
	n := 0
	last := func(directive string) *step {
		if len(steps) == 0 || steps[len(steps)-1].kind != "cmd" {
			t.Fatalf("%s:%d: %s must follow a '>' command", path, n, directive)
		}
		return &steps[len(steps)-1]
	}
	for sc.Scan() {
		n++
		_, name, _ := strings.Cut(sc.Text(), " ")
		raw := sc.Text()
		for k, v := range vars {
			raw = strings.ReplaceAll(raw, "${"+k+"}", v)
		}
		word, rest, _ := strings.Cut(raw, " ")
		switch word {
		case "", "#":
			continue
		case "session":
			session = strings.TrimSpace(rest)
		case ">":
			steps = append(steps, step{kind: "cmd", session: session, cmd: rest, name: name, line: n})
		case "send":
			steps = append(steps, step{kind: "send", session: session, cmd: rest, line: n})
		case "quit":
			steps = append(steps, step{kind: "quit", session: session, line: n})
		case "retry":
			last(word).retry = true
		case "=":
			s := last(word)
			s.expects = append(s.expects, expectation{kind: "=", text: strings.ReplaceAll(rest, `\t`, "\t"), line: n})
		case "~", "!":
			re, err := regexp.Compile(rest)
			if err != nil {
				t.Fatalf("%s:%d: %v", path, n, err)
			}
			s := last(word)
			s.expects = append(s.expects, expectation{kind: word, re: re, line: n})
		case "children":
			s := last(word)
			names := strings.Fields(rest)
			slices.Sort(names)
			s.expects = append(s.expects, expectation{kind: "children", names: names, line: n})
		case "event", "rawevent":
			s := last(word)
			sess := s.session
			if strings.HasPrefix(rest, "@") {
				sess, rest, _ = strings.Cut(rest[1:], " ")
			}
			text := rest
			if word == "event" {
				typ, p, ok := strings.Cut(rest, " ")
				if !ok {
					t.Fatalf("%s:%d: want event TYPE PATH", path, n)
				}
				text = d.event(typ, p)
			}
			s.expects = append(s.expects, expectation{kind: "event", text: text, session: sess, line: n})
		default:
			t.Fatalf("%s:%d: unknown directive %q", path, n, word)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return steps
}

// eventLog collects a session's watch events; wait consumes them one by one.
type eventLog struct {
	mu     sync.Mutex
	events []string
	used   []bool
	added  chan struct{} // closed and replaced on every add
}

func newEventLog() *eventLog { return &eventLog{added: make(chan struct{})} }

func (l *eventLog) add(ev string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
	l.used = append(l.used, false)
	close(l.added)
	l.added = make(chan struct{})
}

// wait consumes the first unconsumed event equal to text, waiting at most d.
func (l *eventLog) wait(text string, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for i, ev := range l.events {
			if !l.used[i] && ev == text {
				l.used[i] = true
				l.mu.Unlock()
				return true
			}
		}
		added := l.added
		l.mu.Unlock()
		select {
		case <-added:
		case <-deadline.C:
			return false
		}
	}
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for i, ev := range l.events {
		mark := " "
		if l.used[i] {
			mark = "x"
		}
		fmt.Fprintf(&b, "  [%s] %s\n", mark, ev)
	}
	return b.String()
}

// cliSession is one running client.
type cliSession struct {
	d      *dialect
	p      *proc
	out    chan string // output lines without events
	events *eventLog
	n      int   // markers sent
	broken error // set once the session can no longer be trusted
}

// startSession starts a client; owner's Cleanup stops it.
func startSession(owner *testing.T, d *dialect, addr, name string) (*cliSession, error) {
	p, err := d.start(owner, addr, name)
	if err != nil {
		return nil, err
	}
	c := &cliSession{d: d, p: p, out: make(chan string, 4096), events: newEventLog()}
	go func() {
		for line := range c.p.lines {
			out, ev, isEv := d.split(line)
			if isEv {
				c.events.add(ev)
			}
			if strings.TrimSpace(out) != "" {
				c.out <- out
			}
		}
		close(c.out)
	}()
	if !c.events.wait(d.ready, cmdTimeout) {
		c.broken = fmt.Errorf("%s session %s: not connected within %v (events:\n%s)", d.client, name, cmdTimeout, c.events)
	}
	return c, nil
}

// run sends cmd and its marker and returns the output in between.
func (c *cliSession) run(cmd string) ([]string, error) {
	if c.broken != nil {
		return nil, c.broken
	}
	c.n++
	mcmd, match := c.d.marker(c.n)
	if err := c.p.send(cmd); err != nil {
		c.broken = fmt.Errorf("write to %s: %v", c.d.client, err)
		return nil, c.broken
	}
	if err := c.p.send(mcmd); err != nil {
		c.broken = fmt.Errorf("write to %s: %v", c.d.client, err)
		return nil, c.broken
	}
	var out []string
	timer := time.NewTimer(cmdTimeout)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-c.out:
			if !ok {
				c.broken = fmt.Errorf("%s exited (%v); output of %q so far:\n%s", c.d.client, c.p.wait(stopTimeout), cmd, strings.Join(out, "\n"))
				return out, c.broken
			}
			if before, ok := match(line); ok {
				if strings.TrimSpace(before) != "" {
					out = append(out, before)
				}
				return out, nil
			}
			out = append(out, line)
		case <-timer.C:
			c.broken = fmt.Errorf("%s: no answer to %q within %v; output so far:\n%s", c.d.client, cmd, cmdTimeout, strings.Join(out, "\n"))
			return out, c.broken
		}
	}
}

// unmet returns the output expectations that out does not meet.
func unmet(exps []expectation, out []string) []string {
	var bad []string
	for _, e := range exps {
		switch e.kind {
		case "=":
			if !slices.Contains(out, e.text) {
				bad = append(bad, fmt.Sprintf("line %d: no output line %q", e.line, e.text))
			}
		case "~":
			if !slices.ContainsFunc(out, e.re.MatchString) {
				bad = append(bad, fmt.Sprintf("line %d: no output line matches /%s/", e.line, e.re))
			}
		case "!":
			if i := slices.IndexFunc(out, e.re.MatchString); i >= 0 {
				bad = append(bad, fmt.Sprintf("line %d: output line %q matches /%s/", e.line, out[i], e.re))
			}
		case "children":
			var got []string
			for _, l := range out {
				if strings.HasPrefix(l, "\t") {
					got = append(got, l[1:])
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, e.names) {
				bad = append(bad, fmt.Sprintf("line %d: children %q, want %q", e.line, got, e.names))
			}
		}
	}
	return bad
}

// runScript runs the script's steps against addr, each command as one check.
func (s *suite) runScript(d *dialect, steps []step) {
	sessions := map[string]*cliSession{}
	// get returns a session, starting it on first use; sessions belong to s.t, not
	// to the check that happens to start them.
	get := func(t *testing.T, name string) *cliSession {
		t.Helper()
		c := sessions[name]
		if c == nil {
			var err error
			if c, err = startSession(s.t, d, s.server.addr, name); err != nil {
				t.Fatal(err)
			}
			sessions[name] = c
		}
		return c
	}
	prefix := func(st step) string {
		if st.session == "default" {
			return ""
		}
		return st.session + ": "
	}
	for _, st := range steps {
		switch st.kind {
		case "send":
			if c := sessions[st.session]; c != nil && c.broken == nil {
				if err := c.p.send(st.cmd); err != nil {
					c.broken = err
				}
			}
		case "quit":
			s.check(prefix(st)+"quit", func(t *testing.T) {
				c := get(t, st.session)
				delete(sessions, st.session)
				if c.broken != nil {
					t.Fatal(c.broken)
				}
				if err := c.p.send(d.quit); err != nil {
					t.Fatal(err)
				}
				select {
				case <-c.p.done:
				case <-time.After(cmdTimeout):
					t.Fatalf("%s did not exit within %v of %q", d.client, cmdTimeout, d.quit)
				}
			})
		case "cmd":
			s.check(prefix(st)+st.name, func(t *testing.T) {
				c := get(t, st.session)
				deadline := time.Now().Add(retryTimeout)
				for {
					out, err := c.run(st.cmd)
					if err != nil {
						t.Fatalf("script line %d: %v", st.line, err)
					}
					bad := unmet(st.expects, out)
					if len(bad) == 0 {
						break
					}
					if !st.retry || time.Now().After(deadline) {
						what := ""
						if st.retry {
							what = fmt.Sprintf(" (retried for %v)", retryTimeout)
						}
						t.Fatalf("script line %d: %q%s:\n  %s\noutput:\n%s", st.line, st.cmd, what,
							strings.Join(bad, "\n  "), strings.Join(out, "\n"))
					}
					time.Sleep(retryPause)
				}
				for _, e := range st.expects {
					if e.kind != "event" {
						continue
					}
					ec := get(t, e.session)
					if !ec.events.wait(e.text, eventTimeout) {
						t.Errorf("script line %d: no event %q for session %s within %v; events seen:\n%s",
							e.line, e.text, e.session, eventTimeout, ec.events)
					}
				}
			})
		}
	}
	for name, c := range sessions { // end what the script left running
		if c.broken == nil && c.p.send(d.quit) == nil {
			if err := c.p.wait(cmdTimeout); err != nil && !isExit(err) {
				s.t.Logf("%s session %s: %v", d.client, name, err)
			}
		}
	}
}

// isExit reports whether err is only a non-zero exit status.
func isExit(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}
