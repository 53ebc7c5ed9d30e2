package bridge

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"strings"
	"time"

	"github.com/telepathine/telepathine/engine"
	apiv1 "github.com/telepathine/telepathine/gen/api/v1"
	"google.golang.org/protobuf/proto"
)

// Limits of what crosses the ABI, beyond the engine's own.
const (
	// MaxConfigBytes bounds a serialized Config (seeds included).
	MaxConfigBytes = 1 << 20
	// MaxDurationMS is the longest duration in milliseconds that a
	// time.Duration holds (about 292 years).
	MaxDurationMS = math.MaxInt64 / int64(time.Millisecond)
)

// ConfigFromProto decodes a serialized api Config into an engine Config:
// the preset's config with every non-zero field of the message applied
// ("zero means default"), the flat proto fields going to the engine's
// groups (phi_* to Failure, max_* and queues to Limits). Durations are
// milliseconds. Only what the conversion itself cannot do is refused here
// (an unknown enum, a duration beyond time.Duration); ranges are the
// engine's to judge when the Peer is made. Unknown fields are
// refused: they come from a binding newer than this library, and ignoring
// them would run with a configuration nobody asked for.
func ConfigFromProto(b []byte) (engine.Config, error) {
	if len(b) > MaxConfigBytes {
		return engine.Config{}, fmt.Errorf("%w: config of %d bytes exceeds %d", engine.ErrConfig, len(b), MaxConfigBytes)
	}
	var c apiv1.Config
	if err := proto.Unmarshal(b, &c); err != nil {
		return engine.Config{}, fmt.Errorf("%w: config does not decode as telepathine.api.v1.Config: %v", engine.ErrConfig, err)
	}
	if len(c.ProtoReflect().GetUnknown()) > 0 {
		return engine.Config{}, fmt.Errorf("%w: config holds fields this library does not know (ABI %d.%d)", engine.ErrConfig, ABIMajor, ABIMinor)
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
		return cfg, fmt.Errorf("%w: unknown preset %d", engine.ErrConfig, c.GetPreset())
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
		return cfg, fmt.Errorf("%w: unknown transport mode %d", engine.ErrConfig, c.GetTransportMode())
	}

	num := func(dst *int, v uint32) {
		if v != 0 {
			*dst = int(v)
		}
	}
	num(&cfg.MTU, c.GetMtu())
	num(&cfg.Limits.PacketSize, c.GetMaxPacketSize())
	num(&cfg.Fanout, c.GetFanout())
	num(&cfg.QuietFanout, c.GetQuietFanout())
	num(&cfg.PushDirectMax, c.GetPushDirectMax())
	num(&cfg.DeltaBudget, c.GetDeltaBudget())
	num(&cfg.FullDigestEvery, c.GetFullDigestEvery())
	num(&cfg.PushFanout, c.GetPushFanout())
	num(&cfg.Relay.Trees, c.GetRelayTrees())
	if c.GetRelayJoinPush() {
		cfg.Relay.JoinPush = true
	}
	num(&cfg.Limits.PushQueueBytes, c.GetPushQueueBytes())
	num(&cfg.Failure.Window, c.GetPhiWindow())
	num(&cfg.Limits.KeySize, c.GetMaxKeySize())
	num(&cfg.Limits.ValueSize, c.GetMaxValueSize())
	num(&cfg.Limits.EventNameSize, c.GetMaxEventName())
	num(&cfg.Limits.EventPayloadSize, c.GetMaxEventPayload())
	num(&cfg.Limits.HandlerQueue, c.GetHandlerQueue())
	num(&cfg.Limits.Peers, c.GetMaxPeers())
	num(&cfg.Liveness.Watchers, c.GetWatchers())
	num(&cfg.Liveness.Quorum, c.GetQuorum())

	var errs []string
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
	dur(&cfg.Liveness.QuietInterval, c.GetQuietIntervalMs(), "quiet_interval_ms")
	dur(&cfg.Liveness.FullDigestPeriod, c.GetFullDigestPeriodMs(), "full_digest_period_ms")
	dur(&cfg.Liveness.SuspectGrace, c.GetSuspectGraceMs(), "suspect_grace_ms")
	dur(&cfg.Liveness.LeaveTimeout, c.GetLeaveTimeoutMs(), "leave_timeout_ms")

	securityFrom(c, &cfg.Security)
	identityFrom(c, &cfg.Identity)

	if t := c.GetPhiThreshold(); t != 0 {
		cfg.Failure.Threshold = t
	}
	if len(errs) > 0 {
		return cfg, fmt.Errorf("%w: %s", engine.ErrConfig, strings.Join(errs, "; "))
	}
	return cfg, nil
}

// securityFrom copies the keyring fields (the message may be reused, so the
// keys are cloned). The engine judges them: key sizes, the passphrase.
func securityFrom(c *apiv1.Config, sec *engine.SecurityConfig) {
	if ks := c.GetKeys(); len(ks) > 0 {
		sec.Keys = make([][]byte, len(ks))
		for i, k := range ks {
			sec.Keys[i] = bytes.Clone(k)
		}
	}
	sec.NetworkKey = c.GetNetworkKey()
	sec.AcceptPlaintext = c.GetAcceptPlaintext()
	sec.SendPlaintext = c.GetSendPlaintext()
	sec.StateDir = c.GetStateDir()
}

// identityFrom copies the identity-mode fields (the key is cloned: the
// message may be reused). The engine judges them at New.
func identityFrom(c *apiv1.Config, id *engine.IdentityConfig) {
	id.KeyFile = c.GetIdentityKeyFile()
	if k := c.GetIdentityKey(); len(k) > 0 {
		id.Key = bytes.Clone(k)
	}
	id.AllowList = c.GetAllowKeys()
	id.TOFU = c.GetTofu()
}
