package engine

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// valueJSON is a Value's JSON form: the encoding's name and the value in
// the field that suits it, so a text stays readable, a JSON document stays
// a document and raw bytes travel as base64.
type valueJSON struct {
	Encoding string          `json:"encoding"`
	Text     *string         `json:"text,omitempty"`
	JSON     json.RawMessage `json:"json,omitempty"`
	Base64   *string         `json:"base64,omitempty"`
}

// MarshalJSON writes {"encoding":"text","text":...},
// {"encoding":"json","json":...} or {"encoding":"raw","base64":...}.
func (v Value) MarshalJSON() ([]byte, error) {
	var j valueJSON
	switch v.Encoding {
	case Text:
		if !utf8.Valid(v.Data) {
			return nil, fmt.Errorf("%w: text value is not valid UTF-8", ErrInvalidArgument)
		}
		s := string(v.Data)
		j = valueJSON{Encoding: "text", Text: &s}
	case JSON:
		if !json.Valid(v.Data) {
			return nil, fmt.Errorf("%w: JSON value is not valid JSON", ErrInvalidArgument)
		}
		j = valueJSON{Encoding: "json", JSON: json.RawMessage(v.Data)}
	case Raw:
		s := base64.StdEncoding.EncodeToString(v.Data)
		j = valueJSON{Encoding: "raw", Base64: &s}
	default:
		return nil, fmt.Errorf("%w: unknown encoding %d", ErrInvalidArgument, v.Encoding)
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (v *Value) UnmarshalJSON(b []byte) error {
	var j valueJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	switch j.Encoding {
	case "text":
		if j.Text == nil {
			return fmt.Errorf("%w: a text value needs \"text\"", ErrInvalidArgument)
		}
		*v = String(*j.Text)
	case "json":
		if len(j.JSON) == 0 {
			return fmt.Errorf("%w: a JSON value needs \"json\"", ErrInvalidArgument)
		}
		*v = Value{Data: append([]byte(nil), j.JSON...), Encoding: JSON}
	case "raw":
		var data []byte
		if j.Base64 != nil {
			d, err := base64.StdEncoding.DecodeString(*j.Base64)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
			}
			data = d
		}
		*v = Bytes(data)
	default:
		return fmt.Errorf("%w: unknown encoding %q", ErrInvalidArgument, j.Encoding)
	}
	return nil
}
