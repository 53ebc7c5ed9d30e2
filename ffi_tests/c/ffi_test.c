/*
 * The C test of libtelepathine: compiled against cgo/telepathine.h alone,
 * linked to build/libtelepathine.so. It joins a cluster with a Go peer
 * (the interop Go driver, ffi_tests/drivers/go, spawned as a child process
 * and commanded with the JSON lines of ffi_tests/PROTOCOL.md: godriver.h),
 * exercises every function of the
 * ABI, and checks every bad-input case. Run by `make test-c`, directly and
 * under valgrind memcheck.
 *
 * usage: ffi_test PATH_TO_GO_DRIVER
 *        ffi_test --leak-canary   (leaks one tp_buf on purpose: proves that
 *                                  memcheck and its suppressions still see
 *                                  a buffer the caller forgot to free)
 *
 * Every wait polls against a deadline; nothing sleeps as synchronisation.
 */
#include "godriver.h"

#include <pthread.h>
#include <stdatomic.h>

static int passed, failed;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (cond) {                                                                \
      passed++;                                                                \
    } else {                                                                   \
      failed++;                                                                \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
    }                                                                          \
  } while (0)

/* Checks a status, printing the message on mismatch, and frees it. */
#define CHECK_RC(want, call)                                                   \
  do {                                                                         \
    tp_buf err_ = {0};                                                         \
    int rc_ = (call);                                                          \
    CHECK(rc_ == (want), "%s: got %s (%s), want %s", #call,                    \
          tp_status_name(rc_), err_.data ? (char *)err_.data : "",             \
          tp_status_name(want));                                               \
    tp_buf_free(&err_);                                                        \
  } while (0)
/* In CHECK_RC calls, ERR is the error out-parameter. */
#define ERR (&err_)

#define WAIT_MS 15000 /* generous: valgrind runs everything ~20x slower */

/* Polls cond(ctx) until it holds or WAIT_MS pass. */
#define EVENTUALLY(cond, ctx) eventually(cond, ctx)

static const uint8_t *B(const char *s) { return (const uint8_t *)s; }

/* A little-endian uint32 of a flat batch. */
static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* -------------------------------------------------------- subscriptions */

typedef struct {
  atomic_int calls;
  atomic_int finalized;
  atomic_int in_flight;
  atomic_int overlap; /* calls that ran concurrently with another */
  pthread_mutex_t mu;
  char name[256], peer[256], data[256];
  /* modes */
  tp_engine engine;
  atomic_ullong self; /* own subscription, for closing from inside */
  int close_self;
  int reply;
  atomic_int close_rc, reply_rc;
} sub_state;

static void sub_init(sub_state *s) {
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  atomic_store(&s->close_rc, 99);
  atomic_store(&s->reply_rc, 99);
}

static void on_event(void *user_data, const uint8_t *event, size_t len) {
  sub_state *s = user_data;
  if (atomic_fetch_add(&s->in_flight, 1) != 0) {
    atomic_fetch_add(&s->overlap, 1);
  }
  pb_bytes ev = {event, len};
  pthread_mutex_lock(&s->mu);
  pb_str(pb_sub(ev, EVENT_NAME), s->name, sizeof s->name);
  pb_str(pb_sub(ev, EVENT_PEER), s->peer, sizeof s->peer);
  pb_bytes say = pb_sub(ev, EVENT_SAY);
  pb_bytes ask = pb_sub(ev, EVENT_ASK);
  pb_str(pb_sub(pb_sub(say.len ? say : ask, SAID_DATA), VALUE_DATA), s->data, sizeof s->data);
  pthread_mutex_unlock(&s->mu);
  if (s->reply && ask.len > 0) {
    uint64_t id = pb_uint(ask, ASKED_ASK_ID);
    const char *answer = "answer-from-c";
    atomic_store(&s->reply_rc, tp_engine_reply(s->engine, id, B(answer), strlen(answer), TP_ENCODING_TEXT, NULL));
  }
  if (s->close_self) {
    /* Closing one's own subscription from inside the callback must not
     * deadlock; this call becomes the last one. */
    atomic_store(&s->close_rc, tp_subscription_close(atomic_load(&s->self), NULL));
  }
  atomic_fetch_add(&s->calls, 1);
  atomic_fetch_sub(&s->in_flight, 1);
}

static void on_finalize(void *user_data) {
  sub_state *s = user_data;
  if (atomic_load(&s->in_flight) != 0) {
    atomic_fetch_add(&s->overlap, 1);
  }
  atomic_fetch_add(&s->finalized, 1);
}

static int eventually(int (*cond)(void *), void *ctx) {
  int64_t deadline = now_ms() + WAIT_MS;
  while (!cond(ctx)) {
    if (now_ms() > deadline) {
      return 0;
    }
    pause_ms(2);
  }
  return 1;
}

/* ----------------------------------------------------------- the tests */

static tp_engine engine;
static godriver go;
static char my_name[256], my_addr[256];

/* Starts the Go peer: its keys "go-key" (text) and "go-json" (JSON), and
 * asks of "ping:*" answered with "pong". */
static int go_start(const char *path, const char *cluster) {
  return godriver_start(&go, path, cluster) &&
         godriver_ok(&go, WAIT_MS,
                     "{\"cmd\":\"set\",\"key\":\"go-key\",\"value\":{\"encoding\":\"text\",\"text\":\"from-go\"}}") &&
         godriver_ok(&go, WAIT_MS,
                     "{\"cmd\":\"set\",\"key\":\"go-json\",\"value\":{\"encoding\":\"json\",\"json\":{\"lang\":\"go\"}}}") &&
         godriver_ok(&go, WAIT_MS,
                     "{\"cmd\":\"hear\",\"pattern\":\"ping:*\",\"reply\":{\"encoding\":\"text\",\"text\":\"pong\"}}");
}

/* The Go peer says event with a text. */
static int go_say(const char *event, const char *text) {
  return godriver_ok(&go, WAIT_MS, "{\"cmd\":\"say\",\"event\":\"%s\",\"value\":{\"encoding\":\"text\",\"text\":\"%s\"}}",
                     event, text);
}

static int live_peers(tp_engine e) {
  tp_buf out = {0};
  if (tp_engine_live_peers(e, &out, NULL) != TP_OK) {
    return -1;
  }
  int n = pb_count(buf_bytes(out), PEERLIST_PEERS);
  tp_buf_free(&out);
  return n;
}

static int one_live_peer(void *ctx) { return live_peers(*(tp_engine *)ctx) == 1; }

/* Reads peer's key; returns the status and copies data and encoding. */
static int get_remote(const char *peer, const char *key, char *data, size_t cap, uint64_t *enc) {
  tp_buf kv = {0};
  int rc = tp_engine_get_remote(engine, B(peer), strlen(peer), B(key), strlen(key), &kv, NULL);
  if (rc == TP_OK) {
    pb_bytes v = pb_sub(buf_bytes(kv), KV_VALUE);
    pb_str(pb_sub(v, VALUE_DATA), data, cap);
    *enc = pb_uint(v, VALUE_ENCODING);
  }
  tp_buf_free(&kv);
  return rc;
}

typedef struct {
  const char *peer, *key;
  char data[256];
  uint64_t enc;
} remote_read;

static int remote_found(void *ctx) {
  remote_read *r = ctx;
  return get_remote(r->peer, r->key, r->data, sizeof r->data, &r->enc) == TP_OK;
}

static void test_library(void) {
  CHECK(tp_abi_version() == TP_ABI_VERSION, "abi %u", tp_abi_version());
  CHECK(tp_abi_version() >> 16 == TP_ABI_VERSION_MAJOR, "major");
  CHECK(strcmp(tp_status_name(TP_ERR_HANDLE), "TP_ERR_HANDLE") == 0, "%s", tp_status_name(TP_ERR_HANDLE));
  CHECK(strcmp(tp_status_name(TP_OK), "TP_OK") == 0, "name");
  CHECK(strcmp(tp_status_name(12345), "TP_UNKNOWN_STATUS") == 0, "name");
  tp_buf_free(NULL);
  tp_buf b = {0};
  tp_buf_free(&b);
  tp_buf_free(&b);
}

static void test_join(const char *cluster) {
  pb_writer cfg = local_config(cluster, go.addr, 0);
  CHECK_RC(TP_OK, tp_engine_new(cfg.data, cfg.len, &engine, ERR));
  CHECK(engine != 0, "handle");
  CHECK_RC(TP_OK, tp_engine_start(engine, ERR));
  CHECK_RC(TP_ERR_RUNNING, tp_engine_start(engine, ERR));

  tp_buf info = {0};
  CHECK_RC(TP_OK, tp_engine_info(engine, &info, ERR));
  pb_str(pb_sub(buf_bytes(info), INFO_NAME), my_name, sizeof my_name);
  pb_str(pb_sub(buf_bytes(info), INFO_ADDR), my_addr, sizeof my_addr);
  CHECK(pb_uint(buf_bytes(info), INFO_RUNNING) == 1, "running");
  CHECK(info.data[info.len] == 0, "outputs end with a 0 byte");
  tp_buf_free(&info);
  CHECK(my_addr[0] != 0 && strcmp(my_name, my_addr) == 0, "name %s addr %s", my_name, my_addr);

  CHECK(EVENTUALLY(one_live_peer, &engine), "the Go peer never seemed alive");
  CHECK(godriver_wait_live(&go, 1, WAIT_MS), "Go never saw C alive");

  tp_buf peers = {0};
  CHECK_RC(TP_OK, tp_engine_all_peers(engine, &peers, ERR));
  pb_bytes p = pb_sub(buf_bytes(peers), PEERLIST_PEERS);
  CHECK(pb_eq(pb_sub(p, PEER_NAME), go.name), "peer name");
  CHECK(pb_eq(pb_sub(p, PEER_ADDR), go.addr), "peer addr");
  CHECK(pb_uint(p, PEER_STATE) == 1, "alive");
  tp_buf_free(&peers);
  CHECK_RC(TP_OK, tp_engine_dead_peers(engine, &peers, ERR));
  CHECK(peers.len == 0 && peers.data != NULL, "no dead peer: empty message, data not NULL");
  tp_buf_free(&peers);
}

static void test_key_values(void) {
  static const struct {
    const char *key, *data;
    int enc;
  } vals[] = {{"c-raw", "raw\001bytes", TP_ENCODING_RAW},
              {"c-text", "h\xc3\xa9llo", TP_ENCODING_TEXT},
              {"c-json", "{\"n\":1}", TP_ENCODING_JSON}};
  int64_t exp = (int64_t)time(NULL) * 1000 + 3600 * 1000;
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    CHECK_RC(TP_OK, tp_engine_set(engine, B(vals[i].key), strlen(vals[i].key), B(vals[i].data),
                                  strlen(vals[i].data), vals[i].enc, exp, ERR));
    tp_buf kv = {0};
    CHECK_RC(TP_OK, tp_engine_get(engine, B(vals[i].key), strlen(vals[i].key), &kv, ERR));
    pb_bytes v = pb_sub(buf_bytes(kv), KV_VALUE);
    CHECK(pb_eq(pb_sub(v, VALUE_DATA), vals[i].data), "value of %s", vals[i].key);
    CHECK((int)pb_uint(v, VALUE_ENCODING) == vals[i].enc, "encoding of %s", vals[i].key);
    CHECK((int64_t)pb_uint(buf_bytes(kv), KV_EXPIRES_AT_MS) == exp, "expiry");
    CHECK(pb_eq(pb_sub(buf_bytes(kv), KV_PEER), my_name), "owner");
    tp_buf_free(&kv);
  }
  /* A NULL pointer with length 0 is an empty value. */
  CHECK_RC(TP_OK, tp_engine_set(engine, B("c-empty"), 7, NULL, 0, TP_ENCODING_RAW, 0, ERR));

  /* The Go peer reads C's replica... */
  CHECK(godriver_wait_text(&go, my_name, "c-text", "h\xc3\xa9llo", WAIT_MS), "Go never read c-text");
  /* ...and C reads the Go peer's. */
  char data[256];
  uint64_t enc = 99;
  remote_read r1 = {.peer = go.name, .key = "go-key"}, r2 = {.peer = go.name, .key = "go-json"};
  CHECK(EVENTUALLY(remote_found, &r1), "go-key never came");
  CHECK(strcmp(r1.data, "from-go") == 0 && r1.enc == TP_ENCODING_TEXT, "go-key = %s (%d)", r1.data, (int)r1.enc);
  CHECK(EVENTUALLY(remote_found, &r2), "go-json never came");
  CHECK(strcmp(r2.data, "{\"lang\":\"go\"}") == 0 && r2.enc == TP_ENCODING_JSON, "go-json = %s", r2.data);
  CHECK(get_remote(go.name, "missing", data, sizeof data, &enc) == TP_NOT_FOUND, "missing key");
  CHECK(get_remote("", "c-raw", data, sizeof data, &enc) == TP_OK, "empty peer name is the local peer");

  tp_buf keys = {0};
  CHECK_RC(TP_OK, tp_engine_get_remote_keys(engine, B(go.name), strlen(go.name), &keys, ERR));
  CHECK(pb_count(buf_bytes(keys), KEYLIST_KEYS) == 2, "go has 2 keys");
  pb_field f;
  CHECK(pb_find(buf_bytes(keys), KEYLIST_KEYS, 0, &f) && pb_eq(f.bytes, "go-json"), "sorted keys");
  tp_buf_free(&keys);
  CHECK_RC(TP_OK, tp_engine_get_remote_keys(engine, NULL, 0, &keys, ERR));
  CHECK(pb_count(buf_bytes(keys), KEYLIST_KEYS) == 4, "c has 4 keys");
  tp_buf_free(&keys);

  int deleted = -1;
  CHECK_RC(TP_OK, tp_engine_delete(engine, B("c-raw"), 5, &deleted, ERR));
  CHECK(deleted == 1, "deleted");
  CHECK_RC(TP_OK, tp_engine_delete(engine, B("c-raw"), 5, &deleted, ERR));
  CHECK(deleted == 0, "not deleted twice");
  CHECK_RC(TP_OK, tp_engine_delete(engine, B("c-empty"), 7, NULL, ERR));
  tp_buf kv = {0};
  CHECK_RC(TP_NOT_FOUND, tp_engine_get(engine, B("c-raw"), 5, &kv, ERR));
  CHECK(kv.data == NULL && kv.len == 0, "no output on TP_NOT_FOUND");
}

static sub_state hear;

static int called(void *ctx) { return atomic_load(&((sub_state *)ctx)->calls) >= 1; }

static void test_subscribe_and_poll(void) {
  sub_init(&hear);
  tp_subscription sub = 0;
  CHECK_RC(TP_OK, tp_engine_subscribe(engine, B("say:chat:*"), 10, on_event, &hear, on_finalize, &sub, ERR));
  CHECK(sub != 0, "subscription handle");
  /* A stream of the same events tells when an event has been delivered. */
  tp_events stream = 0;
  CHECK_RC(TP_OK, tp_events_open(engine, B("say:chat:*"), 10, 0, &stream, ERR));
  tp_buf ev = {0};
  CHECK_RC(TP_TIMEOUT, tp_events_poll(stream, 0, &ev, ERR));
  int64_t t0 = now_ms();
  CHECK_RC(TP_TIMEOUT, tp_events_poll(stream, 30, &ev, ERR));
  CHECK(now_ms() - t0 >= 29, "poll waited %lld ms", (long long)(now_ms() - t0));
  CHECK(ev.data == NULL, "no output on timeout");

  CHECK(go_say("chat:hello", "hi"), "say");
  CHECK(EVENTUALLY(called, &hear), "the callback never heard the say");
  pthread_mutex_lock(&hear.mu);
  CHECK(strcmp(hear.name, "say:chat:hello") == 0, "event name %s", hear.name);
  CHECK(strcmp(hear.peer, go.name) == 0, "event peer %s", hear.peer);
  CHECK(strcmp(hear.data, "hi") == 0, "event data %s", hear.data);
  pthread_mutex_unlock(&hear.mu);

  CHECK_RC(TP_OK, tp_events_poll(stream, WAIT_MS, &ev, ERR));
  pb_bytes say = pb_sub(buf_bytes(ev), EVENT_SAY);
  CHECK(pb_eq(pb_sub(say, SAID_EVENT), "chat:hello"), "polled event");
  CHECK(pb_eq(pb_sub(pb_sub(say, SAID_DATA), VALUE_DATA), "hi"), "polled data");
  tp_buf_free(&ev);

  /* Unsubscribe: the finalizer has run once when close returns, and no
   * later event reaches the callback. */
  CHECK_RC(TP_OK, tp_subscription_close(sub, ERR));
  CHECK(atomic_load(&hear.finalized) == 1, "finalizer %d", atomic_load(&hear.finalized));
  int calls = atomic_load(&hear.calls);
  CHECK(go_say("chat:after", "x"), "say");
  CHECK_RC(TP_OK, tp_events_poll(stream, WAIT_MS, &ev, ERR));
  CHECK(pb_eq(pb_sub(buf_bytes(ev), EVENT_NAME), "say:chat:after"), "polled the later event");
  tp_buf_free(&ev);
  CHECK(atomic_load(&hear.calls) == calls, "a callback after unsubscribe");
  CHECK_RC(TP_OK, tp_subscription_close(sub, ERR));
  CHECK(atomic_load(&hear.finalized) == 1, "finalizer called again");
  CHECK(atomic_load(&hear.overlap) == 0, "overlapping calls");

  /* Batches: three says come back in order, many per call, every one
   * once; the layout is (0x0A, varint length, Event) per event. */
  CHECK(go_say("chat:b", "1") && go_say("chat:b", "2") && go_say("chat:b", "3"), "say");
  const char *want[] = {"1", "2", "3"};
  int got = 0, polls = 0;
  while (got < 3 && polls < 3) {
    tp_buf batch = {0};
    CHECK_RC(TP_OK, tp_events_poll_many(stream, WAIT_MS, 0, &batch, ERR));
    polls++;
    CHECK(batch.data != NULL && batch.data[0] == 0x0A, "batch layout");
    pb_bytes bb = buf_bytes(batch);
    int n = pb_count(bb, 1);
    CHECK(n >= 1, "a batch holds an event");
    for (int i = 0; i < n && got < 3; i++, got++) {
      pb_field f;
      CHECK(pb_find(bb, 1, i, &f), "event %d of the batch", i);
      pb_bytes said = pb_sub(f.bytes, EVENT_SAY);
      CHECK(pb_eq(pb_sub(pb_sub(said, SAID_DATA), VALUE_DATA), want[got]), "batched event %d in order", got);
    }
    tp_buf_free(&batch);
  }
  CHECK(got == 3, "the batches held %d of 3 events", got);

  /* Flat batches (ABI 1.2), read as C reads them: columns, and names as C
   * strings straight from the table. */
  CHECK(go_say("chat:f", "one") && go_say("chat:f", "two"), "say");
  const char *fwant[] = {"one", "two"};
  got = 0;
  polls = 0;
  while (got < 2 && polls < 2) {
    tp_buf flat = {0};
    CHECK_RC(TP_OK, tp_events_poll_flat(stream, WAIT_MS, 0, &flat, ERR));
    polls++;
    if (flat.data == NULL) {
      break;
    }
    uint32_t n = rd32(flat.data), nstr = rd32(flat.data + 4), tlen = rd32(flat.data + 8);
    uint32_t dlen = rd32(flat.data + 12);
    const uint8_t *offs = flat.data + TP_FLAT_HEADER_SIZE;
    const char *table = (const char *)offs + 4 * nstr;
    size_t cols = ((size_t)(table - (const char *)flat.data) + tlen + 7) & ~(size_t)7;
    size_t need = cols + (size_t)n * (8 + 8 + 5 * 4 + 3);
    CHECK(n >= 1 && nstr >= 1 && need + dlen <= flat.len, "flat header %u %u %u %u", n, nstr, tlen, dlen);
    const uint8_t *u32s = flat.data + cols + 16 * (size_t)n, *u8s = u32s + 20 * (size_t)n;
    for (uint32_t i = 0; i < n && got < 2 && need + dlen <= flat.len; i++, got++) {
      /* column c of event i */
#define STR(c) (table + rd32(offs + 4 * rd32(u32s + 4 * ((size_t)(c) * n + i))))
      CHECK(u8s[i] == TP_EVENT_SAY && u8s[n + i] == TP_ENCODING_TEXT && (u8s[2 * n + i] & TP_FLAT_VALUE_STRING),
            "flat say %u %u %u", u8s[i], u8s[n + i], u8s[2 * n + i]);
      CHECK(strcmp(STR(0), "say:chat:f") == 0 && strcmp(STR(2), "chat:f") == 0, "flat names %s %s", STR(0), STR(2));
      CHECK(strcmp(STR(1), go.name) == 0, "flat peer %s", STR(1));
      CHECK(strlen(STR(3)) == rd32(u32s + 4 * (4 * (size_t)n + i)) && strcmp(STR(3), fwant[got]) == 0,
            "flat event %d: %s", got, STR(3));
#undef STR
    }
    tp_buf_free(&flat);
  }
  CHECK(got == 2, "the flat batches held %d of 2 events", got);
  tp_buf none = {0};
  CHECK_RC(TP_TIMEOUT, tp_events_poll_flat(stream, 0, 0, &none, ERR));
  CHECK(none.data == NULL && none.len == 0, "no flat output on timeout");
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_events_poll_flat(stream, 0, TP_EVENTS_BATCH_MAX + 1, &none, ERR));
  CHECK_RC(TP_TIMEOUT, tp_events_poll_many(stream, 0, 0, &none, ERR)); /* none twice */
  CHECK(none.data == NULL && none.len == 0, "no output on timeout");
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_events_poll_many(stream, 0, TP_EVENTS_BATCH_MAX + 1, &none, ERR));

  CHECK_RC(TP_OK, tp_events_close(stream, ERR));
  CHECK_RC(TP_OK, tp_events_close(stream, ERR));
  CHECK_RC(TP_ERR_CLOSED, tp_events_poll(stream, 0, &ev, ERR));
  CHECK_RC(TP_ERR_CLOSED, tp_events_poll_many(stream, 0, 0, &none, ERR));
  CHECK_RC(TP_ERR_CLOSED, tp_events_poll_flat(stream, 0, 0, &none, ERR));
  CHECK(none.data == NULL, "no output after close");
}

static sub_state self_closer;

static int finalized(void *ctx) { return atomic_load(&((sub_state *)ctx)->finalized) == 1; }

static void test_close_from_callback(void) {
  sub_init(&self_closer);
  self_closer.close_self = 1;
  tp_subscription sub = 0;
  tp_events stream = 0;
  CHECK_RC(TP_OK, tp_events_open(engine, B("say:self"), 8, 0, &stream, ERR));
  CHECK_RC(TP_OK, tp_engine_subscribe(engine, B("say:self"), 8, on_event, &self_closer, on_finalize, &sub, ERR));
  atomic_store(&self_closer.self, sub);
  CHECK(go_say("self", "1"), "say");
  CHECK(go_say("self", "2"), "say");
  tp_buf ev = {0};
  CHECK_RC(TP_OK, tp_events_poll(stream, WAIT_MS, &ev, ERR));
  tp_buf_free(&ev);
  CHECK_RC(TP_OK, tp_events_poll(stream, WAIT_MS, &ev, ERR)); /* both delivered */
  tp_buf_free(&ev);
  CHECK(EVENTUALLY(finalized, &self_closer), "finalizer never ran");
  CHECK(atomic_load(&self_closer.calls) == 1, "calls after closing from inside: %d",
        atomic_load(&self_closer.calls));
  CHECK(atomic_load(&self_closer.close_rc) == TP_OK, "close from inside: %d", atomic_load(&self_closer.close_rc));
  CHECK_RC(TP_OK, tp_subscription_close(sub, ERR));
  CHECK(atomic_load(&self_closer.finalized) == 1, "finalized once");
  CHECK_RC(TP_OK, tp_events_close(stream, ERR));
}

static sub_state answerer;

static int replied(void *ctx) { return atomic_load(&((sub_state *)ctx)->reply_rc) != 99; }

/*
 * Asks are tried up to ASK_TRIES times, 5 s each: engine.Ask registers its
 * waiter only after the ask is pushed, so a reply that comes back within
 * that window is dropped as late (Stats.late_replies). That is the likely
 * cause of the one lost reply seen in about 200 runs on a loaded machine
 * (C had replied with TP_OK); reported for the engine.
 */
#define ASK_TRIES 3

static void test_ask(void) {
  /* C asks, Go answers. */
  tp_buf replies = {0};
  int n = 0;
  for (int i = 0; i < ASK_TRIES && n == 0; i++) {
    tp_buf_free(&replies);
    CHECK_RC(TP_OK, tp_engine_ask(engine, B("ping:x"), 6, B("hello"), 5, TP_ENCODING_TEXT, 5000, &replies, ERR));
    n = pb_count(buf_bytes(replies), REPLIES_REPLY);
  }
  pb_bytes r = pb_sub(buf_bytes(replies), REPLIES_REPLY);
  CHECK(n == 1, "one reply, got %d", n);
  CHECK(pb_eq(pb_sub(r, REPLY_PEER), go.name), "reply from go");
  CHECK(pb_eq(pb_sub(pb_sub(r, REPLY_VALUE), VALUE_DATA), "pong"), "reply data");
  tp_buf_free(&replies);

  /* Go asks, C answers from its callback with tp_engine_reply. */
  sub_init(&answerer);
  answerer.engine = engine;
  answerer.reply = 1;
  tp_subscription sub = 0;
  CHECK_RC(TP_OK, tp_engine_subscribe(engine, B("say:question"), 12, on_event, &answerer, on_finalize, &sub, ERR));
  int got = 0, ended = 1;
  for (int i = 0; i < ASK_TRIES && !got && ended; i++) {
    cJSON *res = godriver_call(&go, WAIT_MS + 5000,
                               "{\"cmd\":\"ask\",\"event\":\"question\",\"value\":{\"encoding\":\"text\","
                               "\"text\":\"what\"},\"timeout_ms\":5000}");
    ended = res != NULL;
    const cJSON *reply;
    cJSON_ArrayForEach(reply, cJSON_GetObjectItemCaseSensitive(res, "replies")) {
      const cJSON *peer = cJSON_GetObjectItemCaseSensitive(reply, "peer");
      const char *text = godriver_text(cJSON_GetObjectItemCaseSensitive(reply, "value"));
      got |= cJSON_IsString(peer) && strcmp(peer->valuestring, my_name) == 0 && text != NULL &&
             strcmp(text, "answer-from-c") == 0;
    }
    cJSON_Delete(res);
  }
  CHECK(got, "Go never got C's reply");
  CHECK(ended, "Go's ask failed");
  /* The reply may reach Go before the callback stored its status. */
  CHECK(EVENTUALLY(replied, &answerer) && atomic_load(&answerer.reply_rc) == TP_OK, "reply rc %d",
        atomic_load(&answerer.reply_rc));
  pthread_mutex_lock(&answerer.mu);
  CHECK(strcmp(answerer.data, "what") == 0, "ask data %s", answerer.data);
  pthread_mutex_unlock(&answerer.mu);
  /* This subscription stays open: tp_engine_close must end it. */
}

static void test_say_and_stats(void) {
  CHECK_RC(TP_OK, tp_engine_say(engine, B("from-c"), 6, B("x"), 1, TP_ENCODING_RAW, 0, 0, ERR));
  CHECK_RC(TP_OK, tp_engine_say(engine, B("from-c"), 6, NULL, 0, TP_ENCODING_RAW, 500, TP_SAY_BUFFERED, ERR));
  tp_buf stats = {0};
  CHECK_RC(TP_OK, tp_engine_stats(engine, &stats, ERR));
  CHECK(pb_uint(buf_bytes(stats), STATS_SETS) == 4, "sets %llu",
        (unsigned long long)pb_uint(buf_bytes(stats), STATS_SETS));
  CHECK(pb_uint(buf_bytes(stats), STATS_LIVE_PEERS) == 1, "live peers");
  tp_buf_free(&stats);
}

static void test_bad_inputs(const char *cluster) {
  tp_buf out = {0};
  const tp_engine unknown = (1000000ULL << 2) | 1; /* an engine handle never issued */
  static uint8_t big_key[1025];
  memset(big_key, 'k', sizeof big_key);
  size_t big_len = (8u << 20) + 1;
  uint8_t *big_value = calloc(big_len, 1);

  /* NULL pointers with a non-zero length. */
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_set(engine, NULL, 3, B("v"), 1, 0, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_set(engine, B("k"), 1, NULL, 1, 0, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_get(engine, NULL, 1, &out, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_get_remote(engine, NULL, 2, B("k"), 1, &out, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_get_remote_keys(engine, NULL, 2, &out, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_delete(engine, NULL, 2, NULL, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_say(engine, NULL, 2, NULL, 0, 0, 0, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_say(engine, B("e"), 1, NULL, 5, 0, 0, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_ask(engine, B("e"), 1, NULL, 5, 0, 10, &out, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_reply(engine, 1, NULL, 5, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_new(NULL, 4, &(tp_engine){0}, ERR));
  tp_subscription s = 0;
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_subscribe(engine, NULL, 3, on_event, NULL, NULL, &s, ERR));
  tp_events st = 0;
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_events_open(engine, NULL, 3, 0, &st, ERR));
  /* NULL out-pointers and callbacks. */
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_new(NULL, 0, NULL, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_get(engine, B("k"), 1, NULL, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_info(engine, NULL, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_stats(engine, NULL, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_all_peers(engine, NULL, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_ask(engine, B("e"), 1, NULL, 0, 0, 10, NULL, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_subscribe(engine, B("**"), 2, NULL, NULL, on_finalize, &s, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_subscribe(engine, B("**"), 2, on_event, NULL, NULL, NULL, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_events_open(engine, B("**"), 2, 0, NULL, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_events_open(engine, B("**"), 2, (1u << 20) + 1, &st, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_events_poll(1, 0, NULL, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_events_poll_many(1, 0, 0, NULL, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_events_poll_flat(1, 0, 0, NULL, ERR));

  /* Unknown, null, wrong-kind and closed handles. */
  CHECK_RC(TP_ERR_HANDLE, tp_engine_set(unknown, B("k"), 1, NULL, 0, 0, 0, ERR));
  CHECK_RC(TP_ERR_HANDLE, tp_engine_set(0, B("k"), 1, NULL, 0, 0, 0, ERR));
  CHECK_RC(TP_ERR_HANDLE, tp_engine_start(0, ERR));
  CHECK_RC(TP_ERR_HANDLE, tp_engine_get(unknown, B("k"), 1, &out, ERR));
  CHECK_RC(TP_ERR_HANDLE, tp_engine_close(unknown, ERR));
  CHECK_RC(TP_ERR_HANDLE, tp_events_poll(unknown, 0, &out, ERR)); /* an engine-kind handle */
  CHECK_RC(TP_ERR_HANDLE, tp_events_poll_many(unknown, 0, 0, &out, ERR));
  CHECK_RC(TP_ERR_HANDLE, tp_events_poll_many(0, 0, 0, &out, ERR));
  CHECK_RC(TP_ERR_HANDLE, tp_events_poll_flat(unknown, 0, 0, &out, ERR));
  CHECK_RC(TP_ERR_HANDLE, tp_events_poll_flat(0, 0, 0, &out, ERR));
  CHECK_RC(TP_ERR_HANDLE, tp_subscription_close(unknown, ERR));
  CHECK_RC(TP_OK, tp_engine_close(0, ERR));
  CHECK_RC(TP_OK, tp_subscription_close(0, ERR));
  CHECK_RC(TP_OK, tp_events_close(0, ERR));
  tp_engine closed = 0;
  pb_writer cfg = local_config(cluster, NULL, 0);
  CHECK_RC(TP_OK, tp_engine_new(cfg.data, cfg.len, &closed, ERR));
  CHECK_RC(TP_OK, tp_engine_close(closed, ERR));
  CHECK_RC(TP_OK, tp_engine_close(closed, ERR)); /* double close */
  CHECK_RC(TP_ERR_CLOSED, tp_engine_set(closed, B("k"), 1, NULL, 0, 0, 0, ERR));
  CHECK_RC(TP_ERR_CLOSED, tp_engine_start(closed, ERR));
  CHECK_RC(TP_ERR_CLOSED, tp_engine_info(closed, &out, ERR));
  CHECK_RC(TP_ERR_CLOSED, tp_engine_subscribe(closed, B("**"), 2, on_event, NULL, NULL, &s, ERR));
  CHECK(s == 0, "no handle on failure");

  /* Keys: invalid UTF-8, NUL, empty, oversized. */
  CHECK_RC(TP_ERR_INVALID_KEY, tp_engine_set(engine, B("bad\xff"), 4, B("v"), 1, 0, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_KEY, tp_engine_set(engine, B("a\0b"), 3, B("v"), 1, 0, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_KEY, tp_engine_set(engine, NULL, 0, B("v"), 1, 0, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_KEY, tp_engine_set(engine, big_key, sizeof big_key, B("v"), 1, 0, 0, ERR));
  CHECK_RC(TP_OK, tp_engine_set(engine, big_key, sizeof big_key - 1, B("v"), 1, 0, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_KEY, tp_engine_get(engine, B("bad\xc3"), 4, &out, ERR));
  CHECK_RC(TP_ERR_INVALID_KEY, tp_engine_get(engine, big_key, sizeof big_key, &out, ERR));
  CHECK_RC(TP_ERR_INVALID_KEY, tp_engine_delete(engine, B("bad\xff"), 4, NULL, ERR));
  /* Values: oversized, bad encoding, bytes that do not match it, expiry. */
  CHECK_RC(TP_ERR_VALUE_TOO_LARGE, tp_engine_set(engine, B("k"), 1, big_value, big_len, 0, 0, ERR));
  CHECK_RC(TP_OK, tp_engine_set(engine, B("big"), 3, big_value, big_len - 1, 0, 0, ERR));
  CHECK_RC(TP_OK, tp_engine_delete(engine, B("big"), 3, NULL, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_set(engine, B("k"), 1, B("v"), 1, 3, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_set(engine, B("k"), 1, B("v"), 1, -1, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_set(engine, B("k"), 1, B("\xff"), 1, TP_ENCODING_TEXT, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_set(engine, B("k"), 1, B("{"), 1, TP_ENCODING_JSON, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_set(engine, B("k"), 1, B("v"), 1, 0, -1, ERR));
  /* Names, patterns, events. */
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_get_remote(engine, B("\xff"), 1, B("k"), 1, &out, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_subscribe(engine, B("say:\xff"), 5, on_event, NULL, NULL, &s, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_events_open(engine, B("\xc3"), 1, 0, &st, ERR));
  CHECK_RC(TP_ERR_INVALID_EVENT, tp_engine_say(engine, B("\xff"), 1, NULL, 0, 0, 0, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_EVENT, tp_engine_say(engine, NULL, 0, NULL, 0, 0, 0, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_EVENT, tp_engine_say(engine, big_key, 257, NULL, 0, 0, 0, 0, ERR));
  CHECK_RC(TP_ERR_VALUE_TOO_LARGE, tp_engine_say(engine, B("e"), 1, big_value, (256 << 10) + 1, 0, 0, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_say(engine, B("e"), 1, NULL, 0, 0, -1, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_say(engine, B("e"), 1, NULL, 0, 0, 0, 0x80, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_ask(engine, B("e"), 1, NULL, 0, 0, 0, &out, ERR));
  CHECK_RC(TP_ERR_UNKNOWN_ASK, tp_engine_reply(engine, 987654321, B("v"), 1, 0, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_reply(engine, 1, B("v"), 1, 7, ERR));
  /* Configs. */
  tp_engine e2 = 42;
  CHECK_RC(TP_ERR_CONFIG, tp_engine_new(B("\xff\xff\xff"), 3, &e2, ERR));
  CHECK(e2 == 0, "no handle on failure");
  pb_writer bad = {.len = 0};
  pb_put_uint(&bad, CONFIG_PRESET, 42);
  CHECK_RC(TP_ERR_CONFIG, tp_engine_new(bad.data, bad.len, &e2, ERR));
  bad.len = 0;
  pb_put_uint(&bad, 9999, 1); /* a field this library does not know */
  CHECK_RC(TP_ERR_CONFIG, tp_engine_new(bad.data, bad.len, &e2, ERR));
  bad.len = 0;
  pb_put_str(&bad, CONFIG_CLUSTER, "bad\xff");
  CHECK_RC(TP_ERR_CONFIG, tp_engine_new(bad.data, bad.len, &e2, ERR));
  /* A busy address: the engine is made, starting it fails. */
  bad = local_config(cluster, NULL, 0);
  pb_put_str(&bad, CONFIG_BIND_ADDR, my_addr);
  CHECK_RC(TP_OK, tp_engine_new(bad.data, bad.len, &e2, ERR));
  CHECK_RC(TP_ERR_IO, tp_engine_start(e2, ERR));
  CHECK_RC(TP_OK, tp_engine_close(e2, ERR));
  /* Empty config: the LAN preset. */
  CHECK_RC(TP_OK, tp_engine_new(NULL, 0, &e2, ERR));
  CHECK_RC(TP_OK, tp_engine_close(e2, ERR));

  /* A NULL err: the status alone, no crash, no message allocated. */
  CHECK(tp_engine_set(engine, B("bad\xff"), 4, NULL, 0, 0, 0, NULL) == TP_ERR_INVALID_KEY, "null err");
  CHECK(tp_engine_set(unknown, B("k"), 1, NULL, 0, 0, 0, NULL) == TP_ERR_HANDLE, "null err");
  CHECK(tp_engine_close(0, NULL) == TP_OK, "null err");
  /* The message: UTF-8, 0-terminated, freed by tp_buf_free. */
  tp_buf err = {0};
  CHECK(tp_engine_set(engine, big_key, sizeof big_key, NULL, 0, 0, 0, &err) == TP_ERR_INVALID_KEY, "rc");
  CHECK(err.data != NULL && err.len > 0 && err.data[err.len] == 0 && strstr((char *)err.data, "key"),
        "message: %s", err.data ? (char *)err.data : "(null)");
  tp_buf_free(&err);
  CHECK(err.data == NULL && err.len == 0, "freed buf is zeroed");
  /* On success the error is zeroed. */
  err.data = (uint8_t *)1; /* not freed by the library, only overwritten */
  err.len = 1;
  CHECK(tp_engine_close(0, &err) == TP_OK && err.data == NULL && err.len == 0, "err zeroed on success");
  free(big_value);
}

/* ------------------------------------------------------ cluster keyring */

/* The nth key of a Keyring message equals 32 bytes of fill. */
static int keyring_has(tp_buf kr, int nth, uint8_t fill) {
  pb_field f;
  if (!pb_find(buf_bytes(kr), KEYRING_KEYS, nth, &f) || f.wire_type != 2 || f.bytes.len != 32) {
    return 0;
  }
  for (size_t i = 0; i < 32; i++) {
    if (f.bytes.data[i] != fill) {
      return 0;
    }
  }
  return 1;
}

static void test_keyring(const char *cluster) {
  uint8_t k1[32], k2[32], k3[32], short_key[31], long_key[33];
  memset(k1, 1, sizeof k1);
  memset(k2, 2, sizeof k2);
  memset(k3, 3, sizeof k3);
  memset(short_key, 1, sizeof short_key);
  memset(long_key, 1, sizeof long_key);
  CHECK(tp_abi_version() >= ((1u << 16) | 1), "the keyring needs ABI 1.1");

  pb_writer cfg = local_config(cluster, NULL, 0);
  pb_put_bytes(&cfg, CONFIG_KEYS, k1, sizeof k1);
  tp_engine e = 0;
  CHECK_RC(TP_OK, tp_engine_new(cfg.data, cfg.len, &e, ERR));

  tp_buf kr = {0};
  CHECK_RC(TP_OK, tp_engine_keys(e, &kr, ERR));
  CHECK(pb_count(buf_bytes(kr), KEYRING_KEYS) == 1 && keyring_has(kr, 0, 1), "config key is the primary");
  tp_buf_free(&kr);

  /* Rotation: install, use, remove the old one. */
  CHECK_RC(TP_OK, tp_engine_install_key(e, k2, sizeof k2, ERR));
  CHECK_RC(TP_OK, tp_engine_install_key(e, k2, sizeof k2, ERR)); /* twice: harmless */
  memset(k2, 9, sizeof k2); /* borrowed: the library kept its copy */
  memset(k2, 2, sizeof k2);
  CHECK_RC(TP_OK, tp_engine_use_key(e, k2, sizeof k2, ERR));
  CHECK_RC(TP_ERR_PRIMARY_KEY, tp_engine_remove_key(e, k2, sizeof k2, ERR));
  CHECK_RC(TP_OK, tp_engine_remove_key(e, k1, sizeof k1, ERR));
  CHECK_RC(TP_ERR_KEY_NOT_INSTALLED, tp_engine_remove_key(e, k1, sizeof k1, ERR));
  CHECK_RC(TP_ERR_KEY_NOT_INSTALLED, tp_engine_use_key(e, k3, sizeof k3, ERR));
  CHECK_RC(TP_OK, tp_engine_keys(e, &kr, ERR));
  CHECK(pb_count(buf_bytes(kr), KEYRING_KEYS) == 1 && keyring_has(kr, 0, 2), "k2 alone, primary");
  CHECK(kr.data[kr.len] == 0, "outputs end with a 0 byte");
  tp_buf_free(&kr);

  /* Bad key lengths: every call, never a crash. */
  CHECK_RC(TP_ERR_KEY_MATERIAL, tp_engine_install_key(e, short_key, sizeof short_key, ERR));
  CHECK_RC(TP_ERR_KEY_MATERIAL, tp_engine_install_key(e, long_key, sizeof long_key, ERR));
  CHECK_RC(TP_ERR_KEY_MATERIAL, tp_engine_install_key(e, NULL, 0, ERR)); /* empty input */
  CHECK_RC(TP_ERR_KEY_MATERIAL, tp_engine_use_key(e, short_key, sizeof short_key, ERR));
  CHECK_RC(TP_ERR_KEY_MATERIAL, tp_engine_remove_key(e, long_key, sizeof long_key, ERR));
  /* NULL pointers with a length, NULL out-pointer, NULL err. */
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_install_key(e, NULL, 32, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_use_key(e, NULL, 32, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_remove_key(e, NULL, 32, ERR));
  CHECK_RC(TP_ERR_INVALID_ARGUMENT, tp_engine_keys(e, NULL, ERR));
  CHECK(tp_engine_install_key(e, short_key, sizeof short_key, NULL) == TP_ERR_KEY_MATERIAL, "null err");
  CHECK(tp_engine_remove_key(e, k2, sizeof k2, NULL) == TP_ERR_PRIMARY_KEY, "null err");
  tp_buf err = {0};
  CHECK(tp_engine_install_key(e, short_key, sizeof short_key, &err) == TP_ERR_KEY_MATERIAL &&
            err.data != NULL && err.data[err.len] == 0,
        "message: %s", err.data ? (char *)err.data : "(null)");
  tp_buf_free(&err);

  /* The staged upgrade. */
  CHECK_RC(TP_OK, tp_engine_set_plaintext(e, 1, 1, ERR));
  CHECK_RC(TP_OK, tp_engine_set_plaintext(e, 1, 0, ERR));
  CHECK_RC(TP_OK, tp_engine_set_plaintext(e, 0, 0, ERR));

  /* Handles: unknown, 0, closed. */
  const tp_engine unknown = (1000000ULL << 2) | 1;
  CHECK_RC(TP_ERR_HANDLE, tp_engine_install_key(unknown, k1, sizeof k1, ERR));
  CHECK_RC(TP_ERR_HANDLE, tp_engine_keys(0, &kr, ERR));
  CHECK(kr.data == NULL && kr.len == 0, "no output on failure");
  CHECK_RC(TP_ERR_HANDLE, tp_engine_set_plaintext(0, 1, 1, ERR));
  CHECK_RC(TP_OK, tp_engine_close(e, ERR));
  CHECK_RC(TP_ERR_CLOSED, tp_engine_install_key(e, k1, sizeof k1, ERR));
  CHECK_RC(TP_ERR_CLOSED, tp_engine_use_key(e, k2, sizeof k2, ERR));
  CHECK_RC(TP_ERR_CLOSED, tp_engine_remove_key(e, k2, sizeof k2, ERR));
  CHECK_RC(TP_ERR_CLOSED, tp_engine_keys(e, &kr, ERR));
  CHECK_RC(TP_ERR_CLOSED, tp_engine_set_plaintext(e, 0, 0, ERR));
  CHECK(strcmp(tp_status_name(TP_ERR_KEY_NOT_INSTALLED), "TP_ERR_KEY_NOT_INSTALLED") == 0, "name");
}

static void test_close(void) {
  CHECK_RC(TP_OK, tp_engine_stop(engine, ERR));
  CHECK_RC(TP_OK, tp_engine_stop(engine, ERR));
  CHECK_RC(TP_ERR_NOT_RUNNING, tp_engine_say(engine, B("e"), 1, NULL, 0, 0, 0, 0, ERR));
  CHECK_RC(TP_OK, tp_engine_close(engine, ERR));
  /* The subscription left open in test_ask ended with the engine. */
  CHECK(atomic_load(&answerer.finalized) == 1, "finalizer at engine close: %d", atomic_load(&answerer.finalized));
  CHECK(atomic_load(&answerer.overlap) == 0, "overlap");
  CHECK_RC(TP_OK, tp_engine_close(engine, ERR));
  CHECK_RC(TP_ERR_CLOSED, tp_engine_get(engine, B("k"), 1, &(tp_buf){0}, ERR));
}

/* Forgets to free one tp_buf. */
static int leak_canary(void) {
  tp_engine e = 0;
  tp_buf *volatile info = calloc(1, sizeof *info);
  if (tp_engine_new(NULL, 0, &e, NULL) != TP_OK || tp_engine_info(e, info, NULL) != TP_OK) {
    return 1;
  }
  tp_engine_close(e, NULL);
  free(info); /* the struct, not info->data: that is the leak */
  printf("ffi_test: leaked one tp_buf on purpose\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--leak-canary") == 0) {
    return leak_canary();
  }
  if (argc != 2) {
    fprintf(stderr, "usage: %s PATH_TO_GO_DRIVER\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  char cluster[64];
  snprintf(cluster, sizeof cluster, "ffi-c-%d", (int)getpid());
  test_library();
  if (!go_start(argv[1], cluster)) {
    fprintf(stderr, "cannot start the Go peer %s\n", argv[1]);
    godriver_stop(&go);
    return 1;
  }
  test_join(cluster);
  test_key_values();
  test_subscribe_and_poll();
  test_close_from_callback();
  test_ask();
  test_say_and_stats();
  test_bad_inputs(cluster);
  test_keyring(cluster);
  test_close();
  godriver_stop(&go);
  printf("ffi_test: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
