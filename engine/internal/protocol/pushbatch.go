package protocol

import (
	"github.com/telepathine/telepathine/engine/internal/identity"
	"github.com/telepathine/telepathine/engine/internal/state"
	"github.com/telepathine/telepathine/engine/internal/wire"
)

// Push coalescing. A fast writer queues one push item per change; sent
// item by item, each change would be a packet to each receiver (one
// sendto, one decode, one lock turn per event per peer). coalesce packs
// the items of a flush into as few packets as fit: consecutive runs of the
// same node merge into one NodeDelta (one header, entries in version
// order, exactly what the separate runs would have applied), and packets
// are cut at the datagram budget so they stay single UDP datagrams
// instead of growing into TCP frames of up to DeltaBudget that every
// receiver must take whole before its next heartbeat is read.
//
// A backlog larger than pushDatagrams datagrams goes as packets of up to
// DeltaBudget instead (over TCP, reliable and flow-controlled): a burst of
// hundreds of datagrams overflows a receiver's socket buffer (the kernel
// caps it at net.core.rmem_max, 208 KB by default) and whatever is lost
// waits for anti-entropy.
//
// Targets that receive the same items share the same *wire.Packet values,
// so the runtime encodes each distinct packet once (SharedPackets).

// pushOverhead is what a push packet carries besides its NodeDeltas
// (header, cluster, sender, capnp framing), as the digest budget counts it.
const pushOverhead = 96

// pushBudget is the byte budget of one push packet: one datagram below the
// MTU, unless every packet goes over TCP anyway (then DeltaBudget).
func pushBudget(cfg *Config, sender state.NodeID) int {
	if cfg.TCPOnly || cfg.MTU <= 0 {
		return cfg.DeltaBudget
	}
	room := cfg.MTU - pushOverhead - len(cfg.Cluster) - sender.Size()
	return max(min(room, cfg.DeltaBudget), 1)
}

// pushDatagrams is the most datagrams one flush sends a target; see above.
const pushDatagrams = 32

// coalesce builds the packets for the items whose index keep accepts,
// in queue order, cut at the datagram budget, or at DeltaBudget for a
// backlog beyond pushDatagrams datagrams (an item larger than the budget
// still goes, alone).
func (pl *PushPlan) coalesce(keep func(i int) bool) []*wire.Packet {
	budget, total := pl.budget, 0
	for i := range pl.nds {
		if keep(i) {
			total += pl.items[i].size
		}
	}
	if total > pushDatagrams*budget {
		budget = max(pl.streamBudget, budget)
	}
	var out []*wire.Packet
	var cur state.Delta
	size := 0
	// owned: the last NodeDelta's Entries slice was made by this packet
	// (by a merge), so further merges append to it in place; a slice still
	// shared with the plan is copied first, so no other packet's entries
	// are touched. Without it each merge copied the run so far: quadratic
	// in the run's length, the sender's largest cost in a say stream.
	owned := false
	flush := func() {
		if len(cur.Nodes) > 0 {
			pl.signRuns(&cur)
			out = append(out, &wire.Packet{Cluster: pl.cluster, Sender: pl.sender, Type: wire.Push, Delta: cur})
		}
		cur, size, owned = state.Delta{Relay: pl.relay}, 0, false
	}
	cur.Relay = pl.relay
	for i := range pl.nds {
		if !keep(i) {
			continue
		}
		nd := pl.nds[i]
		body := pl.items[i].size - state.NodeDeltaHeader(nd.ID)
		if n := len(cur.Nodes); n > 0 {
			last := &cur.Nodes[n-1]
			if last.ID == nd.ID && last.To == nd.From && !nd.Reset && !last.Reset {
				if size+body <= budget {
					// Contiguous run of the same node: extend the last one.
					if !owned {
						last.Entries = append(make([]*state.Entry, 0, 2*(len(last.Entries)+len(nd.Entries))), last.Entries...)
						owned = true
					}
					last.Entries = append(last.Entries, nd.Entries...)
					last.To, last.Heartbeat = nd.To, max(last.Heartbeat, nd.Heartbeat)
					size += body
					continue
				}
				flush()
			} else if size+pl.items[i].size > budget {
				flush()
			}
		}
		cur.Nodes = append(cur.Nodes, nd)
		owned = false
		size += pl.items[i].size
		if pl.runKeys != nil && nd.ID == pl.sender {
			size += runSigSize // room for the run signature signRuns may add
		}
	}
	flush()
	return out
}

// coalescedPackets is Packets with coalescing: targets that get every item
// share one set of packets; a target some items skip (their origin, or the
// peer they came from) gets its own.
func (pl *PushPlan) coalescedPackets() []Outgoing {
	var shared []*wire.Packet
	var out []Outgoing
	for _, t := range pl.targets {
		skips := false
		for i := range pl.nds {
			if pl.items[i].except == t || pl.nds[i].ID.Addr == t {
				skips = true
				break
			}
		}
		var pks []*wire.Packet
		if skips {
			pks = pl.coalesce(func(i int) bool { return pl.items[i].except != t && pl.nds[i].ID.Addr != t })
		} else {
			if shared == nil {
				shared = pl.coalesce(func(int) bool { return true })
			}
			pks = shared
		}
		for _, pk := range pks {
			out = append(out, Outgoing{To: t, Packet: pk})
		}
	}
	return out
}

// runSigSize is what a run signature adds to a NodeDelta on the wire: 64
// bytes and its pointer.
const runSigSize = identity.SignatureSize + 8

// signRuns signs, in identity mode, each NodeDelta of d that carries a run
// of at least two of our own entries: one Ed25519 check then proves the
// whole run at a receiver (protocol/identity.go prewarm) instead of one
// per entry. Signed here, after coalescing, so a run is as long as a
// packet allows; a single entry gains nothing (its own signature is one
// check already). Only our own runs are signed: a relayed line may be
// partial or altered, and we cannot vouch for another owner's entries.
func (pl *PushPlan) signRuns(d *state.Delta) {
	if pl.runKeys == nil {
		return
	}
	for i := range d.Nodes {
		nd := &d.Nodes[i]
		if nd.ID != pl.sender || len(nd.Entries) < 2 {
			continue
		}
		if r, ok := runOf(nd); ok {
			nd.RunSig = pl.runKeys.SignRun(&r)
		}
	}
}
