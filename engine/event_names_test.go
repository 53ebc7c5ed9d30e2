package engine

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"

	"github.com/telepathine/telepathine/engine/internal/bus"
)

// The say events of one packet share their topic name: built once per
// run of one event name, not once per event.
func TestSayNamesBuiltOncePerRun(t *testing.T) {
	var names sayNames
	a1, a2 := names.of("chat"), names.of("chat")
	assert.Equal(t, "say:chat", a1)
	assert.Equal(t, unsafe.StringData(a1), unsafe.StringData(a2), "the same string, not a copy")
	assert.Equal(t, "say:news", names.of("news"))
	assert.Equal(t, "say:chat", names.of("chat"))
	var none *sayNames
	assert.Equal(t, "say:x", none.of("x"))
	e := newEventNamed(&names, KindSay, "p", "chat", Value{}, 0, nil)
	assert.Equal(t, "say:chat", e.Name())
	assert.True(t, e.topic.Matches(bus.Compile("say:*")))
}
