package transport

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults of Config that are not shared with the in-memory transport.
const (
	DefaultBindAddr     = "127.0.0.1:0"
	DefaultDialTimeout  = 2 * time.Second
	DefaultWriteTimeout = 5 * time.Second
	DefaultIdleTimeout  = 60 * time.Second
	DefaultQueueLen     = 256

	// DefaultMaxInboundConns, DefaultFrameTimeout: see Config. The default
	// of MaxBufferedBytes is twice MaxFrame.
	DefaultMaxInboundConns = 512
	DefaultFrameTimeout    = 5 * time.Second

	// MaxDatagram is the largest UDP payload IPv4 can carry (65535 minus the
	// IP and UDP headers); an MTU above it could never be sent.
	MaxDatagram = 65507
)

// withDefaults fills zero fields and rejects values no transport can honour.
func (c Config) withDefaults() (Config, error) {
	if c.BindAddr == "" {
		c.BindAddr = DefaultBindAddr
	}
	switch c.Mode {
	case UDPPreferred, TCPOnly:
	default:
		return c, fmt.Errorf("transport: unknown mode %d", int(c.Mode))
	}
	var err error
	c.MTU, err = positive("MTU", c.MTU, DefaultMTU)
	if err != nil {
		return c, err
	}
	if c.MTU > MaxDatagram {
		return c, fmt.Errorf("transport: MTU %d above the largest UDP payload %d", c.MTU, MaxDatagram)
	}
	if c.MaxFrame, err = positive("MaxFrame", c.MaxFrame, DefaultMaxFrame); err != nil {
		return c, err
	}
	if uint64(c.MaxFrame) > 1<<32-1 {
		return c, fmt.Errorf("transport: MaxFrame %d does not fit the 32-bit length prefix", c.MaxFrame)
	}
	if c.QueueLen, err = positive("QueueLen", c.QueueLen, DefaultQueueLen); err != nil {
		return c, err
	}
	if c.MaxInboundConns, err = positive("MaxInboundConns", c.MaxInboundConns, DefaultMaxInboundConns); err != nil {
		return c, err
	}
	switch {
	case c.MaxBufferedBytes < 0:
		return c, fmt.Errorf("transport: negative MaxBufferedBytes %d", c.MaxBufferedBytes)
	case c.MaxBufferedBytes == 0:
		c.MaxBufferedBytes = 2 * int64(c.MaxFrame)
	case c.MaxBufferedBytes < int64(c.MaxFrame):
		// A maximal frame could never be read.
		return c, fmt.Errorf("transport: MaxBufferedBytes %d below MaxFrame %d", c.MaxBufferedBytes, c.MaxFrame)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"DialTimeout", &c.DialTimeout, DefaultDialTimeout},
		{"WriteTimeout", &c.WriteTimeout, DefaultWriteTimeout},
		{"IdleTimeout", &c.IdleTimeout, DefaultIdleTimeout},
		{"FrameTimeout", &c.FrameTimeout, DefaultFrameTimeout},
	} {
		switch {
		case *d.v < 0:
			return c, fmt.Errorf("transport: negative %s %v", d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func positive(name string, v, def int) (int, error) {
	switch {
	case v < 0:
		return v, fmt.Errorf("transport: negative %s %d", name, v)
	case v == 0:
		return def, nil
	}
	return v, nil
}
