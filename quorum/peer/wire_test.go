package peer

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func frame(typ byte, payload []byte) []byte {
	return append(appendHead(nil, typ, len(payload)), payload...)
}

func TestFrameReaderAtEverySplit(t *testing.T) {
	big := bytes.Repeat([]byte{0xab}, 3*minGrow+17) // grows the buffer in steps
	var stream []byte
	want := []struct {
		typ     byte
		payload []byte
	}{{frameRaft, []byte("raft")}, {frameApp, nil}, {frameApp, big}, {frameRaft, []byte{1, 2, 3}}}
	for _, w := range want {
		stream = append(stream, frame(w.typ, w.payload)...)
	}
	check := func(t *testing.T, r io.Reader) {
		t.Helper()
		fr := &frameReader{r: bufio.NewReaderSize(r, 16), max: len(big)}
		for i, w := range want {
			typ, payload, err := fr.next()
			if err != nil || typ != w.typ || !bytes.Equal(payload, w.payload) {
				t.Fatalf("frame %d: type %d, %d bytes, %v", i, typ, len(payload), err)
			}
		}
		if _, _, err := fr.next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last frame: %v", err)
		}
	}
	check(t, iotest.OneByteReader(bytes.NewReader(stream)))
	for _, at := range []int{1, headLen - 1, headLen, headLen + 4, len(stream) / 2, len(stream) - 1} {
		check(t, io.MultiReader(bytes.NewReader(stream[:at]), bytes.NewReader(stream[at:])))
	}
	// Cut inside a frame: unexpected EOF, not a clean end.
	for _, at := range []int{2, headLen + 2, len(stream) - 1} {
		fr := &frameReader{r: bufio.NewReader(bytes.NewReader(stream[:at])), max: len(big)}
		var err error
		for err == nil {
			_, _, err = fr.next()
		}
		if at > 0 && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut at %d: %v", at, err)
		}
	}
}

// A header announcing a huge frame is refused before anything is allocated, and
// one announcing a large frame that never comes allocates only as bytes arrive.
func TestFrameReaderBoundsAllocation(t *testing.T) {
	fr := &frameReader{r: bufio.NewReader(bytes.NewReader(appendHead(nil, frameApp, 1<<30))), max: 16 << 20}
	if _, _, err := fr.next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized frame: %v", err)
	}
	if cap(fr.buf) != 0 {
		t.Fatalf("allocated %d bytes for a refused frame", cap(fr.buf))
	}
	stalled := append(appendHead(nil, frameApp, 16<<20), make([]byte, 1000)...)
	fr = &frameReader{r: bufio.NewReader(bytes.NewReader(stalled)), max: 16 << 20}
	if _, _, err := fr.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated frame: %v", err)
	}
	if cap(fr.buf) > minGrow {
		t.Fatalf("allocated %d bytes for 1000 that arrived", cap(fr.buf))
	}
}

func TestHelloRoundTrip(t *testing.T) {
	h := hello{version: protocolVersion, kind: kindSnapshot, flags: 0, from: 1 << 40, to: 3}
	b := appendHello(nil, h)
	if len(b) != helloLen {
		t.Fatalf("hello of %d bytes", len(b))
	}
	got, err := decodeHello(b)
	if err != nil || got != h {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	if _, err := decodeHello(b[:helloLen-1]); err == nil {
		t.Fatal("short hello decoded")
	}
	if _, err := decodeReply(appendReply(nil, statusOK, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := decodeReply(appendReply(nil, statusWrongReceiver, 0)); !errors.Is(err, ErrRefused) ||
		!strings.Contains(err.Error(), statusText(statusWrongReceiver)) {
		t.Fatalf("refusal: %v", err)
	}
}

// FuzzFrameReader: any input decodes without panic, into frames that encode
// back to the bytes consumed, allocating no more than twice what arrived.
func FuzzFrameReader(f *testing.F) {
	f.Add(frame(frameRaft, []byte("x")))
	f.Add(append(frame(frameApp, []byte("hello")), frame(frameRaft, nil)...))
	f.Add(appendHead(nil, frameApp, 1<<31))
	f.Add(append(appendHead(nil, frameSnapChunk, 70000), make([]byte, 100)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 1 << 20
		fr := &frameReader{r: bufio.NewReaderSize(bytes.NewReader(in), 16), max: limit}
		var again []byte
		for {
			typ, payload, err := fr.next()
			if err != nil {
				if errors.Is(err, io.EOF) && !bytes.Equal(again, in) {
					t.Fatalf("clean end after re-encoding %d of %d bytes", len(again), len(in))
				}
				break
			}
			if len(payload) > limit {
				t.Fatalf("frame of %d bytes over the limit", len(payload))
			}
			again = append(again, frame(typ, payload)...)
			if !bytes.HasPrefix(in, again) {
				t.Fatal("a frame does not re-encode to its bytes")
			}
		}
		if c := cap(fr.buf); c > max(2*len(in), minGrow) {
			t.Fatalf("buffer of %d bytes for %d bytes of input", c, len(in))
		}
	})
}

// FuzzHandshake feeds the accepting side of a connection arbitrary bytes: a
// hello, then frames. Nothing panics; whatever a known peer sends on a valid
// stream reaches the handler or closes the connection.
func FuzzHandshake(f *testing.F) {
	valid := appendHello(nil, hello{version: protocolVersion, kind: kindStream, from: 2, to: 1})
	f.Add(valid)
	f.Add(append(append([]byte(nil), valid...), frame(frameApp, []byte("app"))...))
	raftFrame, err := (&Transport{cfg: Config{MaxFrameSize: 1 << 20}}).encodeRaft(msgApp(2, 1, 9, 3))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append(append([]byte(nil), valid...), raftFrame...))
	f.Add(appendHello(nil, hello{version: protocolVersion, kind: kindSnapshot, from: 2, to: 1}))
	f.Add(append(appendHello(nil, hello{version: protocolVersion, kind: kindSnapshot, from: 2, to: 1}),
		frame(frameSnapHeader, make([]byte, 12))...))
	f.Add([]byte("zkdp"))

	rec := newRecorder()
	rec.receive = func(_ uint64, r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }
	cfg := testConfig(1, rec)
	cfg.Peers = map[uint64]string{2: "127.0.0.1:1"}
	cfg.BackoffMin, cfg.BackoffMax = time.Hour, time.Hour
	cfg.MaxFrameSize, cfg.SnapshotChunkSize = 1<<20, 1<<16
	cfg.HandshakeTimeout, cfg.SnapshotIdleTimeout = time.Second, time.Second
	tr, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(tr.Stop)
	f.Fuzz(func(t *testing.T, in []byte) {
		server, client := net.Pipe()
		tr.wg.Add(1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			tr.serveConn(server)
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		_, _ = client.Write(in)
		_ = client.Close()
		<-done
	})
}

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zkd peer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func TestTLSStreams(t *testing.T) {
	cert, pool := selfSigned(t)
	ms := startMembers(t, 2, func(_ uint64, cfg *Config) {
		cfg.ServerTLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}
		cfg.ClientTLS = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13}
	})
	if !ms[0].SendApp(2, []byte("over tls")) {
		t.Fatal("SendApp refused")
	}
	checkFor(t, "delivered", func() bool { return ms[1].rec.count(1) == 1 })

	// A plaintext peer is not let in.
	if _, st := rawHello(t, ms[0].Addr(), hello{version: protocolVersion, kind: kindStream, from: 2, to: 1}); st == int(statusOK) {
		t.Fatalf("plaintext hello answered with status %d", st)
	}
}

// A unified quorum port takes a peer that dials over TLS and one that dials in
// the clear: member 1 accepts both and dials in the clear; member 2 accepts
// only the clear and dials over TLS, as during a rolling change to sslQuorum.
func TestUnifiedPortTakesTLSAndPlainPeers(t *testing.T) {
	cert, pool := selfSigned(t)
	ms := startMembers(t, 2, func(id uint64, cfg *Config) {
		if id == 1 {
			cfg.ServerTLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
				ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}
			cfg.Unified = true
			return
		}
		cfg.ClientTLS = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13}
	})
	if !ms[0].SendApp(2, []byte("in the clear")) || !ms[1].SendApp(1, []byte("over tls")) {
		t.Fatal("SendApp refused")
	}
	checkFor(t, "delivered both ways", func() bool { return ms[1].rec.count(1) == 1 && ms[0].rec.count(2) == 1 })
	if _, st := rawHello(t, ms[0].Addr(), hello{version: protocolVersion, kind: kindStream, from: 2, to: 1}); st != int(statusOK) {
		t.Fatalf("a plaintext hello to the unified port answered with status %d", st)
	}
}
