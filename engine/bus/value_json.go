package bus

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// The JSON form of a Value is the one every text protocol of the project
// uses (the CLI's control socket, the interop drivers of ffi_tests): text
// and JSON documents stay readable, bytes travel as base64.
//
//	{"encoding": "text", "text": "..."}
//	{"encoding": "json", "json": <any JSON>}
//	{"encoding": "raw",  "base64": "..."}
//
// It lives in this one file so that it can move with the Value type.

// jsonValue is the JSON shape of a Value. Pointers tell an absent field from
// an empty one.
type jsonValue struct {
	Encoding string          `json:"encoding"`
	Text     *string         `json:"text,omitempty"`
	JSON     json.RawMessage `json:"json,omitempty"`
	Base64   *string         `json:"base64,omitempty"`
}

// MarshalJSON writes the value in the form above. A JSON value whose bytes
// are not a JSON document is an error (the engine never holds one).
func (v Value) MarshalJSON() ([]byte, error) {
	var j jsonValue
	switch v.Encoding {
	case Text:
		s := string(v.Data)
		j = jsonValue{Encoding: "text", Text: &s}
	case JSON:
		if !json.Valid(v.Data) {
			return nil, errors.New("value: JSON value is not valid JSON")
		}
		j = jsonValue{Encoding: "json", JSON: json.RawMessage(v.Data)}
	case Raw:
		s := base64.StdEncoding.EncodeToString(v.Data)
		j = jsonValue{Encoding: "raw", Base64: &s}
	default:
		return nil, fmt.Errorf("value: unknown encoding %d", v.Encoding)
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the form above. An absent text or base64 field is an
// empty value; an absent json field, bad base64 or an unknown encoding is
// an error.
func (v *Value) UnmarshalJSON(b []byte) error {
	var j jsonValue
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("value: %w", err)
	}
	switch j.Encoding {
	case "text":
		s := ""
		if j.Text != nil {
			s = *j.Text
		}
		*v = Value{Data: []byte(s), Encoding: Text}
	case "json":
		if len(j.JSON) == 0 {
			return errors.New(`value: encoding "json" without a "json" field`)
		}
		*v = Value{Data: []byte(j.JSON), Encoding: JSON}
	case "raw":
		data := []byte{}
		if j.Base64 != nil {
			var err error
			if data, err = base64.StdEncoding.DecodeString(*j.Base64); err != nil {
				return fmt.Errorf("value: bad base64: %w", err)
			}
		}
		*v = Value{Data: data, Encoding: Raw}
	default:
		return fmt.Errorf("value: unknown encoding %q (text, json, raw)", j.Encoding)
	}
	return nil
}
