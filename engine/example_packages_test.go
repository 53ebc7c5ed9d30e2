package engine_test

import (
	"context"
	"fmt"
	"time"

	"github.com/telepathine/telepathine/engine"
)

// A peer reachable at another address than the one it is known by (behind
// NAT or port forwarding): AddressMap sends packets for the known address
// to the reachable one.
func ExampleConfig_addressMap() {
	ctx := context.Background()
	a, err := engine.New(engine.LocalConfig())
	if err != nil {
		panic(err)
	}
	if err := a.Start(ctx); err != nil {
		panic(err)
	}
	defer a.Close()

	cfg := engine.LocalConfig()
	cfg.Seeds = []string{"192.0.2.1:7946"} // what b was told; nobody listens there
	cfg.AddressMap = map[string]string{"192.0.2.1:7946": a.Addr()}
	b, err := engine.New(cfg)
	if err != nil {
		panic(err)
	}
	if err := b.Start(ctx); err != nil {
		panic(err)
	}
	defer b.Close()

	if err := a.Set("color", engine.String("blue")); err != nil {
		panic(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if kv, err := b.Lookup(a.Name(), "color"); err == nil {
			fmt.Println("b reads a's color:", kv.Value)
			break
		}
	}
	// Output: b reads a's color: blue
}
