package engine_test

import (
	"context"
	"fmt"
	"time"

	"github.com/telepathine/telepathine/engine"
)

// Two peers on loopback: one sets a key and says something, the other reads
// the replica and hears the event.
func Example_twoPeers() {
	ctx := context.Background()
	cfg := engine.LocalConfig()
	cfg.Cluster = "example"

	a, err := engine.New(cfg)
	if err != nil {
		panic(err)
	}
	if err := a.Start(ctx); err != nil {
		panic(err)
	}
	defer a.Close()

	cfg.Seeds = []string{a.Addr()}
	b, err := engine.New(cfg)
	if err != nil {
		panic(err)
	}
	heard := make(chan string, 1)
	b.Hear("greeting", func(data engine.Value, from string, e *engine.Event) {
		heard <- data.String()
	})
	if err := b.Start(ctx); err != nil {
		panic(err)
	}
	defer b.Close()

	if err := a.Set("color", engine.String("blue")); err != nil {
		panic(err)
	}
	for {
		if v, ok := b.GetRemote(a.Name(), "color"); ok {
			fmt.Println("b reads a's color:", v)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := a.Say("greeting", engine.String("hello")); err != nil {
		panic(err)
	}
	fmt.Println("b hears:", <-heard)
	// Output:
	// b reads a's color: blue
	// b hears: hello
}
