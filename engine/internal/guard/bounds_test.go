package guard

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestGenerationOK(t *testing.T) {
	now := t0
	ns := uint64(now.UnixNano())
	assert.True(t, GenerationOK(ns, now, time.Minute))
	assert.True(t, GenerationOK(ns-uint64(time.Hour), now, time.Minute), "an old generation is fine")
	assert.True(t, GenerationOK(ns+uint64(time.Minute), now, time.Minute))
	assert.False(t, GenerationOK(ns+uint64(time.Minute)+1, now, time.Minute))
	assert.False(t, GenerationOK(math.MaxUint64, now, time.Minute), "the forged 2^64-1")
	assert.False(t, GenerationOK(1, time.Unix(0, -10), 0), "a clock before 1970 accepts nothing sane")
}

func TestHeartbeatBound(t *testing.T) {
	b := HeartbeatBound{Interval: time.Second, Slack: 5}
	assert.True(t, b.OK(100, 101, time.Second))
	assert.True(t, b.OK(100, 100+10+5, 10*time.Second))
	assert.False(t, b.OK(100, 100+10+6, 10*time.Second))
	assert.False(t, b.OK(100, 1<<62, time.Hour), "the forged 2^62")
	assert.True(t, b.OK(100, 50, time.Second), "not a jump: stale, handled elsewhere")
	assert.True(t, b.OK(100, 105, 0), "within the slack at once")
	assert.False(t, b.OK(100, 106, -time.Second))
	assert.True(t, b.OK(math.MaxUint64-1, math.MaxUint64, time.Second), "no overflow")
	assert.True(t, HeartbeatBound{Interval: time.Second}.OK(0, DefaultHeartbeatSlack, 0))
	assert.False(t, HeartbeatBound{Interval: time.Second}.OK(0, DefaultHeartbeatSlack+1, 0))
	assert.True(t, HeartbeatBound{}.OK(0, 1<<62, 0), "no interval configured: no bound")
}
