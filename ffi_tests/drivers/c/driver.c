/*
 * c-driver: one Telepathine peer driven from C through libtelepathine.so,
 * commanded over stdin/stdout as described in ffi_tests/PROTOCOL.md.
 *
 * JSON with cJSON (Debian's libcjson-dev); the api protobuf messages with
 * the small reader/writer in ffi_tests/c/common.h. Events arrive through
 * tp_engine_subscribe callbacks on library threads; every line written to
 * stdout goes through one mutex.
 */
#define _GNU_SOURCE /* before any system header: getline, strdup, pipe2 */
#include <pthread.h>

#include <cjson/cJSON.h>

#include "../../c/common.h"

static tp_engine engine;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------- output */

static void emit(cJSON *obj) {
  char *s = cJSON_PrintUnformatted(obj);
  pthread_mutex_lock(&out_mu);
  fputs(s, stdout);
  fputc('\n', stdout);
  fflush(stdout);
  pthread_mutex_unlock(&out_mu);
  cJSON_free(s);
  cJSON_Delete(obj);
}

/* ------------------------------------------------------------- base64 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const uint8_t *p, size_t n) {
  char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    *o++ = b64[v >> 18 & 63];
    *o++ = b64[v >> 12 & 63];
    *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
    *o++ = i + 2 < n ? b64[v & 63] : '=';
  }
  *o = 0;
  return out;
}

/* Decodes standard base64; returns a malloc'd buffer or NULL if malformed. */
static uint8_t *b64_decode(const char *s, size_t *n) {
  size_t len = strlen(s);
  uint8_t *out = malloc(len / 4 * 3 + 3);
  uint32_t acc = 0;
  int bits = 0;
  *n = 0;
  for (size_t i = 0; i < len && s[i] != '='; i++) {
    const char *c = strchr(b64, s[i]);
    if (c == NULL || s[i] == 0) {
      free(out);
      return NULL;
    }
    acc = acc << 6 | (uint32_t)(c - b64);
    if ((bits += 6) >= 8) {
      bits -= 8;
      out[(*n)++] = (uint8_t)(acc >> bits);
    }
  }
  return out;
}

/* -------------------------------------------------------------- values */

/* A value as the library takes it. */
typedef struct {
  uint8_t *data;
  size_t len;
  int encoding;
} value;

/* Converts a protocol value object; returns 0 on a malformed one. */
static int value_from_json(const cJSON *v, value *out) {
  const cJSON *enc = cJSON_GetObjectItemCaseSensitive(v, "encoding");
  if (!cJSON_IsString(enc)) {
    return 0;
  }
  if (strcmp(enc->valuestring, "text") == 0) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, "text");
    const char *s = cJSON_IsString(t) ? t->valuestring : "";
    out->len = strlen(s);
    out->data = (uint8_t *)strdup(s);
    out->encoding = TP_ENCODING_TEXT;
    return 1;
  }
  if (strcmp(enc->valuestring, "json") == 0) {
    char *doc = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(v, "json"));
    out->data = (uint8_t *)strdup(doc);
    out->len = strlen(doc);
    cJSON_free(doc);
    out->encoding = TP_ENCODING_JSON;
    return 1;
  }
  if (strcmp(enc->valuestring, "raw") == 0) {
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(v, "base64");
    out->data = b64_decode(cJSON_IsString(b) ? b->valuestring : "", &out->len);
    out->encoding = TP_ENCODING_RAW;
    return out->data != NULL;
  }
  return 0;
}

/* Turns an api.v1.Value message into a protocol value object. */
static cJSON *value_to_json(pb_bytes msg) {
  pb_bytes data = pb_sub(msg, VALUE_DATA);
  int enc = (int)pb_uint(msg, VALUE_ENCODING);
  cJSON *v = cJSON_CreateObject();
  char *s = malloc(data.len + 1);
  memcpy(s, data.data, data.len);
  s[data.len] = 0;
  switch (enc) {
  case TP_ENCODING_TEXT:
    cJSON_AddStringToObject(v, "encoding", "text");
    cJSON_AddStringToObject(v, "text", s);
    break;
  case TP_ENCODING_JSON:
    cJSON_AddStringToObject(v, "encoding", "json");
    cJSON_AddItemToObject(v, "json", cJSON_Parse(s));
    break;
  default: {
    char *b = b64_encode(data.data, data.len);
    cJSON_AddStringToObject(v, "encoding", "raw");
    cJSON_AddStringToObject(v, "base64", b);
    free(b);
  }
  }
  free(s);
  return v;
}

/* ------------------------------------------------------------- events */

typedef struct {
  char *pattern;
  value reply; /* data NULL: do not answer asks */
} sub;

enum { EV_SET = 12, EV_DELETE = 13, EV_EXPIRED = 14, EV_SAY = 15, EV_ASK = 16 };

static void on_event(void *user, const uint8_t *event, size_t len) {
  sub *s = user;
  pb_bytes ev = {event, len};
  char name[1024], peer[1024], key[1024];
  pb_str(pb_sub(ev, EVENT_NAME), name, sizeof name);
  pb_str(pb_sub(ev, EVENT_PEER), peer, sizeof peer);
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "name", name);
  cJSON_AddStringToObject(e, "peer", peer);
  cJSON_AddStringToObject(e, "sub", s->pattern);
  static const uint32_t kinds[] = {EV_SET, EV_DELETE, EV_EXPIRED, EV_SAY, EV_ASK};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    pb_field f;
    if (!pb_find(ev, kinds[i], 0, &f) || f.wire_type != 2) {
      continue;
    }
    /* KeyChange, Said and Asked: key/event = 1, value/data = 2. */
    pb_str(pb_sub(f.bytes, 1), key, sizeof key);
    cJSON_AddStringToObject(e, "key", key);
    cJSON_AddItemToObject(e, "value", value_to_json(pb_sub(f.bytes, 2)));
    if (kinds[i] == EV_ASK && s->reply.data != NULL) {
      uint64_t ask_id = pb_uint(f.bytes, ASKED_ASK_ID);
      tp_engine_reply(engine, ask_id, s->reply.data, s->reply.len, s->reply.encoding, NULL);
    }
  }
  cJSON *line = cJSON_CreateObject();
  cJSON_AddItemToObject(line, "event", e);
  emit(line);
}

/* ----------------------------------------------------------- commands */

static const char *str(const cJSON *req, const char *field) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, field);
  return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *req, const char *field) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, field);
  return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

#define BYTES(s) (const uint8_t *)(s), strlen(s)

/* Runs one request; fills res and returns a status (message in err). */
static int handle(const cJSON *req, cJSON *res, tp_buf *err) {
  const char *cmd = str(req, "cmd");
  int st;
  if (strcmp(cmd, "start") == 0) {
    if (engine == 0) {
      pb_writer w = local_config(str(req, "cluster"), NULL, 0);
      const cJSON *seed;
      cJSON_ArrayForEach(seed, cJSON_GetObjectItemCaseSensitive(req, "seeds")) {
        if (cJSON_IsString(seed)) {
          pb_put_str(&w, CONFIG_SEEDS, seed->valuestring);
        }
      }
      if (*str(req, "name")) {
        pb_put_str(&w, CONFIG_NAME, str(req, "name"));
      }
      /* The keyring: base64 keys, a passphrase, the plaintext stages. */
      const cJSON *k;
      cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(req, "keys")) {
        size_t n = 0;
        uint8_t *key = cJSON_IsString(k) ? b64_decode(k->valuestring, &n) : NULL;
        if (key == NULL) {
          return TP_ERR_INVALID_ARGUMENT;
        }
        pb_put_bytes(&w, CONFIG_KEYS, key, n);
        free(key);
      }
      if (*str(req, "network_key")) {
        pb_put_str(&w, CONFIG_NETWORK_KEY, str(req, "network_key"));
      }
      if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "accept_plaintext"))) {
        pb_put_uint(&w, CONFIG_ACCEPT_PLAINTEXT, 1);
      }
      if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "send_plaintext"))) {
        pb_put_uint(&w, CONFIG_SEND_PLAINTEXT, 1);
      }
      if ((st = tp_engine_new(w.data, w.len, &engine, err)) != TP_OK) {
        return st;
      }
    }
    if ((st = tp_engine_start(engine, err)) != TP_OK) {
      return st;
    }
    tp_buf info = {0};
    if ((st = tp_engine_info(engine, &info, err)) != TP_OK) {
      return st;
    }
    char s[1024];
    pb_str(pb_sub(buf_bytes(info), INFO_NAME), s, sizeof s);
    cJSON_AddStringToObject(res, "name", s);
    pb_str(pb_sub(buf_bytes(info), INFO_ADDR), s, sizeof s);
    cJSON_AddStringToObject(res, "addr", s);
    tp_buf_free(&info);
    return TP_OK;
  }
  if (engine == 0) {
    return TP_ERR_INVALID_ARGUMENT;
  }
  const cJSON *buffered = cJSON_GetObjectItemCaseSensitive(req, "buffered");
  uint32_t say_flags = cJSON_IsTrue(buffered) ? TP_SAY_BUFFERED : 0;
  if (strcmp(cmd, "set") == 0 || strcmp(cmd, "say") == 0) {
    value v;
    if (!value_from_json(cJSON_GetObjectItemCaseSensitive(req, "value"), &v)) {
      return TP_ERR_INVALID_ARGUMENT;
    }
    if (cmd[1] == 'e') {
      st = tp_engine_set(engine, BYTES(str(req, "key")), v.data, v.len, v.encoding, (int64_t)num(req, "expires_at"), err);
    } else {
      st = tp_engine_say(engine, BYTES(str(req, "event")), v.data, v.len, v.encoding, (int64_t)num(req, "for_ms"),
                         say_flags, err);
    }
    free(v.data);
    return st;
  }
  if (strcmp(cmd, "say_burst") == 0) {
    /* count says, data "0" .. "count-1" as text */
    long count = (long)num(req, "count"), i;
    char data[32];
    for (i = 0, st = TP_OK; i < count && st == TP_OK; i++) {
      snprintf(data, sizeof data, "%ld", i);
      st = tp_engine_say(engine, BYTES(str(req, "event")), BYTES(data), TP_ENCODING_TEXT, (int64_t)num(req, "for_ms"),
                         say_flags, err);
    }
    cJSON_AddNumberToObject(res, "said", (double)(st == TP_OK ? i : i - 1));
    return st;
  }
  if (strcmp(cmd, "stats") == 0) {
    tp_buf stats = {0};
    if ((st = tp_engine_stats(engine, &stats, err)) != TP_OK) {
      return st;
    }
    cJSON *o = cJSON_AddObjectToObject(res, "stats");
    pb_bytes b = buf_bytes(stats);
    cJSON_AddNumberToObject(o, "foreign_cluster", (double)pb_uint(b, STATS_FOREIGN_CLUSTER));
    cJSON_AddNumberToObject(o, "events_dropped", (double)pb_uint(b, STATS_EVENTS_DROPPED));
    cJSON_AddNumberToObject(o, "sets", (double)pb_uint(b, STATS_SETS));
    cJSON_AddNumberToObject(o, "says", (double)pb_uint(b, STATS_SAYS));
    cJSON_AddNumberToObject(o, "live_peers", (double)pb_uint(b, STATS_LIVE_PEERS));
    cJSON *drops = cJSON_AddObjectToObject(o, "drops");
    pb_field f;
    char cause[256];
    for (int i = 0; pb_find(b, STATS_DROPS, i, &f); i++) {
      pb_str(pb_sub(f.bytes, 1), cause, sizeof cause);
      cJSON_AddNumberToObject(drops, cause, (double)pb_uint(f.bytes, 2));
    }
    tp_buf_free(&stats);
    return TP_OK;
  }
  if (strcmp(cmd, "keyring") == 0) {
    const char *op = str(req, "op");
    if (strcmp(op, "list") != 0) {
      size_t n = 0;
      uint8_t *key = b64_decode(str(req, "cluster_key"), &n);
      if (key == NULL) {
        return TP_ERR_INVALID_ARGUMENT;
      }
      st = strcmp(op, "install") == 0 ? tp_engine_install_key(engine, key, n, err)
           : strcmp(op, "use") == 0   ? tp_engine_use_key(engine, key, n, err)
           : strcmp(op, "remove") == 0 ? tp_engine_remove_key(engine, key, n, err)
                                       : TP_ERR_INVALID_ARGUMENT;
      free(key);
      if (st != TP_OK) {
        return st;
      }
    }
    tp_buf kr = {0};
    if ((st = tp_engine_keys(engine, &kr, err)) != TP_OK) {
      return st;
    }
    cJSON *arr = cJSON_AddArrayToObject(res, "keys");
    pb_field f;
    for (int i = 0; pb_find(buf_bytes(kr), KEYRING_KEYS, i, &f); i++) {
      char *b = b64_encode(f.bytes.data, f.bytes.len);
      cJSON_AddItemToArray(arr, cJSON_CreateString(b));
      free(b);
    }
    tp_buf_free(&kr);
    return TP_OK;
  }
  if (strcmp(cmd, "get") == 0) {
    tp_buf kv = {0};
    st = tp_engine_get_remote(engine, BYTES(str(req, "peer")), BYTES(str(req, "key")), &kv, err);
    cJSON_AddBoolToObject(res, "found", st == TP_OK);
    if (st == TP_OK) {
      cJSON_AddItemToObject(res, "value", value_to_json(pb_sub(buf_bytes(kv), KV_VALUE)));
    }
    tp_buf_free(&kv);
    return st == TP_NOT_FOUND ? TP_OK : st;
  }
  if (strcmp(cmd, "keys") == 0) {
    tp_buf keys = {0};
    if ((st = tp_engine_get_remote_keys(engine, BYTES(str(req, "peer")), &keys, err)) != TP_OK) {
      return st;
    }
    cJSON *arr = cJSON_AddArrayToObject(res, "keys");
    pb_field f;
    char k[1024];
    for (int i = 0; pb_find(buf_bytes(keys), KEYLIST_KEYS, i, &f); i++) {
      pb_str(f.bytes, k, sizeof k);
      cJSON_AddItemToArray(arr, cJSON_CreateString(k));
    }
    tp_buf_free(&keys);
    return TP_OK;
  }
  if (strcmp(cmd, "del") == 0) {
    int deleted = 0;
    st = tp_engine_delete(engine, BYTES(str(req, "key")), &deleted, err);
    cJSON_AddBoolToObject(res, "deleted", deleted);
    return st;
  }
  if (strcmp(cmd, "ask") == 0) {
    value v;
    if (!value_from_json(cJSON_GetObjectItemCaseSensitive(req, "value"), &v)) {
      return TP_ERR_INVALID_ARGUMENT;
    }
    tp_buf replies = {0};
    st = tp_engine_ask(engine, BYTES(str(req, "event")), v.data, v.len, v.encoding, (int64_t)num(req, "timeout_ms"), &replies, err);
    free(v.data);
    if (st != TP_OK) {
      return st;
    }
    cJSON *arr = cJSON_AddArrayToObject(res, "replies");
    pb_field f;
    char peer[1024];
    for (int i = 0; pb_find(buf_bytes(replies), REPLIES_REPLY, i, &f); i++) {
      cJSON *r = cJSON_CreateObject();
      pb_str(pb_sub(f.bytes, REPLY_PEER), peer, sizeof peer);
      cJSON_AddStringToObject(r, "peer", peer);
      cJSON_AddItemToObject(r, "value", value_to_json(pb_sub(f.bytes, REPLY_VALUE)));
      cJSON_AddItemToArray(arr, r);
    }
    tp_buf_free(&replies);
    return TP_OK;
  }
  if (strcmp(cmd, "hear") == 0 || strcmp(cmd, "on") == 0) {
    sub *s = calloc(1, sizeof *s);
    const char *pattern = str(req, "pattern");
    s->pattern = strdup(pattern);
    char *full = malloc(strlen(pattern) + 5);
    sprintf(full, "%s%s", cmd[0] == 'h' ? "say:" : "", pattern);
    const cJSON *reply = cJSON_GetObjectItemCaseSensitive(req, "reply");
    if (cJSON_IsObject(reply) && !value_from_json(reply, &s->reply)) {
      free(full);
      return TP_ERR_INVALID_ARGUMENT;
    }
    tp_subscription handle;
    /* The subscription lives until the engine closes; sub is leaked on
     * purpose (the process ends then). */
    st = tp_engine_subscribe(engine, BYTES(full), on_event, s, NULL, &handle, err);
    free(full);
    return st;
  }
  if (strcmp(cmd, "peers") == 0) {
    tp_buf peers = {0};
    const char *which = str(req, "which");
    if (strcmp(which, "live") == 0) {
      st = tp_engine_live_peers(engine, &peers, err);
    } else if (strcmp(which, "dead") == 0) {
      st = tp_engine_dead_peers(engine, &peers, err);
    } else {
      st = tp_engine_all_peers(engine, &peers, err);
    }
    if (st != TP_OK) {
      return st;
    }
    cJSON *arr = cJSON_AddArrayToObject(res, "peers");
    pb_field f;
    char name[1024];
    for (int i = 0; pb_find(buf_bytes(peers), PEERLIST_PEERS, i, &f); i++) {
      pb_str(pb_sub(f.bytes, PEER_NAME), name, sizeof name);
      cJSON_AddItemToArray(arr, cJSON_CreateString(name));
    }
    tp_buf_free(&peers);
    return TP_OK;
  }
  if (strcmp(cmd, "stop") == 0) {
    return tp_engine_stop(engine, err);
  }
  return TP_ERR_INVALID_ARGUMENT;
}

int main(void) {
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, stdin) > 0) {
    cJSON *req = cJSON_Parse(line);
    cJSON *res = cJSON_CreateObject();
    if (req == NULL) {
      cJSON_AddBoolToObject(res, "ok", 0);
      cJSON_AddStringToObject(res, "error", "bad request: not JSON");
      emit(res);
      continue;
    }
    if (strcmp(str(req, "cmd"), "exit") == 0) {
      cJSON_Delete(req);
      cJSON_Delete(res);
      break;
    }
    tp_buf err = {0};
    int st = handle(req, res, &err);
    cJSON_AddNumberToObject(res, "id", num(req, "id"));
    cJSON_AddBoolToObject(res, "ok", st == TP_OK);
    if (st != TP_OK) {
      char msg[2048];
      snprintf(msg, sizeof msg, "%s: %s", tp_status_name(st), err.data ? (const char *)err.data : "");
      cJSON_AddStringToObject(res, "error", msg);
    }
    tp_buf_free(&err);
    cJSON_Delete(req);
    emit(res);
  }
  free(line);
  tp_engine_close(engine, NULL);
  cJSON *bye = cJSON_CreateObject();
  cJSON_AddBoolToObject(bye, "ok", 1);
  cJSON_AddBoolToObject(bye, "exited", 1);
  emit(bye);
  return 0;
}
