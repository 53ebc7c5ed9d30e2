package bridge

import "sync"

// kind is what a handle refers to; it is kept in the handle's two low bits,
// so a handle of the wrong kind is recognised even after it was closed.
type kind uint64

const (
	kindEngine       kind = 1
	kindSubscription kind = 2
	kindEvents       kind = 3

	kindBits = 2
	kindMask = 1<<kindBits - 1
	// maxSerial keeps every handle below 2^53, so JavaScript Numbers hold
	// them exactly.
	maxSerial = 1<<(53-kindBits) - 1
)

func (k kind) String() string {
	switch k {
	case kindEngine:
		return "engine"
	case kindSubscription:
		return "subscription"
	case kindEvents:
		return "event stream"
	}
	return "unknown"
}

// table maps handles to the objects they name. C only ever holds these
// integers, never Go pointers. Handles are never reused: serials only grow,
// so a handle below the next serial that is absent was closed.
type table struct {
	mu   sync.RWMutex
	next uint64 // last serial issued
	m    map[uint64]any
}

func newTable() *table { return &table{m: make(map[uint64]any)} }

func (t *table) add(k kind, v any) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.next >= maxSerial {
		return 0, errorf(ErrInternal, "out of handles")
	}
	t.next++
	h := t.next<<kindBits | uint64(k)
	t.m[h] = v
	return h, nil
}

// missing explains why h (of the wanted kind) is not in the table. Called
// with mu held.
func (t *table) missing(h uint64, want kind) error {
	switch {
	case h == 0:
		return errorf(ErrHandle, "null %s handle (0)", want)
	case kind(h&kindMask) != want:
		return errorf(ErrHandle, "handle %d is of the wrong kind: %s, not %s", h, kind(h&kindMask), want)
	case h>>kindBits > t.next:
		return errorf(ErrHandle, "unknown %s handle %d", want, h)
	}
	return errorf(ErrClosed, "%s handle %d is closed", want, h)
}

// get returns the live object of handle h, which must be of kind want.
func get[T any](t *table, h uint64, want kind) (T, error) {
	t.mu.RLock()
	v, ok := t.m[h]
	var err error
	if !ok || kind(h&kindMask) != want {
		err = t.missing(h, want)
	}
	t.mu.RUnlock()
	if err != nil {
		var zero T
		return zero, err
	}
	return v.(T), nil
}

// take removes handle h of kind want and returns its object. ok is false,
// with a nil error, for 0 and for a handle already closed (closing is
// idempotent); a handle never issued or of another kind is an error.
func take[T any](t *table, h uint64, want kind) (v T, ok bool, err error) {
	if h == 0 {
		return v, false, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	x, live := t.m[h]
	if live && kind(h&kindMask) == want {
		delete(t.m, h)
		return x.(T), true, nil
	}
	if err := t.missing(h, want); codeOf(err) != ErrClosed {
		return v, false, err
	}
	return v, false, nil
}

// find is get for the close functions, which must be idempotent: ok is
// false, with a nil error, for 0 and for a handle already closed. The
// handle stays in the table (drop removes it), so that every concurrent
// closer finds the object and waits for what the first one waits for.
func find[T any](t *table, h uint64, want kind) (v T, ok bool, err error) {
	if h == 0 {
		return v, false, nil
	}
	v, err = get[T](t, h, want)
	if err != nil {
		if codeOf(err) == ErrClosed {
			err = nil
		}
		return v, false, err
	}
	return v, true, nil
}

// drop removes h whatever it names (its owner is closing it).
func (t *table) drop(h uint64) {
	t.mu.Lock()
	delete(t.m, h)
	t.mu.Unlock()
}

// live returns the number of open handles.
func (t *table) live() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}

func codeOf(err error) Code {
	c, _ := Status(err)
	return c
}
