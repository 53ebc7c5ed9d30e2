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
	// Every wait below ends by this deadline: a broken build prints
	// "timed out" and fails the example instead of hanging.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
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
		if kv, err := b.Lookup(a.Name(), "color"); err == nil {
			fmt.Println("b reads a's color:", kv.Value)
			break
		}
		select {
		case <-ctx.Done():
			fmt.Println("timed out waiting for the replica")
			return
		case <-time.After(10 * time.Millisecond): // poll again
		}
	}
	if err := a.Say("greeting", engine.String("hello")); err != nil {
		panic(err)
	}
	select {
	case msg := <-heard:
		fmt.Println("b hears:", msg)
	case <-ctx.Done():
		fmt.Println("timed out waiting for the greeting")
	}
	// Output:
	// b reads a's color: blue
	// b hears: hello
}
