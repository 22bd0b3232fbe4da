package compat

// The line protocol of the Curator and kazoo programs: every check prints one line,
//
//	ok NAME
//	FAIL NAME: DETAIL
//
// preceded, for a failure, by any number of "# " lines with context (a stack trace).
// "@WORD" lines ask the test to do something (kazoo's proxy cut) and wait for a reply
// line on stdin; "# done" is the last line of a run that reached its end.

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// runCheckLines turns p's check lines into subtests until p exits or limit passes.
// control answers "@" lines; nil means the program sends none.
func (s *suite) runCheckLines(p *proc, limit time.Duration, control func(word string) error) {
	t := s.t
	t.Helper()
	var context, other []string // "# " lines since the last check; other output
	finished := false
	timer := time.NewTimer(limit)
	defer timer.Stop()
	timedOut := false
read:
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				break read
			}
			switch {
			case strings.HasPrefix(line, "ok "):
				s.check(strings.TrimSpace(line[3:]), func(*testing.T) {})
				context = context[:0]
			case strings.HasPrefix(line, "FAIL "):
				name, detail, _ := strings.Cut(line[len("FAIL "):], ": ")
				ctx := strings.Join(context, "\n")
				s.check(strings.TrimSpace(name), func(t *testing.T) {
					if ctx != "" {
						t.Errorf("%s\n%s", detail, ctx)
					} else {
						t.Error(detail)
					}
				})
				context = context[:0]
			case line == "# done":
				finished = true
			case strings.HasPrefix(line, "# "):
				context = append(context, line)
				if len(context) > 80 {
					context = context[len(context)-80:]
				}
			case strings.HasPrefix(line, "@") && control != nil:
				if err := control(strings.TrimSpace(line[1:])); err != nil {
					t.Errorf("%s: control %q: %v", p.name, line, err)
				}
			default:
				other = append(other, line)
				if len(other) > 200 {
					other = other[len(other)-200:]
				}
			}
		case <-timer.C:
			if timedOut {
				break read // killed and still not closed: give up on the output
			}
			timedOut = true
			killGroup(p.cmd.Process.Pid, syscall.SIGKILL)
			timer.Reset(stopTimeout)
		}
	}
	err := p.wait(stopTimeout)
	s.check("finished", func(t *testing.T) {
		if timedOut {
			t.Errorf("%s did not finish within %v and was killed", p.name, limit)
		}
		if !finished || err != nil {
			t.Errorf("%s stopped before its end (exit: %v); last output:\n%s\n%s",
				p.name, err, strings.Join(context, "\n"), tail(strings.Join(other, "\n"), 60))
		}
	})
}
