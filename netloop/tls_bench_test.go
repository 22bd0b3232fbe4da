package netloop_test

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zkd/jute"
	"zkd/netloop"
	"zkd/session"
)

// The TLS port against the plain port of the same server: connection set-up
// (TCP, TLS handshake with an ECDSA P-256 certificate and a client certificate,
// ConnectRequest, close) and pipelined getData/setData throughput. Run with
//
//	go test -run '^$' -bench 'BenchmarkPort' -benchtime 3s ./netloop/
//
// ns/op is per connection or per request, over all clients together.

func benchServer(b *testing.B) (*testServer, *pki, tls.Certificate) {
	b.Helper()
	p := newPKI(b, 11)
	s := newTLSServer(b, p, tls.RequireAndVerifyClientCert, func(c *session.Config, n *netloop.Config) {
		c.MaxClientCnxns = 0
		c.MaxSessionTimeout = time.Hour
	})
	return s, p, p.leaf(pkix.Name{CommonName: "bench"}, time.Now().Add(24*time.Hour))
}

// benchDial opens a raw connection to the chosen port, TLS-wrapped for "tls".
func benchDial(s *testServer, p *pki, cert tls.Certificate, transport string) (net.Conn, error) {
	if transport == "plain" {
		return net.DialTimeout("tcp", s.addr, waitLimit)
	}
	d := &net.Dialer{Timeout: waitLimit}
	return tls.DialWithDialer(d, "tcp", s.tlsAddr, &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1",
		Certificates: []tls.Certificate{cert}})
}

func BenchmarkPortConnect(b *testing.B) {
	s, p, cert := benchServer(b)
	for _, transport := range []string{"plain", "tls"} {
		b.Run("transport="+transport, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c, err := benchDial(s, p, cert, transport)
					if err != nil {
						b.Error(err)
						return
					}
					_ = c.SetDeadline(time.Now().Add(waitLimit))
					if _, err := c.Write(connectFrame()); err != nil {
						b.Error(err)
						c.Close()
						return
					}
					if _, err := readFrameErr(c); err != nil {
						b.Error(err)
						c.Close()
						return
					}
					// closeSession, so sessions do not pile up on the server
					_, _ = c.Write(requestFrame(1, jute.OpCloseSession, nil))
					_, _ = readFrameErr(c)
					c.Close()
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
		})
	}
}

// benchLoad runs b.N requests of op over clients sessions with window requests
// in flight each.
func benchLoad(b *testing.B, s *testServer, p *pki, cert tls.Certificate, transport string, op jute.OpCode, clients, window int) {
	b.Helper()
	payload := make([]byte, 100)
	var frame func(xid int32) []byte
	switch op {
	case jute.OpGetData:
		frame = func(xid int32) []byte {
			return requestFrame(xid, op, &jute.PathWatchRequest{Path: "/bench"})
		}
	case jute.OpSetData:
		frame = func(xid int32) []byte {
			return requestFrame(xid, op, &jute.SetDataRequest{Path: "/bench", Data: payload, Version: -1})
		}
	}
	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := benchDial(s, p, cert, transport)
		if err != nil {
			b.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(time.Hour))
		if _, err := c.Write(connectFrame()); err != nil {
			b.Fatal(err)
		}
		if _, err := readFrameErr(c); err != nil {
			b.Fatal(err)
		}
		conns[i] = c
		defer c.Close()
	}
	if i := 0; true {
		_, _ = conns[i].Write(requestFrame(1, jute.OpCreate, &jute.CreateRequest{Path: "/bench", Data: payload, ACL: jute.OpenACLUnsafe}))
		_, _ = readFrameErr(conns[i])
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.SetBytes(100)
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent, got := 0, 0
			var batch []byte
			xid := int32(1)
			inflight := 0
			for {
				batch = batch[:0]
				for inflight < window && next.Add(1) <= int64(b.N) {
					xid++
					batch = append(batch, frame(xid)...)
					inflight++
					sent++
				}
				if len(batch) > 0 {
					if _, err := c.Write(batch); err != nil {
						b.Error(err)
						return
					}
				}
				if inflight == 0 {
					return
				}
				r, err := readFrameErr(c)
				if err != nil {
					b.Error(err)
					return
				}
				if len(r) < 16 {
					b.Errorf("short reply % x", r)
					return
				}
				inflight--
				got++
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkPortThroughput(b *testing.B) {
	s, p, cert := benchServer(b)
	for _, op := range []jute.OpCode{jute.OpGetData, jute.OpSetData} {
		for _, transport := range []string{"plain", "tls"} {
			name := map[jute.OpCode]string{jute.OpGetData: "getData", jute.OpSetData: "setData"}[op]
			b.Run(fmt.Sprintf("op=%s/transport=%s/clients=16/window=32", name, transport), func(b *testing.B) {
				benchLoad(b, s, p, cert, transport, op, 16, 32)
			})
		}
	}
}

// BenchmarkPortTLSHandshake is the TLS handshake alone (TLS 1.3, ECDSA P-256,
// client certificate verified), then a close: the ceiling of new TLS
// connections per second, client and server on the same machine.
func BenchmarkPortTLSHandshake(b *testing.B) {
	s, p, cert := benchServer(b)
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := benchDial(s, p, cert, "tls")
			if err != nil {
				b.Error(err)
				return
			}
			c.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
}

// readFrameErr reads one length-prefixed frame from c.
func readFrameErr(c net.Conn) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(hdr[:]))
	if n < 0 || n > jute.DefaultMaxBuffer {
		return nil, errors.New("bad frame length")
	}
	p := make([]byte, n)
	_, err := io.ReadFull(c, p)
	return p, err
}
