package bridge

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/telepathine/telepathine/engine"
)

// ABI version, as TP_ABI_VERSION_MAJOR and _MINOR in cgo/telepathine.h (a
// test keeps them equal).
const (
	ABIMajor = 1
	ABIMinor = 2
	// ABIVersion is what tp_abi_version returns.
	ABIVersion = ABIMajor<<16 | ABIMinor
)

// Code is a status of the C ABI. The numbers are the header's TP_* macros:
// stable, append-only.
type Code int

// Status codes. Positive codes are outcomes that are not errors.
const (
	OK       Code = 0
	NotFound Code = 1
	Timeout  Code = 2

	ErrInternal        Code = -1
	ErrInvalidArgument Code = -2
	ErrHandle          Code = -3
	ErrClosed          Code = -4
	ErrConfig          Code = -5
	ErrInvalidKey      Code = -6
	ErrValueTooLarge   Code = -7
	ErrInvalidEvent    Code = -8
	ErrNotRunning      Code = -9
	ErrRunning         Code = -10
	ErrUnknownAsk      Code = -11
	ErrIO              Code = -12
	// The cluster keyring (ABI 1.1).
	ErrKeyMaterial     Code = -13
	ErrPrimaryKey      Code = -14
	ErrKeyNotInstalled Code = -15
)

// lastCode is the most negative status: Codes lists every code down to it.
const lastCode = ErrKeyNotInstalled

var codeNames = map[Code]string{
	OK: "TP_OK", NotFound: "TP_NOT_FOUND", Timeout: "TP_TIMEOUT",
	ErrInternal: "TP_ERR_INTERNAL", ErrInvalidArgument: "TP_ERR_INVALID_ARGUMENT",
	ErrHandle: "TP_ERR_HANDLE", ErrClosed: "TP_ERR_CLOSED", ErrConfig: "TP_ERR_CONFIG",
	ErrInvalidKey: "TP_ERR_INVALID_KEY", ErrValueTooLarge: "TP_ERR_VALUE_TOO_LARGE",
	ErrInvalidEvent: "TP_ERR_INVALID_EVENT", ErrNotRunning: "TP_ERR_NOT_RUNNING",
	ErrRunning: "TP_ERR_RUNNING", ErrUnknownAsk: "TP_ERR_UNKNOWN_ASK", ErrIO: "TP_ERR_IO",
	ErrKeyMaterial: "TP_ERR_KEY_MATERIAL", ErrPrimaryKey: "TP_ERR_PRIMARY_KEY",
	ErrKeyNotInstalled: "TP_ERR_KEY_NOT_INSTALLED",
}

// Codes returns every status code, for tables and tests.
func Codes() []Code {
	out := make([]Code, 0, len(codeNames))
	for c := Code(Timeout); c >= lastCode; c-- {
		out = append(out, c)
	}
	return out
}

// String returns the header's name of the code ("TP_ERR_HANDLE").
func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return "TP_UNKNOWN_STATUS"
}

// Error is an error with its status code, made by the bridge itself.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errorf(c Code, format string, args ...any) error {
	return &Error{Code: c, Msg: "telepathine: " + fmt.Sprintf(format, args...)}
}

// engineCodes maps the engine's sentinel errors to codes, most specific
// first.
var engineCodes = []struct {
	err  error
	code Code
}{
	{engine.ErrNotFound, NotFound},
	{engine.ErrConfig, ErrConfig},
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
}

// Status maps an error to its code and message: the bridge's own errors
// carry their code, the engine's sentinel errors have theirs, and anything
// else (sockets, the OS) is ErrIO.
func Status(err error) (Code, string) {
	if err == nil {
		return OK, ""
	}
	var be *Error
	if errors.As(err, &be) {
		return be.Code, be.Msg
	}
	for _, m := range engineCodes {
		if errors.Is(err, m.err) {
			return m.code, err.Error()
		}
	}
	return ErrIO, err.Error()
}

// Errorf returns an error with status code c and a message prefixed
// "telepathine: ".
func Errorf(c Code, format string, args ...any) error { return errorf(c, format, args...) }

// Recovered turns a recovered panic into an ErrInternal error whose message
// carries the panic and the stack, for the bug report.
func Recovered(r any) error {
	return errorf(ErrInternal, "internal error (please report): %v\n%s", r, debug.Stack())
}
