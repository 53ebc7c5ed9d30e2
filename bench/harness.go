package bench

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"
)

// System starts clusters of one gossip library.
type System interface {
	// Name is the value of the "system=" sub-benchmark.
	Name() string
	// NewCluster creates n peers bound to 127.0.0.1 on port 0, reporting
	// what they learn to obs. Peer 0, the seed, is running; the others join
	// it in JoinAll. On error nothing is left running.
	NewCluster(n int, obs *Observer) (Cluster, error)
}

// Cluster is n peers of one system. Methods may be called concurrently
// with JoinAll and with each other.
type Cluster interface {
	Len() int
	// PeerName is the name peer i is known by to the others (and in the
	// Observer's death records).
	PeerName(i int) string
	// JoinAll makes every peer but the seed join through the seed, all at
	// once (one goroutine each), and returns when every join call has
	// returned. (memberlist beyond 64 peers: through several seeds, which
	// join first.)
	JoinAll() error
	// KnowsAll reports whether peer i counts every other peer as a live
	// member.
	KnowsAll(i int) bool
	// Knows reports whether peer i counts the peer called name as a live
	// member.
	Knows(i int, name string) bool
	// Publish makes peer i publish the update id; the other peers report
	// its arrival to the Observer.
	Publish(i int, id string) error
	// Crash stops peer i abruptly: sockets closed, no goodbye to anyone.
	Crash(i int) error
	// BytesSent is what peer i has handed to its sockets so far.
	BytesSent(i int) uint64
	// Close shuts every peer down and waits for them.
	Close()
}

// Observer records what the peers of one cluster learn, with the time they
// learn it. The libraries call it from their own goroutines.
type Observer struct {
	mu       sync.Mutex
	arrivals map[string]map[int]time.Time // update id -> peer -> first arrival
	deaths   []Death
}

// Death is one peer declaring another dead.
type Death struct {
	Observer int    // index of the peer that declared it
	Subject  string // name of the peer declared dead
	At       time.Time
}

// NewObserver returns an empty Observer.
func NewObserver() *Observer {
	return &Observer{arrivals: map[string]map[int]time.Time{}}
}

// Delivered records that peer received update id; only the first arrival
// counts.
func (o *Observer) Delivered(peer int, id string) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	m := o.arrivals[id]
	if m == nil {
		m = map[int]time.Time{}
		o.arrivals[id] = m
	}
	if _, seen := m[peer]; !seen {
		m[peer] = now
	}
}

// Died records that peer declared subject dead.
func (o *Observer) Died(peer int, subject string) {
	now := time.Now()
	o.mu.Lock()
	o.deaths = append(o.deaths, Death{Observer: peer, Subject: subject, At: now})
	o.mu.Unlock()
}

// arrivalsOf returns a copy of the arrival times of update id.
func (o *Observer) arrivalsOf(id string) map[int]time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[int]time.Time, len(o.arrivals[id]))
	for k, v := range o.arrivals[id] {
		out[k] = v
	}
	return out
}

// Deaths returns a copy of the deaths recorded so far.
func (o *Observer) Deaths() []Death {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.deaths)
}

// Params sizes and bounds the scenarios. Every wait has a deadline: a run
// that misses it is incomplete and reports the deadline as its time.
type Params struct {
	N int
	// JoinDeadline bounds the wait for every peer to know every peer in
	// the join scenario.
	JoinDeadline time.Duration
	// SetupJoinDeadline bounds the same wait before the other scenarios,
	// which then go on even if the join is incomplete (memberlist's can stay
	// so until its push-pull, up to a minute): their figures are about
	// updates, crashes and quiet traffic, not about the join.
	SetupJoinDeadline time.Duration
	// Settle is waited after the join (complete or not) before an update,
	// crash or quiet scenario begins: the join's gossip dies down and
	// failure detectors learn the heartbeat rhythm.
	Settle time.Duration
	// Updates are published one every UpdateEvery, from rotating peers;
	// each has UpdateDeadline to reach every peer.
	Updates        int
	UpdateEvery    time.Duration
	UpdateDeadline time.Duration
	// CrashDeadline bounds the wait for every peer to declare the crashed
	// one dead.
	CrashDeadline time.Duration
	// QuietSettle is waited after the join before bytes are counted in a
	// quiet cluster, and QuietWindow is how long they are counted.
	//
	// memberlist's push-pull (full state over TCP, most of what a quiet
	// memberlist sends) runs every 60 s at N = 64, each peer's first one
	// after a random stagger under 30 s: once QuietSettle passes 30 s (35 s
	// leaves room for the first ticks, taken before the join ended), any
	// window of 60 s holds exactly one push-pull per peer. Telepathine sends
	// a full digest every 10 s, which 60 s also divides. A shorter window
	// would catch anywhere from none to all of memberlist's push-pulls.
	QuietSettle, QuietWindow time.Duration
}

// pollEvery is the resolution of the waits that poll state (join): fine
// enough for figures in hundreds of milliseconds, coarse enough that
// polling 64 peers does not steal much of two cores.
const pollEvery = 10 * time.Millisecond

// Outcome is the result of one bounded wait.
type Outcome struct {
	Took     time.Duration // the deadline when incomplete
	Complete bool
	// CPU is the process CPU time (user + system) spent over the wait, set
	// where the cost of what is waited for is the point (the join). On a
	// shared machine it is steadier than Took: other processes stretch the
	// wall time, much less the work done.
	CPU time.Duration
}

// waitUntil polls cond until it holds (true) or deadline passes (false).
func waitUntil(deadline time.Time, every time.Duration, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(every)
	}
}

// formed is a cluster that has been through its concurrent join.
type formed struct {
	c    Cluster
	obs  *Observer
	join Outcome
}

// form creates a cluster of p.N peers and joins them all through the seed
// at once, timing until every peer knows every other or the deadline. The
// cluster is returned even when the join is incomplete; the caller closes
// it.
func form(sys System, p Params, deadline time.Duration) (*formed, error) {
	obs := NewObserver()
	c, err := sys.NewCluster(p.N, obs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sys.Name(), err)
	}
	start, cpu0 := time.Now(), cpuTime()
	errc := make(chan error, 1)
	go func() { errc <- c.JoinAll() }()
	knowsAll := func() bool {
		for i := range c.Len() {
			if !c.KnowsAll(i) {
				return false
			}
		}
		return true
	}
	done := waitUntil(start.Add(deadline), pollEvery, knowsAll)
	took, cpu := time.Since(start), cpuTime()-cpu0
	if !done {
		took = deadline
	}
	if err := <-errc; err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: join: %w", sys.Name(), err)
	}
	return &formed{c: c, obs: obs, join: Outcome{Took: took, Complete: done, CPU: cpu}}, nil
}

// RunJoin forms one cluster and reports how long the join took.
func RunJoin(sys System, p Params) (Outcome, error) {
	f, err := form(sys, p, p.JoinDeadline)
	if err != nil {
		return Outcome{}, err
	}
	f.c.Close()
	return f.join, nil
}

// UpdateResult is what became of one published update.
type UpdateResult struct {
	Outcome
	Reached int // peers other than the publisher that got it in time
}

// UpdatesResult is one update scenario.
type UpdatesResult struct {
	Join    Outcome
	Updates []UpdateResult
}

// RunUpdates forms a cluster, lets it settle, then publishes p.Updates
// updates, one every p.UpdateEvery from rotating peers (never the seed:
// it would be the best-connected publisher), and times each until every
// other peer has it or its deadline passes.
func RunUpdates(sys System, p Params) (UpdatesResult, error) {
	f, err := form(sys, p, p.SetupJoinDeadline)
	if err != nil {
		return UpdatesResult{}, err
	}
	defer f.c.Close()
	res := UpdatesResult{Join: f.join}
	time.Sleep(p.Settle)

	n := f.c.Len()
	type pending struct {
		id        string
		publisher int
		at        time.Time
	}
	var all []pending
	next := time.Now()
	for k := range p.Updates {
		time.Sleep(time.Until(next))
		next = next.Add(p.UpdateEvery)
		u := pending{id: fmt.Sprintf("u%03d", k), publisher: 1 + k%(n-1)}
		u.at = time.Now()
		if err := f.c.Publish(u.publisher, u.id); err != nil {
			return res, fmt.Errorf("%s: publish: %w", sys.Name(), err)
		}
		all = append(all, u)
	}
	for _, u := range all {
		reached := func() int {
			c := 0
			for peer := range f.obs.arrivalsOf(u.id) {
				if peer != u.publisher {
					c++
				}
			}
			return c
		}
		waitUntil(u.at.Add(p.UpdateDeadline), time.Millisecond, func() bool { return reached() == n-1 })
		// Judge by the arrival times, not by when the poll noticed them.
		arr := f.obs.arrivalsOf(u.id)
		var r UpdateResult
		var last time.Time
		for peer, at := range arr {
			if peer != u.publisher && at.Sub(u.at) <= p.UpdateDeadline {
				r.Reached++
				last = maxTime(last, at)
			}
		}
		r.Complete = r.Reached == n-1
		r.Took = p.UpdateDeadline
		if r.Complete {
			r.Took = last.Sub(u.at)
		}
		res.Updates = append(res.Updates, r)
	}
	return res, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// CrashResult is one crash scenario.
type CrashResult struct {
	Join   Outcome
	Detect Outcome
	// FalseDeaths counts the deaths declared, from the start of the join to
	// the end of the detection, of any peer but the victim and of the victim
	// before it crashed. What the victim itself would declare after its
	// crash is ignored.
	FalseDeaths int
}

// RunCrash forms a cluster, lets it settle, crashes a peer and times until
// every other peer has declared it dead. The victim is the last peer that
// every other one knows: after an incomplete join (memberlist), a peer that
// never heard of the victim could never declare it dead, and the scenario
// would measure the join again.
func RunCrash(sys System, p Params) (CrashResult, error) {
	f, err := form(sys, p, p.SetupJoinDeadline)
	if err != nil {
		return CrashResult{}, err
	}
	defer f.c.Close()
	res := CrashResult{Join: f.join}
	time.Sleep(p.Settle)

	n := f.c.Len()
	victim := -1
	for v := n - 1; v > 0 && victim < 0; v-- {
		victim = v
		for i := range n {
			if i != v && !f.c.Knows(i, f.c.PeerName(v)) {
				victim = -1
				break
			}
		}
	}
	if victim < 0 {
		return res, fmt.Errorf("%s: no peer is known to all the others", sys.Name())
	}
	name := f.c.PeerName(victim)
	crashed := time.Now()
	if err := f.c.Crash(victim); err != nil {
		return res, fmt.Errorf("%s: crash: %w", sys.Name(), err)
	}
	// declared returns, for each peer, when it first declared the victim
	// dead after the crash (zero if it has not).
	declared := func() []time.Time {
		at := make([]time.Time, n)
		for _, d := range f.obs.Deaths() {
			if d.Subject == name && d.At.After(crashed) && at[d.Observer].IsZero() {
				at[d.Observer] = d.At
			}
		}
		return at
	}
	allDeclared := func() bool {
		for i, at := range declared() {
			if i != victim && at.IsZero() {
				return false
			}
		}
		return true
	}
	deadline := crashed.Add(p.CrashDeadline)
	waitUntil(deadline, time.Millisecond, allDeclared)
	// Judge by the declaration times, not by when the poll noticed them.
	var last time.Time
	complete := true
	for i, at := range declared() {
		if i == victim {
			continue
		}
		if at.IsZero() || at.After(deadline) {
			complete = false
		}
		last = maxTime(last, at)
	}
	res.Detect = Outcome{Took: p.CrashDeadline, Complete: complete}
	if complete {
		res.Detect.Took = last.Sub(crashed)
	}
	for _, d := range f.obs.Deaths() {
		before := d.At.Before(crashed)
		if (d.Observer != victim || before) && (d.Subject != name || before) {
			res.FalseDeaths++
		}
	}
	return res, nil
}

// QuietResult is one quiet scenario.
type QuietResult struct {
	Join Outcome
	// BytesPerPeerSec is the bytes sent by all peers over the window,
	// divided by the peers and the window's seconds.
	BytesPerPeerSec float64
	// Cores is the CPU time (user + system) the whole process spent over
	// the window, divided by the window: the cost of a quiet cluster of N
	// peers in one process (nothing else runs during a scenario).
	Cores float64
	// HeapPerPeer is the live heap after the window (after a GC), less the
	// heap before the cluster formed, divided by N.
	HeapPerPeer float64
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// RunQuiet forms a cluster, waits p.QuietSettle, then counts the bytes
// every peer sends over p.QuietWindow while nothing changes.
func RunQuiet(sys System, p Params) (QuietResult, error) {
	base := heapAlloc()
	f, err := form(sys, p, p.SetupJoinDeadline)
	if err != nil {
		return QuietResult{}, err
	}
	defer f.c.Close()
	res := QuietResult{Join: f.join}
	time.Sleep(p.QuietSettle)
	n := f.c.Len()
	total := func() uint64 {
		var s uint64
		for i := range n {
			s += f.c.BytesSent(i)
		}
		return s
	}
	before, t0, cpu0 := total(), time.Now(), cpuTime()
	time.Sleep(p.QuietWindow)
	after, elapsed, cpu := total(), time.Since(t0), cpuTime()-cpu0
	res.BytesPerPeerSec = float64(after-before) / float64(n) / elapsed.Seconds()
	res.Cores = cpu.Seconds() / elapsed.Seconds()
	if h := heapAlloc(); h > base {
		res.HeapPerPeer = float64(h-base) / float64(n)
	}
	return res, nil
}

// closeAll runs close for each of n peers concurrently and waits: shutting
// 64 peers down one by one would take seconds of each run.
func closeAll(n int, close func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { close(i) })
	}
	wg.Wait()
}

// joinAll runs join for peers 1..n-1 concurrently and joins their errors.
func joinAll(n int, join func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Go(func() { errs[i] = join(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Summary is the median and worst of a set of durations.
type Summary struct {
	Median, Max time.Duration
	Incomplete  int
}

// Summarize takes outcomes (incomplete ones at their deadline).
func Summarize(outs []Outcome) Summary {
	if len(outs) == 0 {
		return Summary{}
	}
	ds := make([]time.Duration, len(outs))
	var s Summary
	for i, o := range outs {
		ds[i] = o.Took
		if !o.Complete {
			s.Incomplete++
		}
	}
	slices.Sort(ds)
	s.Max = ds[len(ds)-1]
	if len(ds)%2 == 1 {
		s.Median = ds[len(ds)/2]
	} else {
		s.Median = (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
	}
	return s
}

// ms is a duration in milliseconds, for b.ReportMetric.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// median of xs (0 for none); xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// maxOf xs (0 for none).
func maxOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return slices.Max(xs)
}
