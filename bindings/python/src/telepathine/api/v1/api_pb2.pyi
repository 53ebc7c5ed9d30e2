from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Preset(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRESET_UNSPECIFIED: _ClassVar[Preset]
    PRESET_LAN: _ClassVar[Preset]
    PRESET_WAN: _ClassVar[Preset]
    PRESET_LOCAL: _ClassVar[Preset]

class TransportMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSPORT_MODE_UNSPECIFIED: _ClassVar[TransportMode]
    TRANSPORT_MODE_UDP_PREFERRED: _ClassVar[TransportMode]
    TRANSPORT_MODE_TCP_ONLY: _ClassVar[TransportMode]

class Encoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENCODING_RAW: _ClassVar[Encoding]
    ENCODING_TEXT: _ClassVar[Encoding]
    ENCODING_JSON: _ClassVar[Encoding]

class PeerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PEER_STATE_UNSPECIFIED: _ClassVar[PeerState]
    PEER_STATE_ALIVE: _ClassVar[PeerState]
    PEER_STATE_DEAD: _ClassVar[PeerState]
PRESET_UNSPECIFIED: Preset
PRESET_LAN: Preset
PRESET_WAN: Preset
PRESET_LOCAL: Preset
TRANSPORT_MODE_UNSPECIFIED: TransportMode
TRANSPORT_MODE_UDP_PREFERRED: TransportMode
TRANSPORT_MODE_TCP_ONLY: TransportMode
ENCODING_RAW: Encoding
ENCODING_TEXT: Encoding
ENCODING_JSON: Encoding
PEER_STATE_UNSPECIFIED: PeerState
PEER_STATE_ALIVE: PeerState
PEER_STATE_DEAD: PeerState

class Config(_message.Message):
    __slots__ = ("preset", "name", "cluster", "bind_addr", "advertise_addr", "seeds", "generation", "transport_mode", "mtu", "max_packet_size", "gossip_interval_ms", "fanout", "heartbeat_interval_ms", "delta_budget", "full_digest_every", "push_fanout", "push_queue_bytes", "phi_threshold", "phi_window", "phi_min_std_dev_ms", "phi_acceptable_pause_ms", "dead_grace_ms", "tombstone_grace_ms", "say_duration_ms", "max_key_size", "max_value_size", "max_event_name", "max_event_payload", "handler_queue", "max_peers", "seed", "quiet_fanout", "quiet_after_ms", "push_direct_max", "address_map", "keys", "network_key", "accept_plaintext", "send_plaintext", "state_dir", "watchers", "quorum", "quiet_interval_ms", "full_digest_period_ms", "suspect_grace_ms", "leave_timeout_ms", "relay_trees", "relay_join_push", "identity_key_file", "identity_key", "allow_keys", "tofu")
    class AddressMapEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PRESET_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    BIND_ADDR_FIELD_NUMBER: _ClassVar[int]
    ADVERTISE_ADDR_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_MODE_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    MAX_PACKET_SIZE_FIELD_NUMBER: _ClassVar[int]
    GOSSIP_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    FANOUT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    DELTA_BUDGET_FIELD_NUMBER: _ClassVar[int]
    FULL_DIGEST_EVERY_FIELD_NUMBER: _ClassVar[int]
    PUSH_FANOUT_FIELD_NUMBER: _ClassVar[int]
    PUSH_QUEUE_BYTES_FIELD_NUMBER: _ClassVar[int]
    PHI_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    PHI_WINDOW_FIELD_NUMBER: _ClassVar[int]
    PHI_MIN_STD_DEV_MS_FIELD_NUMBER: _ClassVar[int]
    PHI_ACCEPTABLE_PAUSE_MS_FIELD_NUMBER: _ClassVar[int]
    DEAD_GRACE_MS_FIELD_NUMBER: _ClassVar[int]
    TOMBSTONE_GRACE_MS_FIELD_NUMBER: _ClassVar[int]
    SAY_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_KEY_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_VALUE_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_EVENT_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    HANDLER_QUEUE_FIELD_NUMBER: _ClassVar[int]
    MAX_PEERS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    QUIET_FANOUT_FIELD_NUMBER: _ClassVar[int]
    QUIET_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    PUSH_DIRECT_MAX_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_MAP_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    NETWORK_KEY_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    SEND_PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    STATE_DIR_FIELD_NUMBER: _ClassVar[int]
    WATCHERS_FIELD_NUMBER: _ClassVar[int]
    QUORUM_FIELD_NUMBER: _ClassVar[int]
    QUIET_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    FULL_DIGEST_PERIOD_MS_FIELD_NUMBER: _ClassVar[int]
    SUSPECT_GRACE_MS_FIELD_NUMBER: _ClassVar[int]
    LEAVE_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    RELAY_TREES_FIELD_NUMBER: _ClassVar[int]
    RELAY_JOIN_PUSH_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_KEY_FILE_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_KEY_FIELD_NUMBER: _ClassVar[int]
    ALLOW_KEYS_FIELD_NUMBER: _ClassVar[int]
    TOFU_FIELD_NUMBER: _ClassVar[int]
    preset: Preset
    name: str
    cluster: str
    bind_addr: str
    advertise_addr: str
    seeds: _containers.RepeatedScalarFieldContainer[str]
    generation: int
    transport_mode: TransportMode
    mtu: int
    max_packet_size: int
    gossip_interval_ms: int
    fanout: int
    heartbeat_interval_ms: int
    delta_budget: int
    full_digest_every: int
    push_fanout: int
    push_queue_bytes: int
    phi_threshold: float
    phi_window: int
    phi_min_std_dev_ms: int
    phi_acceptable_pause_ms: int
    dead_grace_ms: int
    tombstone_grace_ms: int
    say_duration_ms: int
    max_key_size: int
    max_value_size: int
    max_event_name: int
    max_event_payload: int
    handler_queue: int
    max_peers: int
    seed: int
    quiet_fanout: int
    quiet_after_ms: int
    push_direct_max: int
    address_map: _containers.ScalarMap[str, str]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    network_key: str
    accept_plaintext: bool
    send_plaintext: bool
    state_dir: str
    watchers: int
    quorum: int
    quiet_interval_ms: int
    full_digest_period_ms: int
    suspect_grace_ms: int
    leave_timeout_ms: int
    relay_trees: int
    relay_join_push: bool
    identity_key_file: str
    identity_key: bytes
    allow_keys: str
    tofu: bool
    def __init__(self, preset: _Optional[_Union[Preset, str]] = ..., name: _Optional[str] = ..., cluster: _Optional[str] = ..., bind_addr: _Optional[str] = ..., advertise_addr: _Optional[str] = ..., seeds: _Optional[_Iterable[str]] = ..., generation: _Optional[int] = ..., transport_mode: _Optional[_Union[TransportMode, str]] = ..., mtu: _Optional[int] = ..., max_packet_size: _Optional[int] = ..., gossip_interval_ms: _Optional[int] = ..., fanout: _Optional[int] = ..., heartbeat_interval_ms: _Optional[int] = ..., delta_budget: _Optional[int] = ..., full_digest_every: _Optional[int] = ..., push_fanout: _Optional[int] = ..., push_queue_bytes: _Optional[int] = ..., phi_threshold: _Optional[float] = ..., phi_window: _Optional[int] = ..., phi_min_std_dev_ms: _Optional[int] = ..., phi_acceptable_pause_ms: _Optional[int] = ..., dead_grace_ms: _Optional[int] = ..., tombstone_grace_ms: _Optional[int] = ..., say_duration_ms: _Optional[int] = ..., max_key_size: _Optional[int] = ..., max_value_size: _Optional[int] = ..., max_event_name: _Optional[int] = ..., max_event_payload: _Optional[int] = ..., handler_queue: _Optional[int] = ..., max_peers: _Optional[int] = ..., seed: _Optional[int] = ..., quiet_fanout: _Optional[int] = ..., quiet_after_ms: _Optional[int] = ..., push_direct_max: _Optional[int] = ..., address_map: _Optional[_Mapping[str, str]] = ..., keys: _Optional[_Iterable[bytes]] = ..., network_key: _Optional[str] = ..., accept_plaintext: _Optional[bool] = ..., send_plaintext: _Optional[bool] = ..., state_dir: _Optional[str] = ..., watchers: _Optional[int] = ..., quorum: _Optional[int] = ..., quiet_interval_ms: _Optional[int] = ..., full_digest_period_ms: _Optional[int] = ..., suspect_grace_ms: _Optional[int] = ..., leave_timeout_ms: _Optional[int] = ..., relay_trees: _Optional[int] = ..., relay_join_push: _Optional[bool] = ..., identity_key_file: _Optional[str] = ..., identity_key: _Optional[bytes] = ..., allow_keys: _Optional[str] = ..., tofu: _Optional[bool] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("data", "encoding")
    DATA_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    encoding: Encoding
    def __init__(self, data: _Optional[bytes] = ..., encoding: _Optional[_Union[Encoding, str]] = ...) -> None: ...

class KeyValue(_message.Message):
    __slots__ = ("peer", "key", "value", "expires_at_ms", "version")
    PEER_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    peer: str
    key: str
    value: Value
    expires_at_ms: int
    version: int
    def __init__(self, peer: _Optional[str] = ..., key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ..., expires_at_ms: _Optional[int] = ..., version: _Optional[int] = ...) -> None: ...

class KeyList(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, keys: _Optional[_Iterable[str]] = ...) -> None: ...

class Keyring(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class PeerInfo(_message.Message):
    __slots__ = ("name", "addr", "state", "phi", "generation", "heartbeat", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PHI_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    addr: str
    state: PeerState
    phi: float
    generation: int
    heartbeat: int
    version: int
    def __init__(self, name: _Optional[str] = ..., addr: _Optional[str] = ..., state: _Optional[_Union[PeerState, str]] = ..., phi: _Optional[float] = ..., generation: _Optional[int] = ..., heartbeat: _Optional[int] = ..., version: _Optional[int] = ...) -> None: ...

class PeerList(_message.Message):
    __slots__ = ("peers",)
    PEERS_FIELD_NUMBER: _ClassVar[int]
    peers: _containers.RepeatedCompositeFieldContainer[PeerInfo]
    def __init__(self, peers: _Optional[_Iterable[_Union[PeerInfo, _Mapping]]] = ...) -> None: ...

class EngineInfo(_message.Message):
    __slots__ = ("name", "addr", "generation", "running", "cluster")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    name: str
    addr: str
    generation: int
    running: bool
    cluster: str
    def __init__(self, name: _Optional[str] = ..., addr: _Optional[str] = ..., generation: _Optional[int] = ..., running: _Optional[bool] = ..., cluster: _Optional[str] = ...) -> None: ...

class Reply(_message.Message):
    __slots__ = ("peer", "value")
    PEER_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    peer: str
    value: Value
    def __init__(self, peer: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...

class AskReplies(_message.Message):
    __slots__ = ("replies",)
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    replies: _containers.RepeatedCompositeFieldContainer[Reply]
    def __init__(self, replies: _Optional[_Iterable[_Union[Reply, _Mapping]]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("name", "peer", "start", "stop", "set", "delete", "expired", "say", "ask", "peer_new", "peer_alive", "peer_dead")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_FIELD_NUMBER: _ClassVar[int]
    SAY_FIELD_NUMBER: _ClassVar[int]
    ASK_FIELD_NUMBER: _ClassVar[int]
    PEER_NEW_FIELD_NUMBER: _ClassVar[int]
    PEER_ALIVE_FIELD_NUMBER: _ClassVar[int]
    PEER_DEAD_FIELD_NUMBER: _ClassVar[int]
    name: str
    peer: str
    start: Lifecycle
    stop: Lifecycle
    set: KeyChange
    delete: KeyChange
    expired: KeyChange
    say: Said
    ask: Asked
    peer_new: PeerChange
    peer_alive: PeerChange
    peer_dead: PeerChange
    def __init__(self, name: _Optional[str] = ..., peer: _Optional[str] = ..., start: _Optional[_Union[Lifecycle, _Mapping]] = ..., stop: _Optional[_Union[Lifecycle, _Mapping]] = ..., set: _Optional[_Union[KeyChange, _Mapping]] = ..., delete: _Optional[_Union[KeyChange, _Mapping]] = ..., expired: _Optional[_Union[KeyChange, _Mapping]] = ..., say: _Optional[_Union[Said, _Mapping]] = ..., ask: _Optional[_Union[Asked, _Mapping]] = ..., peer_new: _Optional[_Union[PeerChange, _Mapping]] = ..., peer_alive: _Optional[_Union[PeerChange, _Mapping]] = ..., peer_dead: _Optional[_Union[PeerChange, _Mapping]] = ...) -> None: ...

class EventBatch(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class Lifecycle(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class KeyChange(_message.Message):
    __slots__ = ("key", "value", "expires_at_ms")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: Value
    expires_at_ms: int
    def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ..., expires_at_ms: _Optional[int] = ...) -> None: ...

class Said(_message.Message):
    __slots__ = ("event", "data", "expires_at_ms")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    event: str
    data: Value
    expires_at_ms: int
    def __init__(self, event: _Optional[str] = ..., data: _Optional[_Union[Value, _Mapping]] = ..., expires_at_ms: _Optional[int] = ...) -> None: ...

class Asked(_message.Message):
    __slots__ = ("event", "data", "expires_at_ms", "ask_id")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ASK_ID_FIELD_NUMBER: _ClassVar[int]
    event: str
    data: Value
    expires_at_ms: int
    ask_id: int
    def __init__(self, event: _Optional[str] = ..., data: _Optional[_Union[Value, _Mapping]] = ..., expires_at_ms: _Optional[int] = ..., ask_id: _Optional[int] = ...) -> None: ...

class PeerChange(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TransportStats(_message.Message):
    __slots__ = ("udp_packets_sent", "udp_bytes_sent", "udp_packets_received", "udp_bytes_received", "tcp_frames_sent", "tcp_bytes_sent", "tcp_frames_received", "tcp_bytes_received", "send_errors", "dropped", "bad_frames", "conns_opened", "conns_closed")
    UDP_PACKETS_SENT_FIELD_NUMBER: _ClassVar[int]
    UDP_BYTES_SENT_FIELD_NUMBER: _ClassVar[int]
    UDP_PACKETS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    UDP_BYTES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    TCP_FRAMES_SENT_FIELD_NUMBER: _ClassVar[int]
    TCP_BYTES_SENT_FIELD_NUMBER: _ClassVar[int]
    TCP_FRAMES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    TCP_BYTES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    SEND_ERRORS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    BAD_FRAMES_FIELD_NUMBER: _ClassVar[int]
    CONNS_OPENED_FIELD_NUMBER: _ClassVar[int]
    CONNS_CLOSED_FIELD_NUMBER: _ClassVar[int]
    udp_packets_sent: int
    udp_bytes_sent: int
    udp_packets_received: int
    udp_bytes_received: int
    tcp_frames_sent: int
    tcp_bytes_sent: int
    tcp_frames_received: int
    tcp_bytes_received: int
    send_errors: int
    dropped: int
    bad_frames: int
    conns_opened: int
    conns_closed: int
    def __init__(self, udp_packets_sent: _Optional[int] = ..., udp_bytes_sent: _Optional[int] = ..., udp_packets_received: _Optional[int] = ..., udp_bytes_received: _Optional[int] = ..., tcp_frames_sent: _Optional[int] = ..., tcp_bytes_sent: _Optional[int] = ..., tcp_frames_received: _Optional[int] = ..., tcp_bytes_received: _Optional[int] = ..., send_errors: _Optional[int] = ..., dropped: _Optional[int] = ..., bad_frames: _Optional[int] = ..., conns_opened: _Optional[int] = ..., conns_closed: _Optional[int] = ...) -> None: ...

class Stats(_message.Message):
    __slots__ = ("rounds", "sets", "says", "push_batches", "followups", "packets_sent", "packets_received", "truncated", "oversized", "bad_magic", "bad_version", "malformed", "bad_delta", "foreign_cluster", "self_packets", "encode_errors", "send_errors", "push_dropped", "late_replies", "events_dropped", "handler_panics", "deaths", "peers", "live_peers", "dead_peers", "keys", "pending_runs", "transport", "drops")
    class PacketsSentEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class PacketsReceivedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class DropsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    SETS_FIELD_NUMBER: _ClassVar[int]
    SAYS_FIELD_NUMBER: _ClassVar[int]
    PUSH_BATCHES_FIELD_NUMBER: _ClassVar[int]
    FOLLOWUPS_FIELD_NUMBER: _ClassVar[int]
    PACKETS_SENT_FIELD_NUMBER: _ClassVar[int]
    PACKETS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    OVERSIZED_FIELD_NUMBER: _ClassVar[int]
    BAD_MAGIC_FIELD_NUMBER: _ClassVar[int]
    BAD_VERSION_FIELD_NUMBER: _ClassVar[int]
    MALFORMED_FIELD_NUMBER: _ClassVar[int]
    BAD_DELTA_FIELD_NUMBER: _ClassVar[int]
    FOREIGN_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    SELF_PACKETS_FIELD_NUMBER: _ClassVar[int]
    ENCODE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    SEND_ERRORS_FIELD_NUMBER: _ClassVar[int]
    PUSH_DROPPED_FIELD_NUMBER: _ClassVar[int]
    LATE_REPLIES_FIELD_NUMBER: _ClassVar[int]
    EVENTS_DROPPED_FIELD_NUMBER: _ClassVar[int]
    HANDLER_PANICS_FIELD_NUMBER: _ClassVar[int]
    DEATHS_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    LIVE_PEERS_FIELD_NUMBER: _ClassVar[int]
    DEAD_PEERS_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    PENDING_RUNS_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    DROPS_FIELD_NUMBER: _ClassVar[int]
    rounds: int
    sets: int
    says: int
    push_batches: int
    followups: int
    packets_sent: _containers.ScalarMap[str, int]
    packets_received: _containers.ScalarMap[str, int]
    truncated: int
    oversized: int
    bad_magic: int
    bad_version: int
    malformed: int
    bad_delta: int
    foreign_cluster: int
    self_packets: int
    encode_errors: int
    send_errors: int
    push_dropped: int
    late_replies: int
    events_dropped: int
    handler_panics: int
    deaths: int
    peers: int
    live_peers: int
    dead_peers: int
    keys: int
    pending_runs: int
    transport: TransportStats
    drops: _containers.ScalarMap[str, int]
    def __init__(self, rounds: _Optional[int] = ..., sets: _Optional[int] = ..., says: _Optional[int] = ..., push_batches: _Optional[int] = ..., followups: _Optional[int] = ..., packets_sent: _Optional[_Mapping[str, int]] = ..., packets_received: _Optional[_Mapping[str, int]] = ..., truncated: _Optional[int] = ..., oversized: _Optional[int] = ..., bad_magic: _Optional[int] = ..., bad_version: _Optional[int] = ..., malformed: _Optional[int] = ..., bad_delta: _Optional[int] = ..., foreign_cluster: _Optional[int] = ..., self_packets: _Optional[int] = ..., encode_errors: _Optional[int] = ..., send_errors: _Optional[int] = ..., push_dropped: _Optional[int] = ..., late_replies: _Optional[int] = ..., events_dropped: _Optional[int] = ..., handler_panics: _Optional[int] = ..., deaths: _Optional[int] = ..., peers: _Optional[int] = ..., live_peers: _Optional[int] = ..., dead_peers: _Optional[int] = ..., keys: _Optional[int] = ..., pending_runs: _Optional[int] = ..., transport: _Optional[_Union[TransportStats, _Mapping]] = ..., drops: _Optional[_Mapping[str, int]] = ...) -> None: ...
