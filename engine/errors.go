package engine

import "errors"

// Errors returned by the Peer. Compare with errors.Is.
var (
	// ErrConfig wraps every configuration problem found by New.
	ErrConfig = errors.New("telepathine: invalid config")
	// ErrClosed: the peer was closed; it cannot be used any more.
	ErrClosed = errors.New("telepathine: peer closed")
	// ErrNotRunning: the call needs a started peer.
	ErrNotRunning = errors.New("telepathine: peer not running")
	// ErrRunning: Start on a peer that is already running.
	ErrRunning = errors.New("telepathine: peer already running")
	// ErrInvalidKey: empty, too long, not UTF-8, or containing NUL.
	ErrInvalidKey = errors.New("telepathine: invalid key")
	// ErrValueTooLarge: a value above Limits.ValueSize or a payload above
	// Limits.EventPayloadSize.
	ErrValueTooLarge = errors.New("telepathine: value too large")
	// ErrInvalidEvent: an event name that is empty, above Limits.EventNameSize, not
	// UTF-8, or containing NUL.
	ErrInvalidEvent = errors.New("telepathine: invalid event name")
	// ErrUnknownAsk: a reply to an ask that is unknown or over.
	ErrUnknownAsk = errors.New("telepathine: unknown or finished ask")
	// ErrInvalidArgument: an argument out of its range (negative duration,
	// unknown encoding...).
	ErrInvalidArgument = errors.New("telepathine: invalid argument")
	// ErrNotFound: Lookup found no live value.
	ErrNotFound = errors.New("telepathine: not found")
	// ErrNotAsk: Reply on an event that is not an ask.
	ErrNotAsk = errors.New("telepathine: event is not an ask")
)
