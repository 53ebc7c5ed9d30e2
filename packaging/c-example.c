/*
 * A C user's first program. `make test-packages` copies it into an empty
 * folder and builds it with nothing but
 *     cc example.c $(pkg-config --cflags --libs telepathine)
 * against a `make install PREFIX=...`: two engines on loopback, the first
 * sets a key, the second reads the replica. Prints "b reads color=blue".
 *
 * Configs cross the ABI as serialized telepathine.api.v1.Config messages; a
 * C program without a protobuf library writes the few bytes it needs by
 * hand (field 1: preset, field 6: a seed) and reads one string field of
 * EngineInfo back, as below.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <telepathine.h>

/* Prints the error of a failed call, frees it, and exits. */
static void check(int status, tp_buf *err, const char *what) {
  if (status >= 0) return;
  fprintf(stderr, "%s: %s: %.*s\n", what, tp_status_name(status), (int)err->len, (const char *)err->data);
  tp_buf_free(err);
  exit(1);
}

/* The string field `field` of a protobuf message (no nesting needed here);
 * len 0 when absent. */
static size_t pb_string(const tp_buf *msg, unsigned field, const uint8_t **out) {
  const uint8_t *p = msg->data, *end = msg->data + msg->len;
  while (p < end) {
    uint64_t key = 0, v = 0;
    for (int s = 0; p < end && s < 64; s += 7) { key |= (uint64_t)(*p & 0x7f) << s; if (!(*p++ & 0x80)) break; }
    unsigned type = key & 7;
    if (type == 0) {
      while (p < end && (*p++ & 0x80)) {}
    } else if (type == 2) {
      for (int s = 0; p < end && s < 64; s += 7) { v |= (uint64_t)(*p & 0x7f) << s; if (!(*p++ & 0x80)) break; }
      if (v > (uint64_t)(end - p)) return 0;
      if ((key >> 3) == field) { *out = p; return (size_t)v; }
      p += v;
    } else if (type == 1) {
      p += 8;
    } else if (type == 5) {
      p += 4;
    } else {
      return 0;
    }
  }
  return 0;
}

int main(void) {
  tp_buf err = {0};
  if ((tp_abi_version() >> 16) != TP_ABI_VERSION_MAJOR) {
    fprintf(stderr, "the library's ABI major differs from the header's\n");
    return 1;
  }

  /* a: the LOCAL preset (field 1 = 3), any free port on 127.0.0.1. */
  const uint8_t local[] = {0x08, 0x03};
  tp_engine a = 0, b = 0;
  check(tp_engine_new(local, sizeof local, &a, &err), &err, "tp_engine_new a");
  check(tp_engine_start(a, &err), &err, "tp_engine_start a");
  check(tp_engine_set(a, (const uint8_t *)"color", 5, (const uint8_t *)"blue", 4, TP_ENCODING_TEXT, 0, &err), &err,
        "tp_engine_set");

  tp_buf info = {0};
  check(tp_engine_info(a, &info, &err), &err, "tp_engine_info");
  const uint8_t *name = NULL, *addr = NULL;
  size_t name_len = pb_string(&info, 1, &name), addr_len = pb_string(&info, 2, &addr);
  if (name_len == 0 || addr_len == 0 || addr_len > 200) {
    fprintf(stderr, "no name or address in EngineInfo\n");
    return 1;
  }

  /* b: LOCAL, seeded with a's address (field 6). */
  uint8_t cfg[256] = {0x08, 0x03, 0x32, (uint8_t)addr_len};
  memcpy(cfg + 4, addr, addr_len);
  check(tp_engine_new(cfg, 4 + addr_len, &b, &err), &err, "tp_engine_new b");
  check(tp_engine_start(b, &err), &err, "tp_engine_start b");

  /* Poll until the replica arrives (LOCAL gossips every 50 ms), 10 s at most. */
  int found = 0;
  for (int i = 0; i < 1000 && !found; i++) {
    tp_buf kv = {0};
    int st = tp_engine_get_remote(b, name, name_len, (const uint8_t *)"color", 5, &kv, &err);
    check(st, &err, "tp_engine_get_remote");
    if (st == TP_OK) {
      /* KeyValue.value (3) is a Value whose data (1) is the bytes. */
      tp_buf value = {0};
      const uint8_t *v = NULL, *data = NULL;
      value.len = pb_string(&kv, 3, &v);
      value.data = (uint8_t *)v;
      size_t n = pb_string(&value, 1, &data);
      printf("b reads color=%.*s\n", (int)n, (const char *)data);
      found = 1;
    }
    tp_buf_free(&kv);
    if (!found) nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
  }
  tp_buf_free(&info);
  check(tp_engine_close(b, &err), &err, "tp_engine_close b");
  check(tp_engine_close(a, &err), &err, "tp_engine_close a");
  return found ? 0 : 1;
}
