//go:build !linux

package transport

import "syscall"

// dialControl does nothing where IP_BIND_ADDRESS_NO_PORT does not exist.
func dialControl(string, string, syscall.RawConn) error { return nil }
