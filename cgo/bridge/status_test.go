package bridge

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/engine"
)

func TestStatusMapsEngineErrors(t *testing.T) {
	cases := []struct {
		err  error
		want Code
	}{
		{nil, OK},
		{engine.ErrConfig, ErrConfig},
		{engine.ErrClosed, ErrClosed},
		{engine.ErrClosed, ErrClosed},
		{engine.ErrNotRunning, ErrNotRunning},
		{engine.ErrRunning, ErrRunning},
		{engine.ErrInvalidKey, ErrInvalidKey},
		{engine.ErrValueTooLarge, ErrValueTooLarge},
		{engine.ErrInvalidEvent, ErrInvalidEvent},
		{engine.ErrUnknownAsk, ErrUnknownAsk},
		{engine.ErrInvalidArgument, ErrInvalidArgument},
		{engine.ErrInvalidKeyMaterial, ErrKeyMaterial},
		{engine.ErrPrimaryKey, ErrPrimaryKey},
		{engine.ErrUnknownKeyID, ErrKeyNotInstalled},
		{errors.New("bind: address already in use"), ErrIO},
	}
	for _, c := range cases {
		got, msg := Status(c.err)
		assert.Equal(t, c.want, got, "%v", c.err)
		if c.err != nil {
			assert.Equal(t, c.err.Error(), msg)
		}
		if c.err != nil {
			// Wrapped errors keep their code (the engine wraps: "%w: %w").
			wrapped := fmt.Errorf("context: %w", c.err)
			got, _ = Status(wrapped)
			assert.Equal(t, c.want, got, "wrapped %v", c.err)
		}
	}
}

func TestStatusOfBridgeErrors(t *testing.T) {
	err := Errorf(ErrHandle, "unknown engine handle %d", 7)
	code, msg := Status(err)
	assert.Equal(t, ErrHandle, code)
	assert.Equal(t, "telepathine: unknown engine handle 7", msg)
	code, _ = Status(fmt.Errorf("wrapped: %w", err))
	assert.Equal(t, ErrHandle, code)
	// An engine config error wrapped in a bridge error keeps the bridge's code.
	code, _ = Status(Errorf(ErrInternal, "x: %v", engine.ErrConfig))
	assert.Equal(t, ErrInternal, code)
}

// The numbers are the ABI: they must never change.
func TestCodesAreStable(t *testing.T) {
	want := map[string]int{
		"TP_OK": 0, "TP_NOT_FOUND": 1, "TP_TIMEOUT": 2,
		"TP_ERR_INTERNAL": -1, "TP_ERR_INVALID_ARGUMENT": -2, "TP_ERR_HANDLE": -3,
		"TP_ERR_CLOSED": -4, "TP_ERR_CONFIG": -5, "TP_ERR_INVALID_KEY": -6,
		"TP_ERR_VALUE_TOO_LARGE": -7, "TP_ERR_INVALID_EVENT": -8, "TP_ERR_NOT_RUNNING": -9,
		"TP_ERR_RUNNING": -10, "TP_ERR_UNKNOWN_ASK": -11, "TP_ERR_IO": -12,
		"TP_ERR_KEY_MATERIAL": -13, "TP_ERR_PRIMARY_KEY": -14, "TP_ERR_KEY_NOT_INSTALLED": -15,
	}
	got := map[string]int{}
	for _, c := range Codes() {
		got[c.String()] = int(c)
	}
	require.Equal(t, want, got)
	assert.Equal(t, "TP_UNKNOWN_STATUS", Code(99).String())
	assert.Equal(t, uint32(1<<16|2), uint32(ABIVersion), "1.2: tp_events_poll_flat")
}

func TestRecoveredPanic(t *testing.T) {
	err := func() (err error) {
		defer func() { err = Recovered(recover()) }()
		var s []int
		_ = s[len(s)+1] // an index out of range panics
		return nil
	}()
	code, msg := Status(err)
	assert.Equal(t, ErrInternal, code)
	assert.Contains(t, msg, "index out of range")
	assert.Contains(t, msg, "TestRecoveredPanic") // the stack
}
