package bridge

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	apiv1 "github.com/telepathine/telepathine/gen/api/v1"
)

func decodeBatch(t testing.TB, raw []byte) []*apiv1.Event {
	t.Helper()
	var m apiv1.EventBatch
	require.NoError(t, proto.Unmarshal(raw, &m))
	require.NotEmpty(t, m.Events, "a batch holds at least one event")
	return m.Events
}

// Batches taken with PollMany, mixed with single polls, return every event
// once and in order; max_events caps a batch; an empty stream times out.
func TestPollManyOrderedNoLossNoDuplicate(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	ev, err := b.OpenEvents(c, []byte("say:m"), 4096)
	require.NoError(t, err)
	defer b.CloseEvents(ev)

	start := time.Now()
	_, err = b.PollMany(ev, 0, 0)
	requireCode(t, Timeout, err)
	_, err = b.PollMany(ev, 30, 0)
	requireCode(t, Timeout, err)
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)

	const n = 1000
	for i := range n {
		say(t, b, a, "m", fmt.Sprint(i))
	}
	var got []string
	batches := 0
	for len(got) < n {
		if batches%3 == 2 { // a single poll between batches
			raw, err := b.Poll(ev, waitFor.Milliseconds())
			require.NoError(t, err)
			got = append(got, string(decodeEvent(t, raw).GetSay().GetData().GetData()))
		}
		raw, err := b.PollMany(ev, waitFor.Milliseconds(), 97)
		require.NoError(t, err)
		es := decodeBatch(t, raw)
		require.LessOrEqual(t, len(es), 97)
		for _, e := range es {
			assert.Equal(t, "say:m", e.GetName())
			got = append(got, string(e.GetSay().GetData().GetData()))
		}
		batches++
	}
	require.Len(t, got, n)
	for i, v := range got {
		require.Equal(t, fmt.Sprint(i), v, "event %d", i)
	}
	assert.Less(t, batches, n/10, "events come many per batch")
	_, err = b.PollMany(ev, 0, 0)
	requireCode(t, Timeout, err)
}

// A batch ends with the stream: queued events first, then ErrClosed; bad
// handles, a too large max and a closed stream are errors.
func TestPollManyEndAndErrors(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	ev, err := b.OpenEvents(c, []byte("say:e"), 16)
	require.NoError(t, err)
	r := &recorder{t: t}
	sub, err := b.Subscribe(c, []byte("say:e"), r.deliver, nil)
	require.NoError(t, err)
	for i := range 3 {
		say(t, b, a, "e", fmt.Sprint(i))
	}
	require.Eventually(t, func() bool { return r.count() == 3 }, waitFor, time.Millisecond)
	require.NoError(t, b.CloseSubscription(sub, 0))
	require.NoError(t, b.CloseEngine(c, 0))
	raw, err := b.PollMany(ev, 0, 0)
	require.NoError(t, err)
	assert.Len(t, decodeBatch(t, raw), 3)
	_, err = b.PollMany(ev, 1000, 0)
	requireCode(t, ErrClosed, err)

	_, err = b.PollMany(ev, 0, MaxBatch+1)
	requireCode(t, ErrInvalidArgument, err)
	require.NoError(t, b.CloseEvents(ev))
	require.NoError(t, b.CloseEvents(ev))
	_, err = b.PollMany(ev, 0, 0)
	requireCode(t, ErrClosed, err)
	_, err = b.PollMany(0, 0, 0)
	requireCode(t, ErrHandle, err)
	_, err = b.PollMany(a, 0, 0) // an engine handle
	requireCode(t, ErrHandle, err)
}

// The batch is exactly an EventBatch and, on the wire, (0x0A, varint
// length, Event) per event: what the header promises readers without
// protobuf.
func TestPollManyLayout(t *testing.T) {
	b := New()
	a, c := pair(t, b)
	ev, err := b.OpenEvents(c, []byte("say:l"), 16)
	require.NoError(t, err)
	defer b.CloseEvents(ev)
	say(t, b, a, "l", "x")
	say(t, b, a, "l", "y")
	require.Eventually(t, func() bool {
		raw, err := b.PollMany(ev, 0, 1) // max 1: one event per batch
		if err != nil {
			return false
		}
		require.Equal(t, byte(0x0A), raw[0])
		require.Equal(t, int(raw[1]), len(raw)-2, "one event, length below 128")
		e := decodeEvent(t, raw[2:])
		return string(e.GetSay().GetData().GetData()) == "y"
	}, waitFor, time.Millisecond)
}
