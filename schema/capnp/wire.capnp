# Telepathine wire protocol: the packets peers exchange over UDP and TCP.
#
# Compatibility rules (this schema is a network protocol, mixed versions meet):
#   * ONLY APPEND. Never renumber, remove, rename-with-new-meaning or retype a
#     field, union member or enumerant. New fields get the next ordinal.
#   * A reader must cope with enumerants it does not know (store, forward,
#     ignore) and with union members it does not know (drop the packet, count).
#   * Bump protocolVersion only for a change old peers cannot safely ignore.
#
# Packets are encoded with Cap'n Proto packed encoding. On UDP a packet is one
# datagram (at most the configured MTU); on TCP each packet is a frame with a
# 4-byte big-endian length prefix.
@0xe4b4c04309bec4c6;

using Go = import "/go.capnp";
$Go.package("wire");
$Go.import("github.com/telepathine/telepathine/gen/wire");

const magic :UInt32 = 0x54504c54;   # "TPLT": rejects stray traffic cheaply
const protocolVersion :UInt16 = 1;

# Every packet: a header naming the cluster and the sender, then one message.
struct Packet {
  magic @0 :UInt32;
  version @1 :UInt16;
  cluster @2 :Text;        # packets of another cluster are dropped, never merged
  sender @3 :NodeId;

  body :union {
    syn @4 :Syn;           # gossip round, step 1: "here is what I have"
    synAck @5 :SynAck;     # step 2: "here is what you lack, and what I lack"
    ack @6 :Ack;           # step 3: "here is what you lack"
    push @7 :Delta;        # unsolicited fresh entries (event bus fast path)
    reply @8 :Reply;       # an answer to an ask, sent straight to the asker
    badCluster @9 :Void;   # "you sent me a packet of another cluster"
    beat @12 :Beat;        # one-way liveness heartbeat, to the sender's ring watchers
                           # (@12: token @10 and padding @11 came first; ordinals
                           # run across fields and union members alike)
  }

  # Address validation (QUIC-style, RFC 9000 section 8): a Syn carries a
  # random token and the SynAck answering it echoes the token, which proves
  # to the Syn's sender that the SynAck's source address receives what is
  # sent to it. Until then replies to that address are limited to three
  # times the bytes received from it. 0: no token.
  token @10 :UInt64;
  # Ignored filler: a first Syn to an address not yet validated is padded
  # (with non-zero bytes, which packing does not compress) so that the 3x
  # credit it earns covers a useful SynAck, as QUIC pads its Initials.
  padding @11 :Data;
  # Compact header: the 64-bit key of the sender's (name, generation) (the
  # digest's node key), sent instead of `sender` in packets whose receiver
  # already holds the sender's line: today beats to ring watchers, three a
  # second whatever the cluster size, where the full NodeId was over a
  # third of the bytes. A receiver that does not know the key drops
  # the packet (and counts it); the sender's next full packet introduces
  # it. 0: absent, `sender` is set.
  senderKey @13 :UInt64;
}

# Identity of one incarnation of a peer. A restart gets a higher generation,
# so its fresh versions win over what the previous incarnation published.
struct NodeId {
  name @0 :Text;           # stable across restarts; defaults to host:port
  generation @1 :UInt64;   # strictly increasing across restarts of a name
  address @2 :Text;        # advertised host:port, where replies are sent;
                           # absent when equal to the name (the default name)
}

# One line of a digest. `node` is a 64-bit key of (name, generation) so a
# digest line costs a few bytes; an unknown key is asked for by version 0 and
# answered with a NodeDelta that carries the full NodeId.
struct DigestEntry {
  node @0 :UInt64;
  heartbeat @1 :UInt64;    # the node's liveness counter, feeds phi accrual
  version @2 :UInt64;      # highest version held with no gap below it
}

struct Digest {
  entries @0 :List(DigestEntry);
  # True when `entries` lists every node the sender knows; only then may the
  # receiver conclude the sender lacks a node that is absent from the list.
  complete @1 :Bool;
  # Order-independent summary of (node, version) over every node the sender
  # knows. Lets an incomplete digest show "nothing differs" in 8 bytes.
  fingerprint @2 :UInt64;
  # Heartbeats of every node the sender holds, as 16-bit little-endian
  # residues in ascending node-key order. Only read when the fingerprints
  # match (both sides hold the same nodes): a quiet cluster then refreshes
  # every heartbeat in both directions for two bytes a node.
  heartbeats @3 :Data;
}

struct Syn {
  digest @0 :Digest;
}

struct SynAck {
  digest @0 :Digest;       # what the responder wants, plus its fresher heartbeats
  delta @1 :Delta;         # what the initiator lacks
  # The initiator's fingerprint differs from the responder's: `digest` is the
  # responder's full view (or a random subset when it does not fit).
  mismatch @2 :Bool;
}

struct Ack {
  delta @0 :Delta;
}

struct Delta {
  nodes @0 :List(NodeDelta);
  # Push only: the receiver forwards the entries that are new to it to a few
  # peers (epidemic broadcast). False when the sender pushed to every live
  # peer itself, so forwarding would only repeat it.
  relay @1 :Bool;
  # Push through a ring-range broadcast tree (beyond PushDirectMax).
  # relayTree names the tree (1, 2, ...; 0 = none): each tree orders the
  # live peers on a ring by a 64-bit hash of their name under the tree's
  # number. The receiver forwards the delta at once to the live peers it
  # knows whose ring position lies in (relayFrom, relayTo], split in
  # sub-ranges (wrapping around zero; from == to is the whole ring).
  relayTree @2 :UInt8;
  relayFrom @3 :UInt64;
  relayTo @4 :UInt64;
}

# Entries of one node with versions in (fromVersion, toVersion], in version
# order, so a receiver can apply any prefix and never leaves a gap.
struct NodeDelta {
  node @0 :NodeId;
  heartbeat @1 :UInt64;
  fromVersion @2 :UInt64;
  # The sender holds nothing else of this node in (last entry, toVersion]:
  # superseded or expired entries are skipped, not sent.
  toVersion @3 :UInt64;
  # The receiver fell behind the sender's tombstone collection: drop what is
  # held for this node and rebuild from these entries.
  reset @4 :Bool;
  entries @5 :List(Entry);
  # Highest tombstone version the sender has collected for this node. A
  # receiver rebuilt by a reset adopts it, so that it too answers peers from
  # below it with a reset.
  gcFloor @6 :UInt64;
  # Identity mode (issue 13); empty when it is off. The node's Ed25519
  # public key (32 bytes), which receivers check against their allow-list
  # or trust-on-first-use pins.
  publicKey @7 :Data;
  # The node's own signed statement of its highest version and heartbeat
  # epoch: a receiver advances neither beyond it, and accepts a generation
  # only with a head signed for it. Relays forward it unchanged.
  head @8 :SignedHead;
  # Identity mode, pushes of the owner's own runs only: the owner's one
  # Ed25519 signature over the run (owner, generation, from, to and every
  # entry's canonical message and signature, in order), so a receiver
  # proves the run with one check instead of one per entry. Empty
  # otherwise; a receiver still checks each entry when it fails.
  runSignature @9 :Data;
}

# What the owner of a node signs about its incarnation (identity mode): see
# engine/internal/identity for the canonical bytes.
struct SignedHead {
  version @0 :UInt64;
  epoch @1 :UInt64;        # heartbeat >> 32: the refutation epoch
  signature @2 :Data;      # Ed25519, 64 bytes
}

enum EntryKind {
  set @0;                  # a key's value
  tombstone @1;            # a key's deletion (or expiry), collected after a grace period
  event @2;                # a `say`: delivered to hear handlers until expiresAt
  ask @3;                  # a `say` that asks for replies
  # The author suspects the peer named by `key` (its ring watcher lost its
  # beats); value: generation and heartbeat of the accused, 8 bytes each,
  # big-endian. An empty value retracts the suspicion. Keyed per accused in a
  # namespace of its own (never a user key); never expires.
  suspect @4;
  # The author left the cluster gracefully (Stop/Close): no key, no value.
  leave @5;
}

enum Encoding {
  raw @0;                  # bytes
  text @1;                 # UTF-8 text
  json @2;                 # a JSON document, UTF-8
}

struct Entry {
  version @0 :UInt64;      # per (node, generation), strictly increasing, from 1
  kind @1 :EntryKind;
  key @2 :Text;            # the key, or the event name for event/ask
  value @3 :Data;
  encoding @4 :Encoding;
  # Unix milliseconds. set: expiry (0 = never); tombstone: time of deletion;
  # event/ask: end of the event's duration.
  expiresAt @5 :Int64;
  # Identity mode (issue 13); empty when it is off. The owner's Ed25519
  # signature over the entry's canonical bytes (owner, generation, version,
  # kind, key, value, encoding, expiresAt), kept by every relay.
  signature @6 :Data;
  # A set with an expiry only: the owner's signature of the tombstone the
  # set becomes at expiresAt, which replicas derive and forward themselves.
  expirySignature @7 :Data;
}

# Answer to an ask, sent by a hearer straight to the asker's address.
struct Reply {
  askNode @0 :UInt64;      # the asker's node key
  askVersion @1 :UInt64;   # version of the ask entry
  value @2 :Data;
  encoding @3 :Encoding;
  # Identity mode (issue 13): the replier's Ed25519 signature over (replier
  # name and generation, askNode, askVersion, value, encoding); empty when
  # off. A reply travels one hop, but its Sender is only what it says.
  signature @4 :Data;
}

# A heartbeat sent one way, every heartbeat interval, by a peer to each of its
# ring watchers (the few peers that judge its liveness). No answer.
struct Beat {
  heartbeat @0 :UInt64;    # the sender's liveness counter
}
