package engine

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValueJSONRoundTrip(t *testing.T) {
	doc, err := JSONValue(map[string]int{"cpus": 8})
	require.NoError(t, err)
	cases := []struct {
		v    Value
		want string
	}{
		{String("héllo"), `{"encoding":"text","text":"héllo"}`},
		{doc, `{"encoding":"json","json":{"cpus":8}}`},
		{Bytes([]byte{0, 1, 0xff}), `{"encoding":"raw","base64":"AAH/"}`},
		{Bytes(nil), `{"encoding":"raw","base64":""}`},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.v)
		require.NoError(t, err)
		assert.JSONEq(t, c.want, string(b))
		var back Value
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, c.v.Encoding, back.Encoding)
		assert.Equal(t, string(c.v.Data), string(back.Data))
	}
}

func TestValueJSONRejectsBadInput(t *testing.T) {
	for _, in := range []string{
		`{"encoding":"text"}`, `{"encoding":"json"}`, `{"encoding":"raw","base64":"!!"}`,
		`{"encoding":"yaml","text":"x"}`, `[1]`,
	} {
		var v Value
		assert.ErrorIs(t, json.Unmarshal([]byte(in), &v), ErrInvalidArgument, in)
	}
	_, err := json.Marshal(Value{Data: []byte{0xff}, Encoding: Text})
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = json.Marshal(Value{Encoding: 9})
	assert.ErrorIs(t, err, ErrInvalidArgument)
}
