package bridge

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/telepathine/telepathine/engine"
	apiv1 "github.com/telepathine/telepathine/gen/api/v1"
	"google.golang.org/protobuf/proto"
)

func TestConfigAddressMapCrosses(t *testing.T) {
	b, err := proto.Marshal(&apiv1.Config{AddressMap: map[string]string{"10.0.0.1:9000": "203.0.113.7:19000"}})
	require.NoError(t, err)
	cfg, err := ConfigFromProto(b)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"10.0.0.1:9000": "203.0.113.7:19000"}, cfg.AddressMap)

	b, err = proto.Marshal(&apiv1.Config{AddressMap: map[string]string{"10.0.0.1": "x"}})
	require.NoError(t, err)
	br := New()
	_, err = br.NewEngine(b) // the engine refuses a key that is not host:port
	require.ErrorIs(t, err, engine.ErrConfig)
}
