/*
 * The Go peer of the C test and benchmark: the interop Go driver
 * (ffi_tests/drivers/go) run as a child process and commanded with the
 * JSON lines of ffi_tests/PROTOCOL.md, the same driver and protocol as
 * every other cross-language test. JSON with cJSON (libcjson-dev).
 * Header-only: each program is a single translation unit.
 */
#ifndef TP_FFI_GODRIVER_H
#define TP_FFI_GODRIVER_H

#include <cjson/cJSON.h>

#include "common.h"

extern char **environ;

typedef struct {
  pid_t pid;
  int in_fd;  /* its stdin */
  int out_fd; /* its stdout */
  char pending[1 << 16];
  size_t npending;
  long next_id;
  char addr[256];
  char name[256];
} godriver;

/* Reads one line (without its newline) within timeout_ms; 1 on success. */
static inline int godriver_line(godriver *g, char *line, size_t cap, int timeout_ms) {
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

/*
 * Sends a request, given as the JSON text of an object without its id
 * (printf-style), and returns the driver's response to it, skipping the
 * event lines that come before. Returns NULL, with a message on stderr,
 * when the request is not JSON, the driver does not answer within
 * timeout_ms, or answers "ok": false. The caller frees the response with
 * cJSON_Delete.
 */
static inline cJSON *godriver_call(godriver *g, int timeout_ms, const char *fmt, ...) {
  char text[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  cJSON *req = n > 0 && (size_t)n < sizeof text ? cJSON_Parse(text) : NULL;
  if (req == NULL) {
    fprintf(stderr, "godriver: not a JSON request: %s\n", text);
    return NULL;
  }
  long id = ++g->next_id;
  cJSON_AddNumberToObject(req, "id", (double)id);
  char *line = cJSON_PrintUnformatted(req);
  cJSON_Delete(req);
  size_t len = strlen(line);
  line[len] = '\n'; /* over the terminating 0: written with its length */
  int sent = write(g->in_fd, line, len + 1) == (ssize_t)(len + 1);
  cJSON_free(line);
  if (!sent) {
    fprintf(stderr, "godriver: cannot write %s\n", text);
    return NULL;
  }
  int64_t deadline = now_ms() + timeout_ms;
  static char buf[1 << 16];
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0 || !godriver_line(g, buf, sizeof buf, (int)left)) {
      fprintf(stderr, "godriver: no answer to %s\n", text);
      return NULL;
    }
    cJSON *res = cJSON_Parse(buf);
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(res, "id");
    if (res == NULL || !cJSON_IsNumber(rid) || (long)rid->valuedouble != id) {
      cJSON_Delete(res); /* an event line, or the answer to an abandoned request */
      continue;
    }
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "ok"))) {
      const cJSON *e = cJSON_GetObjectItemCaseSensitive(res, "error");
      fprintf(stderr, "godriver: %s: %s\n", text, cJSON_IsString(e) ? e->valuestring : "failed");
      cJSON_Delete(res);
      return NULL;
    }
    return res;
  }
}

/* godriver_call for requests whose answer is only ok: 1 when it was. */
#define godriver_ok(g, timeout_ms, ...) godriver_done(godriver_call((g), (timeout_ms), __VA_ARGS__))

static inline int godriver_done(cJSON *res) {
  cJSON_Delete(res);
  return res != NULL;
}

/* The text of a value object when it is a text value, else NULL. */
static inline const char *godriver_text(const cJSON *value) {
  const cJSON *enc = cJSON_GetObjectItemCaseSensitive(value, "encoding");
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(value, "text");
  return cJSON_IsString(enc) && strcmp(enc->valuestring, "text") == 0 && cJSON_IsString(t) ? t->valuestring : NULL;
}

/* Polls until the driver's peer sees at least n live peers; 1 if it did. */
static inline int godriver_wait_live(godriver *g, int n, int timeout_ms) {
  int64_t deadline = now_ms() + timeout_ms;
  do {
    cJSON *res = godriver_call(g, timeout_ms, "{\"cmd\":\"peers\",\"which\":\"live\"}");
    int live = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "peers"));
    cJSON_Delete(res);
    if (res == NULL) {
      return 0;
    }
    if (live >= n) {
      return 1;
    }
    pause_ms(5);
  } while (now_ms() < deadline);
  return 0;
}

/* Polls until the driver's replica of peer's key is the text want. */
static inline int godriver_wait_text(godriver *g, const char *peer, const char *key, const char *want,
                                     int timeout_ms) {
  int64_t deadline = now_ms() + timeout_ms;
  do {
    cJSON *res = godriver_call(g, timeout_ms, "{\"cmd\":\"get\",\"peer\":\"%s\",\"key\":\"%s\"}", peer, key);
    const char *got = godriver_text(cJSON_GetObjectItemCaseSensitive(res, "value"));
    int same = got != NULL && strcmp(got, want) == 0;
    cJSON_Delete(res);
    if (res == NULL) {
      return 0;
    }
    if (same) {
      return 1;
    }
    pause_ms(5);
  } while (now_ms() < deadline);
  return 0;
}

/*
 * Starts the Go driver (fork+exec through posix_spawn: safe although this
 * process already runs the Go runtime of the library) and its peer in
 * cluster, and reads the peer's address and name. Returns 1 on success.
 */
static inline int godriver_start(godriver *g, const char *path, const char *cluster) {
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
  char *argv[] = {(char *)path, NULL};
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
  cJSON *res = godriver_call(g, 30000, "{\"cmd\":\"start\",\"cluster\":\"%s\",\"seeds\":[]}", cluster);
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(res, "name");
  const cJSON *addr = cJSON_GetObjectItemCaseSensitive(res, "addr");
  if (cJSON_IsString(name) && cJSON_IsString(addr)) {
    snprintf(g->name, sizeof g->name, "%s", name->valuestring);
    snprintf(g->addr, sizeof g->addr, "%s", addr->valuestring);
  }
  cJSON_Delete(res);
  return g->addr[0] != 0;
}

/* Asks the driver to exit and reaps it (killing it after 10 s). */
static inline void godriver_stop(godriver *g) {
  if (g->pid <= 0) {
    return;
  }
  static const char bye[] = "{\"cmd\":\"exit\"}\n";
  if (write(g->in_fd, bye, sizeof bye - 1) < 0) {
    /* gone already: reaped below */
  }
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

#endif /* TP_FFI_GODRIVER_H */
