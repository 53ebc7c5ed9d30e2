/*
 * Helpers shared by the C test and benchmark of libtelepathine: a minimal
 * protobuf reader and writer (enough for the api messages, so the tests
 * need no protobuf library) and clocks. Header-only: each program is a single translation unit.
 */
#ifndef TP_FFI_COMMON_H
#define TP_FFI_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "telepathine.h"

/* ------------------------------------------------------------- clocks */

static inline int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t now_ms(void) { return now_ns() / 1000000; }

/* Sleeps between two checks of a condition polled against a deadline. */
static inline void pause_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* ----------------------------------------------------- protobuf reader */

typedef struct {
  const uint8_t *data;
  size_t len;
} pb_bytes;

typedef struct {
  uint32_t num;
  int wire_type;
  uint64_t varint; /* wire types 0, 1, 5 */
  pb_bytes bytes;  /* wire type 2 */
} pb_field;

static inline int pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  uint64_t r = 0;
  for (int shift = 0; *p < end && shift < 64; shift += 7) {
    uint8_t c = *(*p)++;
    r |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *v = r;
      return 1;
    }
  }
  return 0;
}

/* Reads the field at *p; returns 1, or 0 at the end or on malformed input. */
static inline int pb_next(const uint8_t **p, const uint8_t *end, pb_field *f) {
  uint64_t key, n;
  if (*p >= end || !pb_varint(p, end, &key)) {
    return 0;
  }
  f->num = (uint32_t)(key >> 3);
  f->wire_type = (int)(key & 7);
  f->varint = 0;
  f->bytes.data = NULL;
  f->bytes.len = 0;
  switch (f->wire_type) {
  case 0:
    return pb_varint(p, end, &f->varint);
  case 1:
  case 5:
    n = f->wire_type == 1 ? 8 : 4;
    if ((uint64_t)(end - *p) < n) {
      return 0;
    }
    memcpy(&f->varint, *p, n); /* little-endian host */
    *p += n;
    return 1;
  case 2:
    if (!pb_varint(p, end, &n) || (uint64_t)(end - *p) < n) {
      return 0;
    }
    f->bytes.data = *p;
    f->bytes.len = (size_t)n;
    *p += n;
    return 1;
  }
  return 0;
}

/* Finds occurrence `nth` (0-based) of field num; returns 1 when found. */
static inline int pb_find(pb_bytes msg, uint32_t num, int nth, pb_field *out) {
  const uint8_t *p = msg.data, *end = msg.data + msg.len;
  pb_field f;
  while (pb_next(&p, end, &f)) {
    if (f.num == num && nth-- == 0) {
      *out = f;
      return 1;
    }
  }
  return 0;
}

static inline pb_bytes pb_sub(pb_bytes msg, uint32_t num) {
  pb_field f;
  pb_bytes none = {(const uint8_t *)"", 0};
  return pb_find(msg, num, 0, &f) && f.wire_type == 2 ? f.bytes : none;
}

static inline uint64_t pb_uint(pb_bytes msg, uint32_t num) {
  pb_field f;
  return pb_find(msg, num, 0, &f) && f.wire_type != 2 ? f.varint : 0;
}

static inline int pb_count(pb_bytes msg, uint32_t num) {
  pb_field f;
  int n = 0;
  while (pb_find(msg, num, n, &f)) {
    n++;
  }
  return n;
}

/* Compares a bytes field with a C string. */
static inline int pb_eq(pb_bytes b, const char *s) {
  return b.len == strlen(s) && memcmp(b.data, s, b.len) == 0;
}

/* Copies a bytes field into a C string (truncated to cap-1). */
static inline void pb_str(pb_bytes b, char *out, size_t cap) {
  size_t n = b.len < cap - 1 ? b.len : cap - 1;
  memcpy(out, b.data, n);
  out[n] = 0;
}

static inline pb_bytes buf_bytes(tp_buf b) {
  pb_bytes r = {b.data, b.len};
  return r;
}

/* ----------------------------------------------------- protobuf writer */

typedef struct {
  uint8_t data[4096];
  size_t len;
} pb_writer;

static inline void pb_put_varint(pb_writer *w, uint64_t v) {
  while (v >= 0x80 && w->len < sizeof w->data) {
    w->data[w->len++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  if (w->len < sizeof w->data) {
    w->data[w->len++] = (uint8_t)v;
  }
}

static inline void pb_put_uint(pb_writer *w, uint32_t num, uint64_t v) {
  pb_put_varint(w, (uint64_t)num << 3);
  pb_put_varint(w, v);
}

static inline void pb_put_str(pb_writer *w, uint32_t num, const char *s) {
  size_t n = strlen(s);
  pb_put_varint(w, (uint64_t)num << 3 | 2);
  pb_put_varint(w, n);
  if (w->len + n <= sizeof w->data) {
    memcpy(w->data + w->len, s, n);
    w->len += n;
  }
}

static inline void pb_put_bytes(pb_writer *w, uint32_t num, const uint8_t *b, size_t n) {
  pb_put_varint(w, (uint64_t)num << 3 | 2);
  pb_put_varint(w, n);
  if (w->len + n <= sizeof w->data) {
    memcpy(w->data + w->len, b, n);
    w->len += n;
  }
}

/* Field numbers of telepathine.api.v1 used here. */
enum {
  CONFIG_PRESET = 1,
  CONFIG_NAME = 2,
  CONFIG_CLUSTER = 3,
  CONFIG_BIND_ADDR = 4,
  CONFIG_SEEDS = 6,
  CONFIG_HANDLER_QUEUE = 29,
  PRESET_LOCAL = 3,
  VALUE_DATA = 1,
  VALUE_ENCODING = 2,
  KV_PEER = 1,
  KV_KEY = 2,
  KV_VALUE = 3,
  KV_EXPIRES_AT_MS = 4,
  KEYLIST_KEYS = 1,
  PEERLIST_PEERS = 1,
  PEER_NAME = 1,
  PEER_ADDR = 2,
  PEER_STATE = 3,
  INFO_NAME = 1,
  INFO_ADDR = 2,
  INFO_RUNNING = 4,
  REPLIES_REPLY = 1,
  REPLY_PEER = 1,
  REPLY_VALUE = 2,
  EVENT_NAME = 1,
  EVENT_PEER = 2,
  EVENT_SAY = 15,
  EVENT_ASK = 16,
  SAID_EVENT = 1,
  SAID_DATA = 2,
  ASKED_DATA = 2,
  ASKED_ASK_ID = 4,
  STATS_SETS = 2,
  STATS_SAYS = 3,
  STATS_FOREIGN_CLUSTER = 14,
  STATS_EVENTS_DROPPED = 20,
  STATS_LIVE_PEERS = 24,
  CONFIG_KEYS = 41,
  CONFIG_NETWORK_KEY = 42,
  CONFIG_ACCEPT_PLAINTEXT = 43,
  CONFIG_SEND_PLAINTEXT = 44,
  KEYRING_KEYS = 1,
  STATS_DROPS = 29, /* map<string, uint64>: entries of key = 1, value = 2 */
};

/* A Config for the Local preset in cluster, seeded with seed (may be NULL). */
static inline pb_writer local_config(const char *cluster, const char *seed, uint32_t handler_queue) {
  pb_writer w;
  w.len = 0;
  pb_put_uint(&w, CONFIG_PRESET, PRESET_LOCAL);
  pb_put_str(&w, CONFIG_CLUSTER, cluster);
  if (seed != NULL) {
    pb_put_str(&w, CONFIG_SEEDS, seed);
  }
  if (handler_queue != 0) {
    pb_put_uint(&w, CONFIG_HANDLER_QUEUE, handler_queue);
  }
  return w;
}

#endif /* TP_FFI_COMMON_H */
