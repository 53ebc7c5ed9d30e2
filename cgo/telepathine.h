/*
 * telepathine.h: the C ABI of the Telepathine gossip engine.
 *
 * This hand-written header is the contract of libtelepathine.so (built by
 * `make lib` from cgo/ with `go build -buildmode=c-shared`). The library's
 * own cgo code includes it, so the compiler checks every exported function
 * against the prototype below, and a test checks that the library exports
 * exactly the tp_ functions declared here.
 *
 * ------------------------------------------------------------------ rules
 *
 * Status. Every fallible function returns an int status: TP_OK (0) on
 * success, a positive status for an outcome that is not an error
 * (TP_NOT_FOUND, TP_TIMEOUT), a negative TP_ERR_* on failure. Numbers are
 * stable and only ever appended.
 *
 * Error messages. Fallible functions take a last argument `tp_buf *err`. On
 * a negative status, when err is not NULL, *err receives a UTF-8 message
 * allocated by the library (free it with tp_buf_free). On any other status
 * *err is set to {NULL, 0}. err may be NULL: then no message is made. There
 * is no global "last error" state: messages travel only through err.
 *
 * Inputs are borrowed. Byte inputs are a pointer and a length (no NUL
 * terminator needed, none looked for); they are read during the call only
 * and may be freed or reused as soon as it returns. A NULL pointer with a
 * length of 0 is an empty input; a NULL pointer with a non-zero length is
 * TP_ERR_INVALID_ARGUMENT. Keys, peer names, event names and patterns must
 * be valid UTF-8 without NUL bytes.
 *
 * Outputs are allocated by the library. Every output is a tp_buf that the
 * library fills with memory from malloc() and the caller releases with
 * tp_buf_free(), the one free function, once done with it. Output buffers
 * are overwritten, never freed, on entry: pass zeroed or already-freed
 * tp_bufs (a tp_buf holding unfreed memory would leak). On TP_OK an output's
 * data is never NULL, and data[len] is a 0 byte that len does not count (so
 * a message can be printed as a C string). On any other status outputs are
 * set to {NULL, 0}.
 *
 * Structured outputs are protobuf messages of the package
 * telepathine.api.v1 (schema/proto/telepathine/api/v1/api.proto; generated
 * code for Go, Python and JavaScript is committed). So is the engine's
 * configuration going in.
 *
 * Handles. Engines, subscriptions and event streams are 64-bit handles,
 * never pointers: 0 is never a valid handle, a handle is never reused, and
 * every handle is below 2^53 (a JavaScript Number holds it exactly). A
 * handle of the wrong kind, or one the library never issued, gives
 * TP_ERR_HANDLE; a closed one TP_ERR_CLOSED. Closing is idempotent: the
 * tp_*_close functions return TP_OK on 0 and on a handle already closed.
 *
 * Threads. Every function may be called from any thread, concurrently, and
 * from inside an event callback or finalizer. Calls on one engine are
 * serialised by the engine as needed. Blocking functions say so; a host
 * with a global lock that callbacks need (Python's GIL) must release it
 * around them, as ctypes.CDLL does, or a close waiting for a callback that
 * waits for the lock never returns.
 *
 * Panics. No Go panic crosses the boundary: an unexpected failure inside the
 * library returns TP_ERR_INTERNAL with a message (please report it). Bad
 * input never crashes the library; memory that is not what its pointer and
 * length claim, of course, can.
 *
 * Process. The library starts a Go runtime when it is loaded, with threads
 * of its own. Load one Go shared library per process at most. Do not use the
 * library in a child created by fork() without exec() after it was loaded
 * (the child has the parent's memory but not its threads: calls hang).
 * fork()+exec() (posix_spawn, Python subprocess, Node child_process) is
 * fine; so is Python multiprocessing with the "spawn" or "forkserver"
 * method, or loading the library only after forking.
 *
 * Signals. The Go runtime installs handlers for synchronous signals (SIGSEGV,
 * SIGBUS, SIGFPE...) and chains to handlers installed before it. A signal
 * handled by a host handler without SA_ONSTACK may run on a small goroutine
 * stack and crash the process (Node/libuv installs such handlers). A host
 * should load the library with dlopen() while asynchronous signals are
 * blocked on the loading thread, so the library's threads inherit a mask
 * that keeps most signals away from them; but Go threads always unblock
 * SIGCHLD, SIGPROF and SIGURG, so the host must also give its own handlers
 * SA_ONSTACK (see the Node binding, which does both).
 */
#ifndef TELEPATHINE_H
#define TELEPATHINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- version */

/*
 * The ABI version is (major << 16) | minor. The minor grows when functions,
 * status codes, flags or schema fields are appended; the major when
 * anything existing changes meaning or signature (never done lightly).
 * A binding written against MAJOR.MINOR works with a library whose major is
 * equal and whose minor is at least MINOR: check tp_abi_version() at load.
 */
#define TP_ABI_VERSION_MAJOR 1
#define TP_ABI_VERSION_MINOR 2 /* 1: the cluster keyring, tp_events_poll_many;
                                  2: tp_events_poll_flat */
#define TP_ABI_VERSION ((TP_ABI_VERSION_MAJOR << 16) | TP_ABI_VERSION_MINOR)

/* Returns TP_ABI_VERSION as the library was built. Never fails. */
uint32_t tp_abi_version(void);

/* -------------------------------------------------------------- status */

/* Success. */
#define TP_OK 0
/* tp_engine_get / tp_engine_get_remote: no live value for that key. */
#define TP_NOT_FOUND 1
/* tp_events_poll: no event came within the timeout. */
#define TP_TIMEOUT 2

/* A bug in the library, e.g. a recovered Go panic; the message says more. */
#define TP_ERR_INTERNAL -1
/* A NULL pointer with a non-zero length, an unknown encoding or flag, a
 * negative or out-of-range duration, invalid UTF-8 in a name or pattern, a
 * NULL callback or out-pointer. */
#define TP_ERR_INVALID_ARGUMENT -2
/* A handle the library never issued, or a handle of another kind (a
 * subscription passed as an engine...). 0 is never valid (except to the
 * tp_*_close functions, where it is a no-op). */
#define TP_ERR_HANDLE -3
/* The handle was closed, or the engine it belongs to was; for
 * tp_events_poll, also the end of a stream whose engine was closed. */
#define TP_ERR_CLOSED -4
/* The configuration bytes do not decode as a telepathine.api.v1.Config, hold
 * fields this library does not know, or describe an invalid configuration. */
#define TP_ERR_CONFIG -5
/* A key that is empty, longer than Config.max_key_size, not UTF-8, or
 * containing NUL. */
#define TP_ERR_INVALID_KEY -6
/* A value above Config.max_value_size, or say/ask/reply data above
 * Config.max_event_payload. */
#define TP_ERR_VALUE_TOO_LARGE -7
/* An event name that is empty, above Config.max_event_name, not UTF-8, or
 * containing NUL. */
#define TP_ERR_INVALID_EVENT -8
/* The call needs a started engine (say, ask, reply). */
#define TP_ERR_NOT_RUNNING -9
/* tp_engine_start on an engine already running. */
#define TP_ERR_RUNNING -10
/* tp_engine_reply to an ask that is unknown here or already over. */
#define TP_ERR_UNKNOWN_ASK -11
/* The network or the operating system failed (address in use, ...); the
 * message says more. */
#define TP_ERR_IO -12
/* Cluster key material that is not a 32-byte AES-256 key (ABI 1.1). */
#define TP_ERR_KEY_MATERIAL -13
/* tp_engine_remove_key of the primary key: make another key the primary
 * first (ABI 1.1). */
#define TP_ERR_PRIMARY_KEY -14
/* tp_engine_use_key or tp_engine_remove_key of a key that is not installed
 * (ABI 1.1). */
#define TP_ERR_KEY_NOT_INSTALLED -15

/*
 * Returns the name of a status ("TP_OK", "TP_ERR_HANDLE", ...) or
 * "TP_UNKNOWN_STATUS". The string is static: never free it. Never fails.
 */
const char *tp_status_name(int status);

/* ------------------------------------------------------------- buffers */

/* Bytes allocated by the library; release with tp_buf_free. */
typedef struct tp_buf {
  uint8_t *data;
  size_t len;
} tp_buf;

/*
 * Frees buf->data and sets *buf to {NULL, 0}. Safe on NULL, on a zeroed
 * tp_buf and on one already freed by tp_buf_free. Only for tp_bufs the
 * library filled. Never fails.
 */
void tp_buf_free(tp_buf *buf);

/* ---------------------------------------------------------- value data */

/* Value encodings (telepathine.api.v1.Encoding): how to read value bytes. */
#define TP_ENCODING_RAW 0  /* bytes */
#define TP_ENCODING_TEXT 1 /* UTF-8 text (checked) */
#define TP_ENCODING_JSON 2 /* a JSON document (checked) */

/* ------------------------------------------------------------- engine */

/* An engine: one peer of a cluster. */
typedef uint64_t tp_engine;

/*
 * Creates an engine from a serialized telepathine.api.v1.Config. Zero
 * fields take the preset's defaults: config_len 0 (config may then be NULL)
 * gives the LAN preset. Binds nothing until tp_engine_start. On TP_OK
 * *engine receives the handle; close it with tp_engine_close.
 * Errors: TP_ERR_INVALID_ARGUMENT (engine NULL), TP_ERR_CONFIG.
 */
int tp_engine_new(const uint8_t *config, size_t config_len, tp_engine *engine,
                  tp_buf *err);

/*
 * Binds the transport, joins the cluster through the seeds and starts
 * gossiping. A stopped engine can be started again (a new generation, on
 * the same port). Blocks while binding (short).
 * Errors: TP_ERR_RUNNING, TP_ERR_IO (bind failed), handle errors.
 */
int tp_engine_start(tp_engine engine, tp_buf *err);

/*
 * Leaves the cluster: gossip stops and sockets close; state and
 * subscriptions are kept. TP_OK on an engine not running. Blocks until the
 * engine's goroutines ended (short).
 */
int tp_engine_stop(tp_engine engine, tp_buf *err);

/*
 * Stops the engine if needed, ends every subscription made from it (their
 * finalizers run, their handles become closed) and every event stream (its
 * queued events can still be polled, then TP_ERR_CLOSED; close its handle
 * with tp_events_close), and invalidates the handle, whatever the status. Blocks until callbacks that
 * are running return, except the caller's own when called from a callback.
 * TP_OK on 0 and on a closed engine; TP_ERR_HANDLE on a handle never
 * issued or of another kind; TP_ERR_IO if closing the sockets failed (the
 * engine is closed all the same).
 */
int tp_engine_close(tp_engine engine, tp_buf *err);

/*
 * *info receives a telepathine.api.v1.EngineInfo: name, advertised address,
 * generation (set once started), running, cluster.
 */
int tp_engine_info(tp_engine engine, tp_buf *info, tp_buf *err);

/* *stats receives a telepathine.api.v1.Stats snapshot of the counters. */
int tp_engine_stats(tp_engine engine, tp_buf *stats, tp_buf *err);

/* ----------------------------------------------------------- key/value */

/*
 * Stores key=value in the local peer's state and spreads it to every peer.
 * encoding is a TP_ENCODING_*; TEXT must be UTF-8 and JSON valid JSON.
 * expires_at_ms is an absolute Unix time in milliseconds after which every
 * replica drops the value ("key:expired"), 0 for never. Works before
 * tp_engine_start too. The library copies what it keeps.
 * Errors: TP_ERR_INVALID_KEY, TP_ERR_VALUE_TOO_LARGE, TP_ERR_INVALID_ARGUMENT
 * (bad encoding, bytes that do not match it, negative expiry).
 */
int tp_engine_set(tp_engine engine, const uint8_t *key, size_t key_len,
                  const uint8_t *value, size_t value_len, int encoding,
                  int64_t expires_at_ms, tp_buf *err);

/*
 * Reads the local peer's live value of key: on TP_OK *kv receives a
 * telepathine.api.v1.KeyValue (value, encoding, expiry, version);
 * TP_NOT_FOUND when there is none.
 */
int tp_engine_get(tp_engine engine, const uint8_t *key, size_t key_len,
                  tp_buf *kv, tp_buf *err);

/*
 * Reads the live value of key held for the peer named peer (any peer, the
 * local one included; an empty name means the local peer): on TP_OK *kv
 * receives a telepathine.api.v1.KeyValue; TP_NOT_FOUND when there is none.
 */
int tp_engine_get_remote(tp_engine engine, const uint8_t *peer,
                         size_t peer_len, const uint8_t *key, size_t key_len,
                         tp_buf *kv, tp_buf *err);

/*
 * *keys receives a telepathine.api.v1.KeyList: the live keys held for the
 * named peer (empty name: the local peer), sorted. Unknown peer: no keys.
 */
int tp_engine_get_remote_keys(tp_engine engine, const uint8_t *peer,
                              size_t peer_len, tp_buf *keys, tp_buf *err);

/*
 * Deletes key from the local peer's state everywhere (a replicated
 * tombstone). When deleted is not NULL, *deleted is set to 1 if a live
 * value was deleted, else 0.
 */
int tp_engine_delete(tp_engine engine, const uint8_t *key, size_t key_len,
                     int *deleted, tp_buf *err);

/* ---------------------------------------------------------------- peers */

/*
 * *peers receives a telepathine.api.v1.PeerList of the other peers known
 * (all), of those that seem alive (live) or dead (dead), sorted by name.
 */
int tp_engine_all_peers(tp_engine engine, tp_buf *peers, tp_buf *err);
int tp_engine_live_peers(tp_engine engine, tp_buf *peers, tp_buf *err);
int tp_engine_dead_peers(tp_engine engine, tp_buf *peers, tp_buf *err);

/* ------------------------------------------------- cluster keyring (1.1) */

/*
 * The cluster keyring: AES-256 keys of exactly 32 bytes, one of them the
 * primary, which seals what this engine sends, while every installed key
 * opens what it receives. Config.keys (the first is the primary) and
 * Config.network_key (a passphrase) fill it at tp_engine_new; these calls
 * change it at runtime, running or not. Rotation without downtime: install
 * the new key on every peer, then use it on every peer, then remove the old
 * one on every peer. Added in ABI 1.1: check tp_abi_version() before use.
 */

/*
 * Installs key (key_len must be 32) as an accepted key; installing a key
 * twice is harmless. The first key of an empty keyring becomes the primary.
 * Errors: TP_ERR_KEY_MATERIAL (not 32 bytes), TP_ERR_INVALID_ARGUMENT (key
 * NULL with a non-zero length), handle errors.
 */
int tp_engine_install_key(tp_engine engine, const uint8_t *key,
                          size_t key_len, tp_buf *err);

/*
 * Makes the installed key the primary.
 * Errors: TP_ERR_KEY_MATERIAL, TP_ERR_KEY_NOT_INSTALLED,
 * TP_ERR_INVALID_ARGUMENT, handle errors.
 */
int tp_engine_use_key(tp_engine engine, const uint8_t *key, size_t key_len,
                      tp_buf *err);

/*
 * Removes an installed key: packets sealed with it no longer open.
 * Errors: TP_ERR_PRIMARY_KEY (it is the primary), TP_ERR_KEY_NOT_INSTALLED,
 * TP_ERR_KEY_MATERIAL, TP_ERR_INVALID_ARGUMENT, handle errors.
 */
int tp_engine_remove_key(tp_engine engine, const uint8_t *key,
                         size_t key_len, tp_buf *err);

/*
 * *keys receives a telepathine.api.v1.Keyring: the installed keys, primary
 * first; none in plain mode. The buffer holds key material: wipe it before
 * tp_buf_free if that matters to you.
 * Errors: TP_ERR_INVALID_ARGUMENT (keys NULL), handle errors.
 */
int tp_engine_keys(tp_engine engine, tp_buf *keys, tp_buf *err);

/*
 * The staged upgrade of a running cluster from plaintext to encrypted:
 * accept (non-zero: keep accepting plaintext packets although keys are set)
 * and send (non-zero: keep sending plaintext). Stage 1 accept=1 send=1, stage
 * 2 accept=1 send=0, stage 3 accept=0 send=0; each stage on every peer
 * before the next. Errors: TP_ERR_INVALID_ARGUMENT (a combination the
 * engine refuses), handle errors.
 */
int tp_engine_set_plaintext(tp_engine engine, int accept, int send,
                            tp_buf *err);

/* --------------------------------------------------------- say and ask */

/* tp_engine_say flag: wait for the next gossip round instead of pushing at
 * once, so many small events travel together. */
#define TP_SAY_BUFFERED 1u

/*
 * Sends an event to the subscribers of "say:EVENT" on every other peer
 * (never the sender), each exactly once, during duration_ms milliseconds
 * (0: Config.say_duration_ms), to peers that join meanwhile too. flags is
 * 0 or TP_SAY_BUFFERED. The engine must be running.
 * Errors: TP_ERR_INVALID_EVENT, TP_ERR_VALUE_TOO_LARGE, TP_ERR_NOT_RUNNING,
 * TP_ERR_INVALID_ARGUMENT (encoding, data, negative duration, unknown flag).
 */
int tp_engine_say(tp_engine engine, const uint8_t *event, size_t event_len,
                  const uint8_t *data, size_t data_len, int encoding,
                  int64_t duration_ms, uint32_t flags, tp_buf *err);

/*
 * Says an ask and collects the replies of the other peers (see
 * tp_engine_reply). BLOCKS until every peer alive when asking has replied,
 * timeout_ms (> 0) passed, or the engine stopped. On TP_OK *replies
 * receives a telepathine.api.v1.AskReplies, possibly empty.
 */
int tp_engine_ask(tp_engine engine, const uint8_t *event, size_t event_len,
                  const uint8_t *data, size_t data_len, int encoding,
                  int64_t timeout_ms, tp_buf *replies, tp_buf *err);

/*
 * Answers the ask whose Event.ask.ask_id is ask_id (from a callback or a
 * poll). Only the first reply per ask is sent; later ones return TP_OK and
 * are dropped. Errors: TP_ERR_UNKNOWN_ASK (unknown or over),
 * TP_ERR_NOT_RUNNING, value errors as tp_engine_set.
 */
int tp_engine_reply(tp_engine engine, uint64_t ask_id, const uint8_t *data,
                    size_t data_len, int encoding, tp_buf *err);

/* -------------------------------------------------------------- events */

/*
 * Event patterns are EventEmitter2-style names with ':' between segments:
 * "*" matches one segment, "**" any number. Event names: "start", "stop",
 * "set" and "set:KEY", "delete" and "delete:KEY", "key:expired",
 * "say:EVENT" (says and asks), "peer:new", "peer:start" (seems alive),
 * "peer:stop" (seems dead). An engine gets no set, delete or say events for
 * its own calls, but does get key:expired for its own keys.
 */

/* A subscription: events pushed to a callback. */
typedef uint64_t tp_subscription;

/*
 * Receives one event: a serialized telepathine.api.v1.Event of event_len
 * bytes, borrowed for the duration of the call only (copy what you keep).
 */
typedef void (*tp_event_fn)(void *user_data, const uint8_t *event,
                            size_t event_len);

/* Releases user_data once no callback will be made any more. */
typedef void (*tp_finalizer_fn)(void *user_data);

/*
 * Calls callback(user_data, event) for every local event whose name matches
 * pattern, until tp_subscription_close or tp_engine_close.
 *
 * The callback contract:
 *   - It runs on a thread of the library, never the caller's, and never
 *     concurrently with itself: calls of one subscription are serialised,
 *     in the order the events happened (per peer, that peer's order).
 *   - It may block and may call any tp_ function, tp_subscription_close of
 *     its own subscription included (then the current call is the last).
 *     While it blocks, its events queue (Config.handler_queue of them), then
 *     are dropped and counted in Stats.events_dropped; gossip and other
 *     subscriptions never wait for it.
 *   - It must return (no longjmp, no C++ exception, no thread exit across
 *     it).
 *
 * finalizer (may be NULL) is called exactly once with user_data after the
 * last callback has returned, when the subscription ends
 * (tp_subscription_close or tp_engine_close): by that close call itself
 * when made outside the callback, otherwise on a library thread right after
 * the callback that closed it returns. On failure neither callback nor
 * finalizer is ever called. On TP_OK *subscription receives the handle.
 * Errors: TP_ERR_INVALID_ARGUMENT (callback or subscription NULL, pattern
 * not UTF-8 or too long), handle errors.
 */
int tp_engine_subscribe(tp_engine engine, const uint8_t *pattern,
                        size_t pattern_len, tp_event_fn callback,
                        void *user_data, tp_finalizer_fn finalizer,
                        tp_subscription *subscription, tp_buf *err);

/*
 * Ends a subscription. When it returns, the callback is not running and
 * will not be called again, unless it is called from inside that very
 * callback, in which case the current call is the last one. BLOCKS until a
 * running callback returns (do not call it while holding a lock the
 * callback waits for). TP_OK on 0 and on a closed subscription.
 */
int tp_subscription_close(tp_subscription subscription, tp_buf *err);

/* A poll stream: events queued until taken, for hosts that cannot take
 * calls from foreign threads. */
typedef uint64_t tp_events;

/*
 * Opens a stream of the local events whose name matches pattern: they
 * wait in a queue of queue_len (0: Config.handler_queue; at most 1048576)
 * until tp_events_poll takes them; beyond it they are dropped and counted.
 * On TP_OK *events receives the handle; close it with tp_events_close (also
 * after tp_engine_close, which ends the stream but leaves the handle valid
 * so the events already queued can still be polled).
 */
int tp_events_open(tp_engine engine, const uint8_t *pattern,
                   size_t pattern_len, uint32_t queue_len, tp_events *events,
                   tp_buf *err);

/*
 * Takes the next event: on TP_OK *event receives a serialized
 * telepathine.api.v1.Event. BLOCKS up to timeout_ms milliseconds (0: do not
 * wait; negative: wait until an event comes or the stream closes), then
 * returns TP_TIMEOUT. Returns TP_ERR_CLOSED once the stream is closed (by
 * tp_events_close, which wakes a blocked poll, or tp_engine_close, after
 * the events already queued). Several threads may poll one stream; each
 * event goes to one of them.
 */
int tp_events_poll(tp_events events, int64_t timeout_ms, tp_buf *event,
                   tp_buf *err);

/* Closes a stream; queued events are discarded. TP_OK on 0 and on a closed
 * stream. Never blocks. */
int tp_events_close(tp_events events, tp_buf *err);

/* ------------------------------------------------------- batched events */

/* tp_events_poll_many's default and largest max_events. */
#define TP_EVENTS_BATCH_DEFAULT 1024
#define TP_EVENTS_BATCH_MAX 65536

/*
 * Takes many events in one call (since ABI 1.1): waits for a first event as
 * tp_events_poll does (timeout_ms 0: do not wait; negative: until an event
 * comes or the stream closes), then takes the events already queued behind
 * it without waiting, up to max_events (0: TP_EVENTS_BATCH_DEFAULT; at most
 * TP_EVENTS_BATCH_MAX), or fewer once the batch holds about 4 MiB. On TP_OK
 * *batch receives a serialized telepathine.api.v1.EventBatch holding at
 * least one event, oldest first; free it with tp_buf_free. Layout, for
 * readers without protobuf: the concatenation, per event, of the byte
 * 0x0A, the event's length as a protobuf varint, and the serialized
 * telepathine.api.v1.Event.
 *
 * TP_TIMEOUT when no event came. When the stream ends after some events
 * were taken, they are returned with TP_OK and the next call returns
 * TP_ERR_CLOSED. Events go once, in order, whether taken by this function
 * or tp_events_poll; several threads may poll one stream (each event goes
 * to one of them, a batch to one thread).
 * Errors: TP_ERR_INVALID_ARGUMENT (batch NULL, max_events above
 * TP_EVENTS_BATCH_MAX), TP_ERR_HANDLE, TP_ERR_CLOSED.
 */
int tp_events_poll_many(tp_events events, int64_t timeout_ms,
                        uint32_t max_events, tp_buf *batch, tp_buf *err);

/* ------------------------------------------------- flat batches (1.2) */

/*
 * tp_events_poll_flat returns events as columns of fixed-size fields
 * pointing into a table of strings, for hosts that read memory faster than
 * they parse protobuf (Python, JavaScript): no decoding per event, a column
 * read in one call where the host can (a typed array, a memoryview), and
 * each distinct name, peer and key stored, and so decoded, once per batch.
 * Added in ABI 1.2: check tp_abi_version() before use.
 *
 * Layout of a batch of n events (integers little-endian, offsets from its
 * start, which malloc aligns for every column below):
 *
 *   header   TP_FLAT_HEADER_SIZE (32) bytes: uint32 events (n), uint32
 *            strings, uint32 table_len, uint32 data_len, then 16 reserved
 *            bytes (0 today; a later minor may give them a meaning)
 *   offsets  strings x uint32: the start of each string in the table
 *   table    table_len bytes: the strings, each followed by a 0 byte (so
 *            each is also a C string); string 0 is the empty string
 *   padding  0 bytes up to a multiple of 8 from the start
 *   columns  n x int64   expires_at_ms: a key's expiry or the end of a
 *                        say's delivery (Unix milliseconds), 0 for none
 *            n x uint64  ask_id: for tp_engine_reply (asks), 0 otherwise
 *            n x uint32  name: string index ("set:color", "say:chat:hi")
 *            n x uint32  peer: string index
 *            n x uint32  key: string index, the key (set, delete, expired)
 *                        or the event as said (say, ask: "chat:hi"); 0
 *                        for other kinds
 *            n x uint32  value: with TP_FLAT_VALUE_STRING a string index,
 *                        else an offset in the data section
 *            n x uint32  value_len: the value's length in bytes
 *            n x uint8   kind: a TP_EVENT_*
 *            n x uint8   encoding of the value: a TP_ENCODING_*
 *            n x uint8   flags: TP_FLAT_VALUE_STRING
 *            (a later minor may append columns here)
 *   data     the last data_len bytes of the batch: raw value bytes
 *
 * Strings are valid UTF-8 without 0 bytes (the engine admits no other
 * names, keys or JSON; text with a 0 byte goes to the data section), so a
 * reader may also split the table at its 0 bytes (strings + 1 pieces, the
 * last one empty). Only set, delete, expired, say and ask events carry a
 * value; the others have value, value_len, encoding and flags 0.
 */
#define TP_FLAT_HEADER_SIZE 32
/* Flag: the value is a string of the table (text without a 0 byte, or
 * JSON), not bytes of the data section. */
#define TP_FLAT_VALUE_STRING 1u

/* Event kinds of a flat batch (the Event message's oneof, numbered). */
#define TP_EVENT_START 1      /* "start" */
#define TP_EVENT_STOP 2       /* "stop" */
#define TP_EVENT_SET 3        /* "set", "set:KEY" */
#define TP_EVENT_DELETE 4     /* "delete", "delete:KEY" */
#define TP_EVENT_EXPIRED 5    /* "key:expired" */
#define TP_EVENT_SAY 6        /* "say:EVENT" */
#define TP_EVENT_ASK 7        /* "say:EVENT", to answer with tp_engine_reply */
#define TP_EVENT_PEER_NEW 8   /* "peer:new" */
#define TP_EVENT_PEER_ALIVE 9 /* "peer:start" */
#define TP_EVENT_PEER_DEAD 10 /* "peer:stop" */

/*
 * tp_events_poll_many with a flat batch: the same wait (timeout_ms 0: do
 * not wait; negative: until an event comes or the stream closes), the same
 * batch (max_events, 0: TP_EVENTS_BATCH_DEFAULT, at most
 * TP_EVENTS_BATCH_MAX; fewer once it holds about 4 MiB), the same statuses
 * and end of stream. On TP_OK *batch receives the batch described above,
 * holding at least one event; free it with tp_buf_free. Events go once, in
 * order, whichever poll function takes them.
 * Errors: TP_ERR_INVALID_ARGUMENT (batch NULL, max_events above
 * TP_EVENTS_BATCH_MAX), TP_ERR_HANDLE, TP_ERR_CLOSED.
 */
int tp_events_poll_flat(tp_events events, int64_t timeout_ms,
                        uint32_t max_events, tp_buf *batch, tp_buf *err);

#ifdef __cplusplus
}
#endif

#endif /* TELEPATHINE_H */
