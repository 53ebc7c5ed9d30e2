/*
 * Helpers shared by the C test and benchmark of libtelepathine: a minimal
 * protobuf reader and writer (enough for the api messages, so the tests
 * need no protobuf library), the Go peer process driven over pipes, and
 * clocks. Header-only: each program is a single translation unit.
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

extern char **environ;

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
};

/* --------------------------------------------------------- the Go peer */

typedef struct {
  pid_t pid;
  int in_fd;  /* its stdin */
  int out_fd; /* its stdout */
  char pending[1 << 16];
  size_t npending;
  char addr[256];
  char name[256];
} gopeer;

/* Reads one line (without its newline) within timeout_ms; 1 on success. */
static inline int gopeer_line(gopeer *g, char *line, size_t cap, int timeout_ms) {
  int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    char *nl = memchr(g->pending, '\n', g->npending);
    if (nl != NULL) {
      size_t n = (size_t)(nl - g->pending);
      size_t c = n < cap - 1 ? n : cap - 1;
      memcpy(line, g->pending, c);
      line[c] = 0;
      memmove(g->pending, nl + 1, g->npending - n - 1);
      g->npending -= n + 1;
      return 1;
    }
    int64_t left = deadline - now_ms();
    if (left <= 0 || g->npending == sizeof g->pending) {
      return 0;
    }
    struct pollfd pfd = {g->out_fd, POLLIN, 0};
    int r = poll(&pfd, 1, (int)left);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      return 0;
    }
    ssize_t got = read(g->out_fd, g->pending + g->npending, sizeof g->pending - g->npending);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got <= 0) {
      return 0;
    }
    g->npending += (size_t)got;
  }
}

/* Sends one command line. */
static inline int gopeer_cmd(gopeer *g, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof line - 1) {
    return 0;
  }
  line[n++] = '\n';
  return write(g->in_fd, line, (size_t)n) == n;
}

/* Sends a command and expects the one-line answer want. */
static inline int gopeer_expect(gopeer *g, const char *want, int timeout_ms, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0 || !gopeer_cmd(g, "%s", line)) {
    return 0;
  }
  if (!gopeer_line(g, line, sizeof line, timeout_ms)) {
    fprintf(stderr, "gopeer: no answer\n");
    return 0;
  }
  if (strcmp(line, want) != 0) {
    fprintf(stderr, "gopeer answered %s, not %s\n", line, want);
    return 0;
  }
  return 1;
}

/*
 * Starts the Go peer (fork+exec through posix_spawn: safe although this
 * process already runs the Go runtime of the library) and reads its
 * address and name. Returns 1 on success.
 */
static inline int gopeer_start(gopeer *g, const char *path, const char *cluster) {
  int in[2], out[2];
  memset(g, 0, sizeof *g);
  g->pid = -1;
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    perror("pipe2");
    return 0;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  char *argv[] = {(char *)path, (char *)"-cluster", (char *)cluster, NULL};
  int rc = posix_spawn(&g->pid, path, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  g->in_fd = in[1];
  g->out_fd = out[0];
  if (rc != 0) {
    fprintf(stderr, "posix_spawn %s: %s\n", path, strerror(rc));
    g->pid = -1;
    return 0;
  }
  char line[200];
  for (int i = 0; i < 3; i++) {
    if (!gopeer_line(g, line, sizeof line, 30000)) {
      fprintf(stderr, "gopeer did not start\n");
      return 0;
    }
    if (strncmp(line, "ADDR ", 5) == 0) {
      snprintf(g->addr, sizeof g->addr, "%s", line + 5);
    } else if (strncmp(line, "NAME ", 5) == 0) {
      snprintf(g->name, sizeof g->name, "%s", line + 5);
    }
  }
  return strcmp(line, "READY") == 0 && g->addr[0] != 0;
}

/* Asks the Go peer to quit and reaps it (killing it after 10 s). */
static inline void gopeer_stop(gopeer *g) {
  if (g->pid <= 0) {
    return;
  }
  gopeer_cmd(g, "quit");
  close(g->in_fd);
  int64_t deadline = now_ms() + 10000;
  int status;
  while (waitpid(g->pid, &status, WNOHANG) == 0) {
    if (now_ms() > deadline) {
      kill(g->pid, SIGKILL);
      waitpid(g->pid, &status, 0);
      break;
    }
    pause_ms(5);
  }
  close(g->out_fd);
  g->pid = -1;
}

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
