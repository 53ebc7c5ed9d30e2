package bridge

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/telepathine/telepathine/engine"
	apiv1 "github.com/telepathine/telepathine/gen/api/v1"
)

func encode(t *testing.T, c *apiv1.Config) []byte {
	t.Helper()
	b, err := proto.Marshal(c)
	require.NoError(t, err)
	return b
}

func TestEmptyConfigIsLAN(t *testing.T) {
	for _, b := range [][]byte{nil, {}, encode(t, &apiv1.Config{Preset: apiv1.Preset_PRESET_LAN})} {
		cfg, err := ConfigFromProto(b)
		require.NoError(t, err)
		assert.Equal(t, engine.LANConfig(), cfg)
	}
}

func TestPresets(t *testing.T) {
	cfg, err := ConfigFromProto(encode(t, &apiv1.Config{Preset: apiv1.Preset_PRESET_WAN}))
	require.NoError(t, err)
	assert.Equal(t, engine.WANConfig(), cfg)
	cfg, err = ConfigFromProto(encode(t, &apiv1.Config{Preset: apiv1.Preset_PRESET_LOCAL}))
	require.NoError(t, err)
	assert.Equal(t, engine.LocalConfig(), cfg)
}

// Every field of the message reaches its engine field; zero fields keep
// the preset's value.
func TestConfigOverrides(t *testing.T) {
	c := &apiv1.Config{
		Preset: apiv1.Preset_PRESET_LOCAL, Name: "n1", Cluster: "c1", BindAddr: "127.0.0.1:0",
		AdvertiseAddr: "127.0.0.1:9", Seeds: []string{"a:1", "b:2"}, Generation: 7,
		TransportMode: apiv1.TransportMode_TRANSPORT_MODE_TCP_ONLY, Mtu: 1200, MaxPacketSize: 16 << 20,
		GossipIntervalMs: 11, Fanout: 5, HeartbeatIntervalMs: 22, DeltaBudget: 4096, FullDigestEvery: 3,
		PushFanout: 2, PushQueueBytes: 1 << 20, PhiThreshold: 9.5, PhiWindow: 100, PhiMinStdDevMs: 33,
		PhiAcceptablePauseMs: 44, DeadGraceMs: 55, TombstoneGraceMs: 66, SayDurationMs: 77,
		MaxKeySize: 512, MaxValueSize: 1 << 20, MaxEventName: 128, MaxEventPayload: 1 << 16,
		HandlerQueue: 64, MaxPeers: 10, Seed: 99, QuietFanout: 2, QuietAfterMs: 88, PushDirectMax: 7,
	}
	got, err := ConfigFromProto(encode(t, c))
	require.NoError(t, err)
	ms := time.Millisecond
	want := engine.LocalConfig()
	want.Name, want.Cluster, want.BindAddr, want.AdvertiseAddr = "n1", "c1", "127.0.0.1:0", "127.0.0.1:9"
	want.Seeds, want.Generation, want.TransportMode = []string{"a:1", "b:2"}, 7, engine.TCPOnly
	want.MTU, want.Limits.PacketSize = 1200, 16<<20
	want.GossipInterval, want.Fanout, want.HeartbeatInterval = 11*ms, 5, 22*ms
	want.DeltaBudget, want.FullDigestEvery, want.PushFanout, want.Limits.PushQueueBytes = 4096, 3, 2, 1<<20
	want.Failure = engine.FailureConfig{Threshold: 9.5, Window: 100, MinStdDev: 33 * ms, AcceptablePause: 44 * ms}
	want.DeadGrace, want.TombstoneGrace, want.SayDuration = 55*ms, 66*ms, 77*ms
	want.Limits.KeySize, want.Limits.ValueSize, want.Limits.EventNameSize, want.Limits.EventPayloadSize = 512, 1<<20, 128, 1<<16
	want.Limits.HandlerQueue, want.Limits.Peers, want.RandSeed = 64, 10, 99
	want.QuietFanout, want.QuietAfter, want.PushDirectMax = 2, 88*ms, 7
	assert.Equal(t, want, got)

	// The engine accepts it.
	p, err := engine.New(got)
	require.NoError(t, err)
	require.NoError(t, p.Close())
}

func TestBadConfigs(t *testing.T) {
	unknownField := protowire.AppendTag(nil, 9999, protowire.VarintType)
	unknownField = protowire.AppendVarint(unknownField, 1)
	cases := map[string][]byte{
		"garbage":        {0xff, 0xff, 0xff},
		"truncated":      encode(t, &apiv1.Config{Cluster: "abc"})[:3],
		"invalid UTF-8":  append(protowire.AppendTag(nil, 3, protowire.BytesType), 2, 0xc3, 0x28),
		"unknown field":  unknownField,
		"unknown preset": encode(t, &apiv1.Config{Preset: 42}),
		"unknown mode":   encode(t, &apiv1.Config{TransportMode: 42}),
		"duration":       encode(t, &apiv1.Config{GossipIntervalMs: math.MaxUint64}),
		"too large":      make([]byte, MaxConfigBytes+1),
	}
	for name, b := range cases {
		_, err := ConfigFromProto(b)
		requireCode(t, ErrConfig, err)
		t.Logf("%s: %v", name, err)
	}
	// Decodes, but the engine refuses it: still a config error, with the
	// engine's message.
	engineRefuses := map[string]*apiv1.Config{
		"small MTU":        {Mtu: 100},
		"bad bind address": {BindAddr: "no port"},
		"queue too large":  {HandlerQueue: engine.MaxHandlerQueue + 1},
		"window too large": {PhiWindow: engine.MaxPhiWindow + 1},
		"NaN phi":          {PhiThreshold: math.NaN()},
		"negative phi":     {PhiThreshold: -1},
		"infinite phi":     {PhiThreshold: math.Inf(1)},
	}
	b := New()
	for name, c := range engineRefuses {
		_, err := b.NewEngine(encode(t, c))
		requireCode(t, ErrConfig, err)
		assert.ErrorIs(t, err, engine.ErrConfig, name)
		assert.True(t, strings.HasPrefix(err.Error(), "telepathine: invalid config: "), "%s: %v", name, err)
	}
	assert.Equal(t, 0, b.Handles())
}

// Every field of the message has an effect, and together they reach every
// engine Config field a binding can meaningfully set: a field added to the
// engine without one in the schema fails here.
func TestConfigFieldsCoverTheEngine(t *testing.T) {
	base := engine.LocalConfig()
	reached := map[string]bool{}
	fields := (&apiv1.Config{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Name() == "preset" {
			continue
		}
		c := &apiv1.Config{Preset: apiv1.Preset_PRESET_LOCAL}
		m := c.ProtoReflect()
		switch {
		case fd.IsMap():
			m.Mutable(fd).Map().Set(protoreflect.ValueOfString("10.0.0.1:7946").MapKey(), protoreflect.ValueOfString("10.0.0.2:7946"))
		case fd.IsList() && fd.Kind() == protoreflect.BytesKind:
			m.Mutable(fd).List().Append(protoreflect.ValueOfBytes(make([]byte, 32)))
		case fd.IsList():
			m.Mutable(fd).List().Append(protoreflect.ValueOfString("10.0.0.1:7946"))
		case fd.Kind() == protoreflect.BytesKind:
			m.Set(fd, protoreflect.ValueOfBytes(make([]byte, 32)))
		case fd.Kind() == protoreflect.BoolKind:
			m.Set(fd, protoreflect.ValueOfBool(true))
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString("x:1"))
		case fd.Kind() == protoreflect.EnumKind:
			m.Set(fd, protoreflect.ValueOfEnum(2))
		case fd.Kind() == protoreflect.Uint32Kind:
			m.Set(fd, protoreflect.ValueOfUint32(7))
		case fd.Kind() == protoreflect.Uint64Kind:
			m.Set(fd, protoreflect.ValueOfUint64(7))
		case fd.Kind() == protoreflect.DoubleKind:
			m.Set(fd, protoreflect.ValueOfFloat64(9.5))
		default:
			t.Fatalf("field %s of kind %v: teach this test", fd.Name(), fd.Kind())
		}
		got, err := ConfigFromProto(encode(t, c))
		require.NoError(t, err, fd.Name())
		changed := changedFields(reflect.ValueOf(base), reflect.ValueOf(got), "")
		assert.NotEmpty(t, changed, "Config.%s has no effect", fd.Name())
		for _, f := range changed {
			reached[f] = true
		}
	}
	notSettable := map[string]bool{"Transport": true, "Clock": true, "Logger": true, "Resolver": true} // Go values
	for _, f := range leafFields(reflect.TypeOf(engine.Config{}), "") {
		if !notSettable[f] {
			assert.True(t, reached[f], "engine.Config.%s has no field in telepathine.api.v1.Config", f)
		}
	}
}

// group says whether a Config field is a group of fields (Failure, Limits)
// to look into.
func group(t reflect.Type) bool { return t.Kind() == reflect.Struct }

// leafFields names the exported fields of t, groups looked into
// ("Failure.Threshold").
func leafFields(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		switch {
		case !f.IsExported():
		case group(f.Type):
			out = append(out, leafFields(f.Type, prefix+f.Name+".")...)
		default:
			out = append(out, prefix+f.Name)
		}
	}
	return out
}

// changedFields names the leaf fields that differ between a and b.
func changedFields(a, b reflect.Value, prefix string) []string {
	var out []string
	for i := range a.NumField() {
		f := a.Type().Field(i)
		switch {
		case !f.IsExported():
		case group(f.Type):
			out = append(out, changedFields(a.Field(i), b.Field(i), prefix+f.Name+".")...)
		case !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()):
			out = append(out, prefix+f.Name)
		}
	}
	return out
}
