package peer

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// An ask is one question and its answer on a connection of its own, open to
// any server, member or not: a server that is not (yet) a member uses it to make
// itself known and to learn who the members are, before any of them would accept
// a stream from it.
//
//	dialer                                  acceptor
//	  hello: kind 3, from (any), to (any) -->  no sender or receiver check
//	  <------------------------------------- reply: ok, or bad kind (no Asker)
//	  frame 7: question --------------------->  Asker.HandleAsk
//	  <------------------------------------- frame 7: answer; both close
const (
	kindAsk  byte = 3
	frameAsk byte = 8
)

// MaxAskSize bounds a question and an answer.
const MaxAskSize = 1 << 20

// Asker is implemented by a Handler that answers asks. HandleAsk gets the
// dialer's claimed id and question (valid until it returns) and returns the
// answer; it runs on the connection's goroutine and must not block for long.
type Asker interface {
	HandleAsk(from uint64, question []byte) []byte
}

// AskConfig is how to dial an ask without a Transport (a server deciding how to
// start, before its own quorum port is bound).
type AskConfig struct {
	From uint64      // the id the question claims to come from
	TLS  *tls.Config // nil: plain TCP, unless TLSFor is set
	// TLSFor, when set, gives the TLS config for the dialled host and
	// connection in place of TLS (Config.ClientTLSConfig: certificates
	// reloaded between dials, ZooKeeper's host-name rules). An ensemble with
	// sslQuorum answers asks only over TLS.
	TLSFor  func(host string, conn net.Conn) *tls.Config
	Timeout time.Duration // bounds the whole exchange (0: 5s)
}

// Ask sends question to the quorum port at addr and returns the answer. A
// member with several addresses (Alternatives) is asked at each in turn until
// one answers.
func Ask(ctx context.Context, cfg AskConfig, addr string, question []byte) ([]byte, error) {
	var errs []error
	for _, alt := range Alternatives(addr) {
		answer, err := askAt(ctx, cfg, alt, question)
		if err == nil || ctx.Err() != nil {
			return answer, err
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// askAt is Ask at one address.
func askAt(ctx context.Context, cfg AskConfig, addr string, question []byte) ([]byte, error) {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	raw := c // c becomes the TLS connection below; the hook closes the TCP one
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
	if cfg.TLS != nil || cfg.TLSFor != nil {
		host, _, _ := net.SplitHostPort(addr)
		tc := cfg.TLS
		if cfg.TLSFor != nil {
			tc = cfg.TLSFor(host, c)
		} else if tc.ServerName == "" {
			tc = tc.Clone()
			tc.ServerName = host
		}
		tlsc := tls.Client(c, tc)
		if err := tlsc.Handshake(); err != nil {
			return nil, fmt.Errorf("peer: TLS handshake with %s: %w", addr, err)
		}
		c = tlsc
	}
	return askOn(c, cfg.From, addr, question)
}

// Ask sends question to the quorum port at addr with this transport's id and
// TLS settings.
func (t *Transport) Ask(ctx context.Context, addr string, question []byte) ([]byte, error) {
	return Ask(ctx, AskConfig{From: t.cfg.ID, TLS: t.cfg.ClientTLS, TLSFor: t.cfg.ClientTLSConfig,
		Timeout: t.cfg.HandshakeTimeout}, addr, question)
}

func askOn(c net.Conn, from uint64, addr string, question []byte) ([]byte, error) {
	if len(question) > MaxAskSize {
		return nil, fmt.Errorf("%w: question of %d bytes", ErrFrameTooLarge, len(question))
	}
	b := appendHello(make([]byte, 0, helloLen+headLen+len(question)), hello{version: protocolVersion, kind: kindAsk, from: from})
	b = appendHead(b, frameAsk, len(question))
	b = append(b, question...)
	if _, err := c.Write(b); err != nil {
		return nil, fmt.Errorf("peer: ask %s: %w", addr, err)
	}
	br := bufio.NewReader(c)
	var rb [replyLen]byte
	if _, err := io.ReadFull(br, rb[:]); err != nil {
		return nil, fmt.Errorf("peer: ask %s: %w", addr, err)
	}
	if _, err := decodeReply(rb[:]); err != nil {
		return nil, fmt.Errorf("peer: ask %s: %w", addr, err)
	}
	fr := &frameReader{r: br, max: MaxAskSize}
	typ, answer, err := fr.next()
	if err != nil {
		return nil, fmt.Errorf("peer: ask %s: %w", addr, err)
	}
	if typ != frameAsk {
		return nil, fmt.Errorf("%w: frame type %d answering an ask", ErrProtocol, typ)
	}
	return answer, nil
}

// serveAsk answers an ask on an accepted connection whose hello was read.
func (t *Transport) serveAsk(c net.Conn, from uint64) {
	asker, _ := t.cfg.Handler.(Asker)
	status := statusOK
	if asker == nil {
		status = statusBadKind
	}
	_ = c.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	var rb [replyLen]byte
	if _, err := c.Write(appendReply(rb[:0], status, 0)); err != nil || asker == nil {
		return
	}
	fr := &frameReader{r: bufio.NewReader(c), max: MaxAskSize}
	typ, question, err := fr.next()
	if err != nil || typ != frameAsk {
		t.log.Debug("quorum port: bad ask", "remote", c.RemoteAddr().String(), "type", typ, "err", err)
		return
	}
	answer := asker.HandleAsk(from, question)
	if len(answer) > MaxAskSize {
		answer = nil
	}
	b := appendHead(make([]byte, 0, headLen+len(answer)), frameAsk, len(answer))
	_, _ = c.Write(append(b, answer...))
}
