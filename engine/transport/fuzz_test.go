package transport

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"
)

// FuzzReadFrames feeds arbitrary bytes to the TCP frame reader of an inbound
// connection: it never panics, never hands over more bytes than arrived,
// and every frame it hands over had a valid length prefix for exactly its
// bytes, in order.
func FuzzReadFrames(f *testing.F) {
	frame := func(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
	f.Add(frame([]byte("hello")))
	f.Add(append(frame([]byte{1, 2, 3}), frame(bytes.Repeat([]byte{9}, 300))...))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte{0, 0, 1})

	n, err := NewNet(Config{BindAddr: "127.0.0.1:0", MaxFrame: 1 << 16, IdleTimeout: 100 * time.Millisecond, FrameTimeout: 100 * time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	var mu sync.Mutex
	var got [][]byte
	if err := n.Start(func(p Packet) {
		mu.Lock()
		got = append(got, p.Data)
		mu.Unlock()
	}); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = n.Close() })

	f.Fuzz(func(t *testing.T, data []byte) {
		mu.Lock()
		got = nil
		mu.Unlock()
		server, client := net.Pipe()
		go func() {
			if len(data) > 0 {
				_, _ = client.Write(data)
			}
			_ = client.Close()
		}()
		n.readFrames(server) // returns once the client closed or a frame was bad
		mu.Lock()
		defer mu.Unlock()
		rest := data
		for _, fr := range got {
			if len(rest) < FrameHeader {
				t.Fatalf("frame handed over without a header")
			}
			size := binary.BigEndian.Uint32(rest)
			if int(size) != len(fr) || !bytes.Equal(rest[FrameHeader:FrameHeader+len(fr)], fr) {
				t.Fatalf("frame does not match its prefix")
			}
			rest = rest[FrameHeader+len(fr):]
		}
	})
}
