package engine

import (
	"context"

	"github.com/telepathine/telepathine/engine/transport"
)

// seedResolveRounds is how many gossip rounds pass between two resolutions
// of seed names while no seed answers (2 s at LAN settings): often enough
// that a peer waiting for its Service's first pods joins soon after they
// appear, rarely enough that DNS does not see a query per round. Once a seed
// answers, names are resolved again only every seedRefreshTicks of those
// periods (30 s at LAN settings), to follow pods that come and go.
const (
	seedResolveRounds = 10
	seedRefreshTicks  = 15
)

// startSeeds starts the seed resolver when some seeds are host names: it
// resolves them at once, then again every seedResolveRounds rounds for as
// long as no seed answers, and hands the addresses to the gossip's seed set.
// At each of those ticks it also sends a Syn to every resolved address that
// is not a live peer: the gossip itself contacts one seed only when none is
// among its targets, so without this a name for two separate groups of
// peers would join only the first group reached.
// Called by Start with the run's stop channel. The in-memory transport gets
// no resolver unless one is configured, so simulations stay deterministic.
func (p *Peer) startSeeds(stop chan struct{}) {
	var names []string
	for _, s := range p.cfg.Seeds {
		if transport.IsHostName(s) {
			names = append(names, s)
		}
	}
	if len(names) == 0 || (p.cfg.Transport != nil && p.cfg.Resolver == nil) {
		return
	}
	res := transport.NewSeedResolver(p.cfg.Resolver, 0)
	p.wg.Add(1)
	go p.seedLoop(stop, names, res)
}

func (p *Peer) seedLoop(stop chan struct{}, names []string, res *transport.SeedResolver) {
	defer p.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := p.clk.NewTicker(seedResolveRounds * p.cfg.GossipInterval)
	defer t.Stop()
	resolved := p.resolveSeeds(ctx, names, res)
	p.probeSeeds(resolved)
	for tick := 1; ; tick++ {
		select {
		case <-stop:
			return
		case <-t.C():
			if tick%seedRefreshTicks == 0 || !p.seedAnswers() {
				resolved = p.resolveSeeds(ctx, names, res)
			}
			p.probeSeeds(resolved)
		}
	}
}

// probeSeeds sends a Syn to each of addrs that is not a live peer's address.
func (p *Peer) probeSeeds(addrs []string) {
	if len(addrs) == 0 {
		return
	}
	p.mu.Lock()
	out := p.core.ProbeSeeds(addrs)
	p.mu.Unlock()
	p.send(out.Packets)
}

// resolveSeeds rebuilds the seed set: the configured IP seeds, every
// address the names resolve to, and the names that failed to resolve (the
// transport still tries those itself, so a name that resolves later is not
// lost in between).
func (p *Peer) resolveSeeds(ctx context.Context, names []string, res *transport.SeedResolver) (addrs []string) {
	addrs, failed := res.Resolve(ctx, names)
	if ctx.Err() != nil {
		return nil
	}
	seeds := make([]string, 0, len(p.cfg.Seeds)+len(addrs)+len(failed))
	for _, s := range p.cfg.Seeds {
		if !transport.IsHostName(s) {
			seeds = append(seeds, s)
		}
	}
	seeds = append(seeds, addrs...)
	seeds = append(seeds, failed...)
	p.mu.Lock()
	p.core.SetSeeds(seeds)
	p.mu.Unlock()
	p.log.Debug("seeds resolved", "names", names, "addresses", addrs, "failed", failed)
	return addrs
}

// seedAnswers reports whether some seed is a live peer: then the cluster
// is reachable and DNS need not be asked again.
func (p *Peer) seedAnswers() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.core.SeedAnswers()
}
