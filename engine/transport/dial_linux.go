package transport

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// dialControl sets IP_BIND_ADDRESS_NO_PORT on an outbound socket bound to
// our IP (Dialer.LocalAddr): the kernel then picks the source port at
// connect, by the whole 4-tuple, instead of at bind, where it must find a
// port free for every destination. A concurrent join of 256 peers opens
// thousands of short streams, and with tens of thousands of loopback ports
// in TIME_WAIT the bind-time search cost 12 % of the process's CPU (and
// fails outright once the range is exhausted). Best effort: an error
// leaves the ordinary bind.
func dialControl(network, _ string, c syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" && network != "tcp" {
		return nil
	}
	return c.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
}
