package transport

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchPair returns a started sender and the receiver's address; every
// received packet is signalled on got.
func benchNet(b *testing.B, mode Mode) (Transport, string, chan struct{}) {
	a := newNet(b, Config{Mode: mode})
	r := newNet(b, Config{Mode: mode})
	got := make(chan struct{}, 1024)
	require.NoError(b, a.Start(func(Packet) {}))
	require.NoError(b, r.Start(func(Packet) { got <- struct{}{} }))
	return a, r.Addr(), got
}

// roundTrips sends b.N packets of size one at a time, each waiting for the
// previous to arrive: one in flight, so loopback UDP does not drop and the
// figure is send-to-handler latency.
func roundTrips(b *testing.B, a Transport, to string, got chan struct{}, size int) {
	data := make([]byte, size) // read-only, so safe to hand over again
	timeout := time.NewTimer(time.Hour)
	defer timeout.Stop()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := a.Send(to, data); err != nil {
			b.Fatal(err)
		}
		timeout.Reset(waitFor)
		select {
		case <-got:
		case <-timeout.C:
			b.Fatal("packet lost")
		}
	}
}

// pipelined keeps up to window packets in flight: throughput rather than
// latency. Only for reliable paths.
func pipelined(b *testing.B, a Transport, to string, got chan struct{}, size, window int) {
	data := make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	inFlight := 0
	for range b.N {
		if inFlight == window {
			<-got
			inFlight--
		}
		if err := a.Send(to, data); err != nil {
			b.Fatal(err)
		}
		inFlight++
	}
	for ; inFlight > 0; inFlight-- {
		<-got
	}
}

func BenchmarkNetUDP1K(b *testing.B) {
	a, to, got := benchNet(b, UDPPreferred)
	roundTrips(b, a, to, got, 1024)
}

func BenchmarkNetTCP64K(b *testing.B) {
	a, to, got := benchNet(b, TCPOnly)
	roundTrips(b, a, to, got, 64<<10)
}

func BenchmarkNetTCP64KPipelined(b *testing.B) {
	a, to, got := benchNet(b, TCPOnly)
	pipelined(b, a, to, got, 64<<10, 64)
}

func BenchmarkNetTCP1KPipelined(b *testing.B) {
	a, to, got := benchNet(b, TCPOnly)
	pipelined(b, a, to, got, 1024, 128)
}

func benchMem(b *testing.B, opts MemOptions) (Transport, string, chan struct{}) {
	n := NewMemNetwork(opts)
	a := n.Endpoint("a", UDPPreferred)
	r := n.Endpoint("r", UDPPreferred)
	got := make(chan struct{}, 1024)
	require.NoError(b, a.Start(func(Packet) {}))
	require.NoError(b, r.Start(func(Packet) { got <- struct{}{} }))
	b.Cleanup(func() { a.Close(); r.Close() })
	return a, r.Addr(), got
}

func BenchmarkMemDelivery1K(b *testing.B) {
	a, to, got := benchMem(b, MemOptions{})
	roundTrips(b, a, to, got, 1024)
}

func BenchmarkMemDelivery1KPipelined(b *testing.B) {
	a, to, got := benchMem(b, MemOptions{})
	pipelined(b, a, to, got, 1024, 128)
}

func BenchmarkMemDelivery1KSync(b *testing.B) {
	a, to, got := benchMem(b, MemOptions{Sync: true})
	roundTrips(b, a, to, got, 1024)
}
