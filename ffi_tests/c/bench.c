/*
 * Benchmarks of libtelepathine from C (make bench-c), the counterparts of
 * the Go benchmarks in cgo/bridge/bench_test.go:
 *
 *   tp_abi_version  a call into the library that does nothing: the cost of
 *                   entering the Go runtime from a C thread
 *   tp_engine_set   a 16-byte value on a started engine with no peers, and
 *                   the same call refused by validation (the cost of the
 *                   boundary without the engine's work)
 *   callback        one event delivered to a subscription callback: the
 *                   callback blocks on the first event while the Go peer
 *                   (the interop Go driver) says N-1 more, which queue;
 *                   once an end marker (polled from a stream) shows they
 *                   are all queued, the callback is released and the
 *                   drain is timed
 *
 * usage: bench PATH_TO_GO_DRIVER [SETS] [EVENTS]
 */
#include "godriver.h"

#include <pthread.h>
#include <stdatomic.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int released;
static atomic_long calls;
static long want_calls;
static int64_t t_last;

static void on_event(void *user_data, const uint8_t *event, size_t len) {
  (void)user_data;
  (void)event;
  (void)len;
  long n = atomic_fetch_add(&calls, 1) + 1;
  if (n == 1) {
    pthread_mutex_lock(&mu);
    while (!released) {
      pthread_cond_wait(&cond, &mu);
    }
    pthread_mutex_unlock(&mu);
  }
  if (n == want_calls) {
    pthread_mutex_lock(&mu);
    t_last = now_ns();
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&mu);
  }
}

static int check(int rc, const char *what, tp_buf *err) {
  if (rc != TP_OK) {
    fprintf(stderr, "%s: %s %s\n", what, tp_status_name(rc), err->data ? (char *)err->data : "");
    tp_buf_free(err);
    exit(1);
  }
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PATH_TO_GO_DRIVER [SETS] [EVENTS]\n", argv[0]);
    return 2;
  }
  long sets = argc > 2 ? atol(argv[2]) : 1000000;
  long events = argc > 3 ? atol(argv[3]) : 10000;
  signal(SIGPIPE, SIG_IGN);
  tp_buf err = {0};
  char cluster[64];
  snprintf(cluster, sizeof cluster, "ffi-bench-%d", (int)getpid());

  /* The cost of entering the library. */
  long calls_n = 2000000;
  uint32_t sink = 0;
  int64_t t0 = now_ns();
  for (long i = 0; i < calls_n; i++) {
    sink += tp_abi_version();
  }
  double abi_ns = (double)(now_ns() - t0) / (double)calls_n;

  /* tp_engine_set on a started engine without peers. */
  pb_writer cfg = local_config(cluster, NULL, 0);
  tp_engine solo = 0;
  check(tp_engine_new(cfg.data, cfg.len, &solo, &err), "new", &err);
  check(tp_engine_start(solo, &err), "start", &err);
  const uint8_t key[] = "bench", value[] = "0123456789abcdef";
  for (long i = 0; i < sets / 10; i++) { /* warm up */
    check(tp_engine_set(solo, key, 5, value, 16, TP_ENCODING_RAW, 0, &err), "set", &err);
  }
  t0 = now_ns();
  for (long i = 0; i < sets; i++) {
    check(tp_engine_set(solo, key, 5, value, 16, TP_ENCODING_RAW, 0, &err), "set", &err);
  }
  double set_ns = (double)(now_ns() - t0) / (double)sets;
  /* The boundary alone: the same call refused after the key is checked
   * (an unknown encoding), without an error message. */
  t0 = now_ns();
  for (long i = 0; i < sets; i++) {
    if (tp_engine_set(solo, key, 5, value, 16, 99, 0, NULL) != TP_ERR_INVALID_ARGUMENT) {
      return 1;
    }
  }
  double refused_ns = (double)(now_ns() - t0) / (double)sets;
  tp_engine_close(solo, NULL);

  /* Event delivery through the callback. */
  godriver go;
  if (!godriver_start(&go, argv[1], cluster)) {
    fprintf(stderr, "cannot start the Go peer\n");
    return 1;
  }
  cfg = local_config(cluster, go.addr, (uint32_t)events + 64);
  tp_engine e = 0;
  check(tp_engine_new(cfg.data, cfg.len, &e, &err), "new", &err);
  check(tp_engine_start(e, &err), "start", &err);
  if (!godriver_wait_live(&go, 1, 30000)) {
    return 1;
  }
  want_calls = events;
  tp_subscription sub = 0;
  tp_events end = 0;
  check(tp_engine_subscribe(e, (const uint8_t *)"say:bench", 9, on_event, NULL, NULL, &sub, &err), "subscribe",
        &err);
  check(tp_events_open(e, (const uint8_t *)"say:bench-end", 13, 4, &end, &err), "open", &err);
  if (!godriver_ok(&go, 60000, "{\"cmd\":\"say_burst\",\"event\":\"bench\",\"count\":%ld,\"buffered\":true}", events) ||
      !godriver_ok(&go, 60000, "{\"cmd\":\"say\",\"event\":\"bench-end\",\"value\":{\"encoding\":\"text\",\"text\":\"x\"}}")) {
    return 1;
  }
  tp_buf ev = {0};
  check(tp_events_poll(end, 60000, &ev, &err), "poll the end marker", &err);
  tp_buf_free(&ev);
  pthread_mutex_lock(&mu);
  t0 = now_ns();
  released = 1;
  pthread_cond_broadcast(&cond);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 60;
  while (t_last == 0) {
    if (pthread_cond_timedwait(&cond, &mu, &deadline) != 0) {
      fprintf(stderr, "only %ld of %ld events delivered\n", atomic_load(&calls), events);
      return 1;
    }
  }
  double event_ns = (double)(t_last - t0) / (double)(events - 1);
  pthread_mutex_unlock(&mu);

  tp_buf stats = {0};
  check(tp_engine_stats(e, &stats, &err), "stats", &err);
  uint64_t dropped = pb_uint(buf_bytes(stats), 20); /* Stats.events_dropped */
  tp_buf_free(&stats);
  tp_subscription_close(sub, NULL);
  tp_events_close(end, NULL);
  tp_engine_close(e, NULL);
  godriver_stop(&go);

  printf("C benchmarks (ns per operation; the Go figures: make bench-c runs BenchmarkEngineSet etc.)\n");
  printf("  tp_abi_version (library entry)  %8.1f ns/call   (%ld calls, sink %u)\n", abi_ns, calls_n, sink & 1);
  printf("  tp_engine_set (16-byte value)   %8.1f ns/call   (%ld calls)\n", set_ns, sets);
  printf("  tp_engine_set refused (no engine work) %5.1f ns/call\n", refused_ns);
  printf("  event via callback              %8.1f ns/event  (%ld events, %llu dropped)\n", event_ns, events,
         (unsigned long long)dropped);
  return dropped == 0 ? 0 : 1;
}
