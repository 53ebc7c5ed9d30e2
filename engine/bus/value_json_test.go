package bus

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValueJSONRoundTrip(t *testing.T) {
	cases := []struct {
		v    Value
		form string
	}{
		{Value{Data: []byte("héllo \"quoted\""), Encoding: Text}, `{"encoding":"text","text":"héllo \"quoted\""}`},
		{Value{Data: []byte(""), Encoding: Text}, `{"encoding":"text","text":""}`},
		{Value{Data: []byte(`{"a":[1,2.5,true,null],"b":{"c":"d"}}`), Encoding: JSON},
			`{"encoding":"json","json":{"a":[1,2.5,true,null],"b":{"c":"d"}}}`},
		{Value{Data: []byte(`null`), Encoding: JSON}, `{"encoding":"json","json":null}`},
		{Value{Data: []byte{0, 1, 0xfe, 0xff}, Encoding: Raw}, `{"encoding":"raw","base64":"AAH+/w=="}`},
		{Value{Data: []byte{}, Encoding: Raw}, `{"encoding":"raw","base64":""}`},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.v)
		require.NoError(t, err)
		assert.JSONEq(t, c.form, string(b))
		var back Value
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, c.v, back, "round trip of %s", c.form)
		// Through a pointer and inside a struct too.
		b, err = json.Marshal(struct {
			V *Value `json:"v"`
		}{&c.v})
		require.NoError(t, err)
		assert.JSONEq(t, `{"v":`+c.form+`}`, string(b))
	}
}

func TestValueJSONAbsentFields(t *testing.T) {
	var v Value
	require.NoError(t, json.Unmarshal([]byte(`{"encoding":"text"}`), &v))
	assert.Equal(t, Value{Data: []byte{}, Encoding: Text}, v)
	require.NoError(t, json.Unmarshal([]byte(`{"encoding":"raw"}`), &v))
	assert.Equal(t, Value{Data: []byte{}, Encoding: Raw}, v)
}

func TestValueJSONRejects(t *testing.T) {
	for _, in := range []string{
		`{"encoding":"json"}`,
		`{"encoding":"raw","base64":"not base64!"}`,
		`{"encoding":"yaml","text":"x"}`,
		`{}`,
		`"text"`,
		`{"encoding":"text","text":7}`,
	} {
		var v Value
		assert.Error(t, json.Unmarshal([]byte(in), &v), in)
	}
	_, err := json.Marshal(Value{Data: []byte("{"), Encoding: JSON})
	assert.Error(t, err)
	_, err = json.Marshal(Value{Data: []byte("x"), Encoding: 9})
	assert.Error(t, err)
}
