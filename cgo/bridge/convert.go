package bridge

import (
	"github.com/telepathine/telepathine/engine"
	apiv1 "github.com/telepathine/telepathine/gen/api/v1"
)

// The conversions below turn the engine's results into the api messages
// that cross the ABI. They copy nothing the message does not need: the
// bytes are copied once more when the message is serialized.

// ValueToProto converts a value.
func ValueToProto(v engine.Value) *apiv1.Value {
	return &apiv1.Value{Data: v.Data, Encoding: apiv1.Encoding(v.Encoding)}
}

// KeyValueToProto converts a key/value with its metadata.
func KeyValueToProto(kv engine.KeyValue) *apiv1.KeyValue {
	return &apiv1.KeyValue{
		Peer: kv.Peer, Key: kv.Key, Value: ValueToProto(kv.Value),
		ExpiresAtMs: kv.ExpiresAt, Version: kv.Version,
	}
}

// PeersToProto converts a peer list.
func PeersToProto(infos []engine.PeerInfo) *apiv1.PeerList {
	out := &apiv1.PeerList{Peers: make([]*apiv1.PeerInfo, len(infos))}
	for i, p := range infos {
		state := apiv1.PeerState_PEER_STATE_DEAD
		if p.Alive {
			state = apiv1.PeerState_PEER_STATE_ALIVE
		}
		out.Peers[i] = &apiv1.PeerInfo{
			Name: p.Name, Addr: p.Addr, State: state, Phi: p.Phi,
			Generation: p.Generation, Heartbeat: p.Heartbeat, Version: p.Version,
		}
	}
	return out
}

// RepliesToProto converts the replies of an ask.
func RepliesToProto(rs []engine.Answer) *apiv1.AskReplies {
	out := &apiv1.AskReplies{Replies: make([]*apiv1.Reply, len(rs))}
	for i, r := range rs {
		out.Replies[i] = &apiv1.Reply{Peer: r.Peer, Value: ValueToProto(r.Value)}
	}
	return out
}

// EventToProto converts an event; the kind becomes the oneof.
func EventToProto(e *engine.Event) *apiv1.Event {
	out := &apiv1.Event{Name: e.Name(), Peer: e.Peer}
	change := func() *apiv1.KeyChange {
		return &apiv1.KeyChange{Key: e.Key, Value: ValueToProto(e.Value), ExpiresAtMs: e.ExpiresAt}
	}
	switch e.Kind {
	case engine.KindStart:
		out.Kind = &apiv1.Event_Start{Start: &apiv1.Lifecycle{}}
	case engine.KindStop:
		out.Kind = &apiv1.Event_Stop{Stop: &apiv1.Lifecycle{}}
	case engine.KindSet:
		out.Kind = &apiv1.Event_Set{Set: change()}
	case engine.KindDelete:
		out.Kind = &apiv1.Event_Delete{Delete: change()}
	case engine.KindExpired:
		out.Kind = &apiv1.Event_Expired{Expired: change()}
	case engine.KindSay:
		out.Kind = &apiv1.Event_Say{Say: &apiv1.Said{Event: e.Key, Data: ValueToProto(e.Value), ExpiresAtMs: e.ExpiresAt}}
	case engine.KindAsk:
		out.Kind = &apiv1.Event_Ask{Ask: &apiv1.Asked{
			Event: e.Key, Data: ValueToProto(e.Value), ExpiresAtMs: e.ExpiresAt, AskId: e.AskID,
		}}
	case engine.KindPeerNew:
		out.Kind = &apiv1.Event_PeerNew{PeerNew: &apiv1.PeerChange{}}
	case engine.KindPeerStart:
		out.Kind = &apiv1.Event_PeerAlive{PeerAlive: &apiv1.PeerChange{}}
	case engine.KindPeerStop:
		out.Kind = &apiv1.Event_PeerDead{PeerDead: &apiv1.PeerChange{}}
	}
	// An unknown kind (an engine newer than this bridge) keeps name and
	// peer with no oneof set: readers see an event they do not know.
	return out
}

// StatsToProto converts a stats snapshot.
func StatsToProto(s engine.Stats) *apiv1.Stats {
	t := s.Transport
	return &apiv1.Stats{
		Rounds: s.Rounds, Sets: s.Sets, Says: s.Says, PushBatches: s.PushBatches, Followups: s.Followups,
		PacketsSent: s.PacketsSent, PacketsReceived: s.PacketsReceived,
		Truncated: s.Truncated, Oversized: s.Oversized, BadMagic: s.BadMagic, BadVersion: s.BadVersion,
		Malformed: s.Malformed, BadDelta: s.BadDelta, ForeignCluster: s.ForeignCluster,
		SelfPackets: s.SelfPackets, EncodeErrors: s.EncodeErrors, SendErrors: s.SendErrors,
		PushDropped: s.PushDropped, LateReplies: s.LateReplies,
		EventsDropped: s.EventsDropped, HandlerPanics: s.HandlerPanics, Deaths: s.Deaths,
		Peers: uint64(s.Peers), LivePeers: uint64(s.LivePeers), DeadPeers: uint64(s.DeadPeers),
		Keys: uint64(s.Keys), PendingRuns: uint64(s.PendingRuns),
		Transport: &apiv1.TransportStats{
			UdpPacketsSent: t.UDPPacketsSent, UdpBytesSent: t.UDPBytesSent,
			UdpPacketsReceived: t.UDPPacketsReceived, UdpBytesReceived: t.UDPBytesReceived,
			TcpFramesSent: t.TCPFramesSent, TcpBytesSent: t.TCPBytesSent,
			TcpFramesReceived: t.TCPFramesReceived, TcpBytesReceived: t.TCPBytesReceived,
			SendErrors: t.SendErrors, Dropped: t.Dropped, BadFrames: t.BadFrames,
			ConnsOpened: t.ConnsOpened, ConnsClosed: t.ConnsClosed,
		},
		Drops: s.DropCauses(),
	}
}

// KeysToProto converts a key list.
func KeysToProto(keys []string) *apiv1.KeyList { return &apiv1.KeyList{Keys: keys} }

// InfoToProto describes the local peer.
func InfoToProto(p *engine.Peer) *apiv1.EngineInfo {
	return &apiv1.EngineInfo{
		Name: p.Name(), Addr: p.Addr(), Generation: p.Generation(),
		Running: p.Running(), Cluster: p.Config().Cluster,
	}
}
