package bridge

import (
	"fmt"
	"maps"
	"math"
	"time"

	"github.com/telepathine/telepathine/engine"
	apiv1 "github.com/telepathine/telepathine/gen/api/v1"
	"google.golang.org/protobuf/proto"
)

// Limits of what crosses the ABI, beyond the engine's own.
const (
	// MaxConfigBytes bounds a serialized Config (seeds included).
	MaxConfigBytes = 1 << 20
	// MaxQueue bounds Config.handler_queue and tp_events_open's queue_len:
	// a queue is allocated whole when a subscription is made.
	MaxQueue = 1 << 20
	// MaxPhiWindow bounds Config.phi_window: each peer's detector holds
	// that many intervals.
	MaxPhiWindow = 1 << 16
	// MaxDurationMS is the longest duration in milliseconds that a
	// time.Duration holds (about 292 years).
	MaxDurationMS = math.MaxInt64 / int64(time.Millisecond)
	// patternSlack is what a pattern may have beyond MaxKeySize: event
	// names are a key or an event name behind a prefix ("delete:KEY").
	patternSlack = 64
)

// ConfigFromProto decodes a serialized api Config into an engine Config:
// the preset's config with every non-zero field of the message applied
// ("zero means default"). Durations are milliseconds. Unknown fields are
// refused: they come from a binding newer than this library, and ignoring
// them would run with a configuration nobody asked for.
func ConfigFromProto(b []byte) (engine.Config, error) {
	if len(b) > MaxConfigBytes {
		return engine.Config{}, errorf(ErrConfig, "config of %d bytes exceeds %d", len(b), MaxConfigBytes)
	}
	var c apiv1.Config
	if err := proto.Unmarshal(b, &c); err != nil {
		return engine.Config{}, errorf(ErrConfig, "config does not decode as telepathine.api.v1.Config: %v", err)
	}
	if len(c.ProtoReflect().GetUnknown()) > 0 {
		return engine.Config{}, errorf(ErrConfig, "config holds fields this library does not know (ABI %d.%d)", ABIMajor, ABIMinor)
	}
	return configFrom(&c)
}

func configFrom(c *apiv1.Config) (engine.Config, error) {
	var cfg engine.Config
	switch c.GetPreset() {
	case apiv1.Preset_PRESET_UNSPECIFIED, apiv1.Preset_PRESET_LAN:
		cfg = engine.LANConfig()
	case apiv1.Preset_PRESET_WAN:
		cfg = engine.WANConfig()
	case apiv1.Preset_PRESET_LOCAL:
		cfg = engine.LocalConfig()
	default:
		return cfg, errorf(ErrConfig, "unknown preset %d", c.GetPreset())
	}
	str := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	str(&cfg.Name, c.GetName())
	str(&cfg.Cluster, c.GetCluster())
	str(&cfg.BindAddr, c.GetBindAddr())
	str(&cfg.AdvertiseAddr, c.GetAdvertiseAddr())
	if len(c.GetSeeds()) > 0 {
		cfg.Seeds = append([]string(nil), c.GetSeeds()...)
	}
	if len(c.GetAddressMap()) > 0 {
		cfg.AddressMap = maps.Clone(c.GetAddressMap())
	}
	if c.GetGeneration() != 0 {
		cfg.Generation = c.GetGeneration()
	}
	if c.GetSeed() != 0 {
		cfg.RandSeed = c.GetSeed()
	}
	switch c.GetTransportMode() {
	case apiv1.TransportMode_TRANSPORT_MODE_UNSPECIFIED, apiv1.TransportMode_TRANSPORT_MODE_UDP_PREFERRED:
		cfg.TransportMode = engine.UDPPreferred
	case apiv1.TransportMode_TRANSPORT_MODE_TCP_ONLY:
		cfg.TransportMode = engine.TCPOnly
	default:
		return cfg, errorf(ErrConfig, "unknown transport mode %d", c.GetTransportMode())
	}

	var errs []string
	num := func(dst *int, v uint32, limit uint32, name string) {
		switch {
		case v == 0:
		case limit > 0 && v > limit:
			errs = append(errs, fmt.Sprintf("%s %d above %d", name, v, limit))
		default:
			*dst = int(v)
		}
	}
	num(&cfg.MTU, c.GetMtu(), 0, "mtu")
	num(&cfg.Limits.PacketSize, c.GetMaxPacketSize(), 0, "max_packet_size")
	num(&cfg.Fanout, c.GetFanout(), 0, "fanout")
	num(&cfg.QuietFanout, c.GetQuietFanout(), 0, "quiet_fanout")
	num(&cfg.PushDirectMax, c.GetPushDirectMax(), 0, "push_direct_max")
	num(&cfg.DeltaBudget, c.GetDeltaBudget(), 0, "delta_budget")
	num(&cfg.FullDigestEvery, c.GetFullDigestEvery(), 0, "full_digest_every")
	num(&cfg.PushFanout, c.GetPushFanout(), 0, "push_fanout")
	num(&cfg.Limits.PushQueueBytes, c.GetPushQueueBytes(), 0, "push_queue_bytes")
	num(&cfg.Failure.Window, c.GetPhiWindow(), MaxPhiWindow, "phi_window")
	num(&cfg.Limits.KeySize, c.GetMaxKeySize(), 0, "max_key_size")
	num(&cfg.Limits.ValueSize, c.GetMaxValueSize(), 0, "max_value_size")
	num(&cfg.Limits.EventNameSize, c.GetMaxEventName(), 0, "max_event_name")
	num(&cfg.Limits.EventPayloadSize, c.GetMaxEventPayload(), 0, "max_event_payload")
	num(&cfg.Limits.HandlerQueue, c.GetHandlerQueue(), MaxQueue, "handler_queue")
	num(&cfg.Limits.Peers, c.GetMaxPeers(), 0, "max_peers")

	dur := func(dst *time.Duration, ms uint64, name string) {
		switch {
		case ms == 0:
		case ms > uint64(MaxDurationMS):
			errs = append(errs, fmt.Sprintf("%s %d out of range", name, ms))
		default:
			*dst = time.Duration(ms) * time.Millisecond
		}
	}
	dur(&cfg.GossipInterval, c.GetGossipIntervalMs(), "gossip_interval_ms")
	dur(&cfg.HeartbeatInterval, c.GetHeartbeatIntervalMs(), "heartbeat_interval_ms")
	dur(&cfg.QuietAfter, c.GetQuietAfterMs(), "quiet_after_ms")
	dur(&cfg.Failure.MinStdDev, c.GetPhiMinStdDevMs(), "phi_min_std_dev_ms")
	dur(&cfg.Failure.AcceptablePause, c.GetPhiAcceptablePauseMs(), "phi_acceptable_pause_ms")
	dur(&cfg.DeadGrace, c.GetDeadGraceMs(), "dead_grace_ms")
	dur(&cfg.TombstoneGrace, c.GetTombstoneGraceMs(), "tombstone_grace_ms")
	dur(&cfg.SayDuration, c.GetSayDurationMs(), "say_duration_ms")

	if t := c.GetPhiThreshold(); t != 0 {
		if math.IsNaN(t) || math.IsInf(t, 0) || t < 0 {
			errs = append(errs, fmt.Sprintf("phi_threshold %v is not a positive number", t))
		} else {
			cfg.Failure.Threshold = t
		}
	}
	if len(errs) > 0 {
		return cfg, errorf(ErrConfig, "invalid config: %v", errs)
	}
	return cfg, nil
}
