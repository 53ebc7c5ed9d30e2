package wire

import "capnproto.org/go/capnp/v3/packed"

func packBytes(raw []byte) []byte { return packed.Pack(nil, raw) }
