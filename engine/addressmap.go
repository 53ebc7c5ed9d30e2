package engine

import (
	"fmt"
	"maps"
	"net"
	"slices"
)

// Manual address translation (Config.AddressMap): the reference library's
// addressMap option. Peers learn each other's addresses from gossip, as
// each advertises itself; when an advertised address is not the one this
// peer can reach (NAT, port forwarding, a container's inner address), the
// map names the address to use instead. Only sending is translated: names,
// digests and the addresses reported to users stay as advertised, so every
// peer of the cluster agrees on them.

// validateAddressMap checks that every key and value is a host:port, and
// takes a copy of the map so that the caller changing its map later does
// not change a running peer.
func (c *Config) validateAddressMap() []error {
	if len(c.AddressMap) == 0 {
		c.AddressMap = nil
		return nil
	}
	var errs []error
	for _, from := range slices.Sorted(maps.Keys(c.AddressMap)) {
		to := c.AddressMap[from]
		if _, _, err := net.SplitHostPort(from); err != nil {
			errs = append(errs, fmt.Errorf("AddressMap key %q: %w", from, err))
		}
		if _, _, err := net.SplitHostPort(to); err != nil {
			errs = append(errs, fmt.Errorf("AddressMap[%q] = %q: %w", from, to, err))
		}
	}
	c.AddressMap = maps.Clone(c.AddressMap)
	return errs
}

// route is the address a packet for addr is sent to.
func (c *Config) route(addr string) string {
	if to, ok := c.AddressMap[addr]; ok {
		return to
	}
	return addr
}
