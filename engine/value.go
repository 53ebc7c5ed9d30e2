package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Value is bytes with an encoding tag (raw, text, JSON), so each language
// binding returns the type that was set. Values handed out by the Peer
// (events, Get) must be treated as read-only.
type Value struct {
	Data     []byte
	Encoding Encoding
}

// String returns the bytes as a string, whatever the encoding.
func (v Value) String() string { return string(v.Data) }

// Encoding tags a Value's bytes. The numbers are the wire's: append only.
type Encoding uint8

// Encodings.
const (
	Raw  Encoding = iota // bytes
	Text                 // UTF-8 text
	JSON                 // a JSON document
)

func (e Encoding) String() string {
	switch e {
	case Raw:
		return "raw"
	case Text:
		return "text"
	case JSON:
		return "json"
	}
	return "encoding(" + strconv.Itoa(int(e)) + ")"
}

// Bytes returns a raw value. The peer keeps b: do not modify it afterwards.
func Bytes(b []byte) Value { return Value{Data: b, Encoding: Raw} }

// String returns a UTF-8 text value.
func String(s string) Value { return Value{Data: []byte(s), Encoding: Text} }

// JSONValue marshals v as a JSON value.
func JSONValue(v any) (Value, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Value{}, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return Value{Data: b, Encoding: JSON}, nil
}

// RawJSON wraps an already-encoded JSON document.
func RawJSON(doc []byte) (Value, error) {
	if !json.Valid(doc) {
		return Value{}, fmt.Errorf("%w: not valid JSON", ErrInvalidArgument)
	}
	return Value{Data: doc, Encoding: JSON}, nil
}

func checkEncoding(v Value) error {
	if v.Encoding > JSON {
		return fmt.Errorf("%w: unknown encoding %d", ErrInvalidArgument, v.Encoding)
	}
	return nil
}

// checkValue makes sure the bytes are what the tag promises, so a reader in
// any language can decode what it receives.
func checkValue(v Value) error {
	switch v.Encoding {
	case Text:
		if !utf8.Valid(v.Data) {
			return fmt.Errorf("%w: text value is not valid UTF-8", ErrInvalidArgument)
		}
	case JSON:
		if !json.Valid(v.Data) {
			return fmt.Errorf("%w: JSON value is not valid JSON", ErrInvalidArgument)
		}
	}
	return nil
}
