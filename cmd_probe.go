package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"zkd/jute"
)

// probeMain runs `zkd probe`: one health check of a ZooKeeper server, for
// container health checks and scripts (zkd's image has no shell or nc). Exit
// status 0: healthy; 1: unhealthy (the reason on stderr); 2: bad usage.
func probeMain(args []string) int {
	fs := flag.NewFlagSet("zkd probe", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: zkd probe [-server host:port] [-timeout d] [-mode ruok|srvr|session]

Checks a ZooKeeper (or zkd) server and exits 0 when it is healthy:
  ruok     sends the four-letter word ruok; healthy on "imok" (the server is up;
           ruok must be in 4lw.commands.whitelist)
  srvr     sends srvr, which every server answers; healthy when it serves clients
           (prints its Mode); what the Docker image's HEALTHCHECK uses
  session  opens a real session (ConnectRequest, then closeSession): healthy when
           a client could work now

`)
		fs.PrintDefaults()
	}
	server := fs.String("server", "127.0.0.1:2181", "server address host:port")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	mode := fs.String("mode", "ruok", "check: ruok, srvr or session")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "zkd probe: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var (
		msg string
		err error
	)
	deadline := time.Now().Add(*timeout)
	switch *mode {
	case "ruok":
		msg, err = probeRuok(*server, deadline)
	case "srvr":
		msg, err = probeSrvr(*server, deadline)
	case "session":
		msg, err = probeSession(*server, deadline)
	default:
		fmt.Fprintf(os.Stderr, "zkd probe: -mode %q: want ruok, srvr or session\n", *mode)
		return 2
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "zkd probe: %s: %v\n", *server, err)
		return 1
	}
	fmt.Fprintln(os.Stdout, msg)
	return 0
}

// errUnhealthy is returned by the probes when the server answered, but not as a
// healthy server does.
var errUnhealthy = errors.New("unhealthy")

// fourLetterWord sends word and returns the whole reply (the server closes the
// connection after it).
func fourLetterWord(addr, word string, deadline time.Time) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Until(deadline))
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(deadline); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, word); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(c, 1<<20))
	return string(b), err
}

func probeRuok(addr string, deadline time.Time) (string, error) {
	reply, err := fourLetterWord(addr, "ruok", deadline)
	switch {
	case err != nil:
		return "", err
	case reply == "imok":
		return reply, nil
	case strings.Contains(reply, "not in the whitelist"):
		return "", fmt.Errorf("%w: ruok is not in 4lw.commands.whitelist (add it, or use -mode srvr)", errUnhealthy)
	}
	return "", fmt.Errorf("%w: ruok answered %q", errUnhealthy, reply)
}

func probeSrvr(addr string, deadline time.Time) (string, error) {
	reply, err := fourLetterWord(addr, "srvr", deadline)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(reply, "Zookeeper version: ") {
		return "", fmt.Errorf("%w: srvr answered %q", errUnhealthy, strings.TrimSpace(reply))
	}
	for _, line := range strings.Split(reply, "\n") {
		if mode, ok := strings.CutPrefix(line, "Mode: "); ok {
			return "Mode: " + mode, nil
		}
	}
	return "", fmt.Errorf("%w: srvr reply has no Mode line: %q", errUnhealthy, reply)
}

// probeSession opens a session as a client does and closes it at once.
func probeSession(addr string, deadline time.Time) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Until(deadline))
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(deadline); err != nil {
		return "", err
	}
	// The shortest timeout the server grants: the probe's session must not
	// outlive it for long if the close is lost.
	req := jute.ConnectRequest{TimeOut: 1, Passwd: make([]byte, 16), HasReadOnly: true}
	if err := probeWriteFrame(c, req.Append(nil)); err != nil {
		return "", err
	}
	payload, err := probeReadFrame(c)
	if err != nil {
		return "", fmt.Errorf("%w: no answer to the session request: %v", errUnhealthy, err)
	}
	var resp jute.ConnectResponse
	d := jute.NewDecoder(payload)
	resp.Decode(&d)
	if d.Err() != nil || resp.SessionID == 0 || resp.TimeOut <= 0 {
		return "", fmt.Errorf("%w: session refused (timeout %d, session %v, err %v)",
			errUnhealthy, resp.TimeOut, jute.SessionID(resp.SessionID), d.Err())
	}
	sid := jute.SessionID(resp.SessionID)
	if err := probeWriteFrame(c, (&jute.RequestHeader{Xid: 1, Type: jute.OpCloseSession}).Append(nil)); err != nil {
		return "", fmt.Errorf("session %v opened, closing it: %w", sid, err)
	}
	payload, err = probeReadFrame(c)
	if err != nil {
		return "", fmt.Errorf("session %v opened, no answer to closing it: %w", sid, err)
	}
	var hdr jute.ReplyHeader
	d = jute.NewDecoder(payload)
	hdr.Decode(&d)
	if d.Err() != nil || hdr.Xid != 1 || hdr.Err != jute.CodeOK {
		return "", fmt.Errorf("%w: session %v opened, closing it answered xid %d code %d", errUnhealthy, sid, hdr.Xid, hdr.Err)
	}
	return fmt.Sprintf("session %v opened and closed (timeout %d ms)", sid, resp.TimeOut), nil
}

func probeWriteFrame(w io.Writer, payload []byte) error {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(payload)), uint32(len(payload)))
	_, err := w.Write(append(b, payload...))
	return err
}

func probeReadFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > jute.DefaultMaxBuffer {
		return nil, fmt.Errorf("frame of %d bytes", size)
	}
	b := make([]byte, size)
	_, err := io.ReadFull(r, b)
	return b, err
}
