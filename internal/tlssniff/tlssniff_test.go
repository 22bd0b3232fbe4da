package tlssniff

import (
	"io"
	"net"
	"testing"
)

func TestSniffHandsTheFirstByteBack(t *testing.T) {
	for _, tc := range []struct {
		in    string
		isTLS bool
	}{
		{"\x16\x03\x01\x00\x05hello", true},
		{"\x00\x00\x00\x2cconnect", false},
		{"ruok", false},
		{"GET /commands HTTP/1.1\r\n\r\n", false},
	} {
		client, server := net.Pipe()
		go func() {
			_, _ = client.Write([]byte(tc.in))
			_ = client.Close()
		}()
		isTLS, whole, err := Sniff(server)
		if err != nil || isTLS != tc.isTLS {
			t.Fatalf("%q: TLS %v, %v; want %v", tc.in, isTLS, err, tc.isTLS)
		}
		got, err := io.ReadAll(whole)
		if err != nil || string(got) != tc.in {
			t.Fatalf("%q: read back %q, %v", tc.in, got, err)
		}
	}
	client, server := net.Pipe()
	_ = client.Close()
	if _, _, err := Sniff(server); err == nil {
		t.Fatal("a connection closed before its first byte was sniffed")
	}
}
