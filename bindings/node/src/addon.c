/*
 * addon.c: the N-API addon under the Node binding of Telepathine.
 *
 * Thin on purpose: it loads libtelepathine.so, turns JS arguments into the
 * borrowed inputs of cgo/telepathine.h (strings to UTF-8, Buffers as they
 * are), returns the library's outputs as Buffers (protobuf messages decoded
 * in JS by the generated code), turns statuses into exceptions, and carries
 * events from library threads to the JS thread. Everything else (the API,
 * values, configuration, EventEmitter2) lives in lib/.
 *
 * Signals. Node (libuv) installs its signal handlers without SA_ONSTACK;
 * Go requires it of a host, because a handler that runs on a goroutine
 * stack overflows it (Go's stacks keep little headroom) and corrupts its
 * neighbour: "fatal error: traceback did not unwind completely", "fault",
 * "unknown caller pc"... The stress test (tests/signals.test.js) crashes
 * that way in most runs without the two measures below, and in 7 of 10
 * runs with the first alone:
 *   1. load() dlopen()s the library (the addon does not link it) with
 *      every asynchronous signal blocked on the calling thread. The Go
 *      runtime starts during dlopen and its threads inherit that mask, so
 *      SIGUSR2, SIGWINCH, SIGINT... never land on them.
 *   2. Go threads unblock SIGCHLD, SIGPROF and SIGURG whatever they
 *      inherited, and a thread running Go code (a library thread, or
 *      Node's own thread inside a call) can take any signal it does not
 *      block: protectSignals() adds SA_ONSTACK to every handler that lacks
 *      it, so that they run on the thread's signal stack (Go gives every
 *      thread that runs Go code one). lib/native.js calls it at load and
 *      each time Node installs a handler, and keeps libuv's SIGCHLD
 *      handler installed (it would come and go with child processes).
 * Blocking signals around each call instead would cost two
 * rt_sigprocmask calls (0.7 us a call here, half the cost of a set()).
 *
 * Events. Each engine has one event stream (tp_events_open, pattern "**")
 * and one poller thread of the addon, which takes flat batches
 * (tp_events_poll_flat: columns over a string table, cgo/telepathine.h)
 * and hands each to the JS thread through a napi_threadsafe_function:
 * call_js copies it into an ArrayBuffer for dispatch(handle, buffer, length), and
 * lib/flat.js reads the columns with typed arrays. The poller keeps at
 * most EVENTS_AHEAD (1) batch ready for the JS thread, so at most two are
 * out of the library and a flood waits in the stream's bounded queue. The threadsafe function is referenced (keeps
 * the process alive) only while its engine runs: lib/ refs it on start and
 * unrefs it once the engine's "stop" event arrived.
 *
 * Lifetimes. Closing an engine (engineClose, the environment's cleanup
 * hook) first stops its poller: it sets the closing flag, closes the
 * stream (which wakes a blocked poll) and joins the thread, frees a batch
 * left ready, and gives up the threadsafe function. The events context
 * itself is freed when both of its owners are done: the engine record
 * (that shutdown) and Node (the threadsafe function was finalized: no
 * call_js will come). The poller uses the threadsafe function only under
 * the context's mutex and after checking that Node has not finalized it,
 * so a poll racing the environment's teardown never touches freed memory.
 * An env cleanup hook closes every engine of the environment (worker
 * threads included), so no thread of the addon or the library calls into
 * it once it is gone.
 */
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <node_api.h>

#include "telepathine.h"

/* ------------------------------------------------------------ library */

/* Every tp_ function, resolved with dlsym; the types come from the header,
 * so a signature change is a compile error here. */
#define TP_FUNCS(X)                                                            \
  X(abi_version)                                                               \
  X(status_name)                                                               \
  X(buf_free)                                                                  \
  X(engine_new)                                                                \
  X(engine_start)                                                              \
  X(engine_stop)                                                               \
  X(engine_close)                                                              \
  X(engine_info)                                                               \
  X(engine_stats)                                                              \
  X(engine_set)                                                                \
  X(engine_get)                                                                \
  X(engine_get_remote)                                                         \
  X(engine_get_remote_keys)                                                    \
  X(engine_delete)                                                             \
  X(engine_all_peers)                                                          \
  X(engine_live_peers)                                                         \
  X(engine_dead_peers)                                                         \
  X(engine_say)                                                                \
  X(engine_ask)                                                                \
  X(engine_reply)                                                              \
  X(engine_install_key)                                                        \
  X(engine_use_key)                                                            \
  X(engine_remove_key)                                                         \
  X(engine_keys)                                                               \
  X(engine_set_plaintext)                                                      \
  X(events_open)                                                               \
  X(events_poll_flat)                                                          \
  X(events_close)

static struct {
#define X(name) __typeof__(tp_##name) *name;
  TP_FUNCS(X)
#undef X
} tp;

static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static void *lib_handle;      /* one library per process, never unloaded */
static char lib_path[4096];   /* where it was loaded from */
static sigset_t async_signals; /* what is blocked while loading */
static bool unsafe_signals;    /* TELEPATHINE_UNSAFE_SIGNALS: the stress test's control */
static atomic_int exiting;     /* set at exit(): callbacks stop touching Node */

/* The signals the kernel sends asynchronously: all but those a fault
 * raises on the faulting thread (which Go must keep handling itself). */
static void init_async_signals(void) {
  sigfillset(&async_signals);
  int sync_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS};
  for (size_t i = 0; i < sizeof sync_signals / sizeof sync_signals[0]; i++) {
    sigdelset(&async_signals, sync_signals[i]);
  }
}

static void on_process_exit(void) { atomic_store(&exiting, 1); }

/* ------------------------------------------------------ per environment */

typedef struct events events;

/* An engine made in this environment, closed by the cleanup hook. */
typedef struct engine_rec {
  tp_engine handle;
  events *ev; /* its subscription, NULL before subscribe() */
  struct engine_rec *prev, *next;
} engine_rec;

typedef struct {
  napi_env env;
  napi_ref dispatch;    /* JS function(handle, batch) */
  napi_ref error_class; /* TelepathineError(message, code, status) */
  engine_rec *engines;
} env_data;

static void env_cleanup(void *arg);

static env_data *get_env_data(napi_env env) {
  void *d = NULL;
  napi_get_instance_data(env, &d);
  return d;
}

static engine_rec *find_engine(env_data *d, tp_engine h) {
  for (engine_rec *r = d ? d->engines : NULL; r; r = r->next) {
    if (r->handle == h) {
      return r;
    }
  }
  return NULL;
}

static void unlink_engine(env_data *d, engine_rec *r) {
  if (r->prev) {
    r->prev->next = r->next;
  } else {
    d->engines = r->next;
  }
  if (r->next) {
    r->next->prev = r->prev;
  }
  free(r);
}

/* ------------------------------------------------------------- errors */

#define NAPI_CALL(env, call)                                                   \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      throw_napi_failure(env, #call);                                          \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

static void throw_napi_failure(napi_env env, const char *what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    const napi_extended_error_info *info = NULL;
    napi_get_last_error_info(env, &info);
    char msg[512];
    snprintf(msg, sizeof msg, "telepathine addon: %s failed: %s", what,
             info && info->error_message ? info->error_message : "unknown N-API error");
    napi_throw_error(env, NULL, msg);
  }
}

static napi_value throw_type_error(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

/* Makes the TelepathineError of a library status (frees err); NULL when
 * even that failed (an exception is then pending). */
static napi_value status_error(napi_env env, int rc, tp_buf *err) {
  const char *code = tp.status_name(rc);
  const char *msg = err && err->data ? (const char *)err->data : code;
  napi_value args[3], ctor, instance = NULL;
  env_data *d = get_env_data(env);
  bool ok = d && d->error_class &&
            napi_get_reference_value(env, d->error_class, &ctor) == napi_ok && ctor &&
            napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &args[0]) == napi_ok &&
            napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &args[1]) == napi_ok &&
            napi_create_int32(env, rc, &args[2]) == napi_ok &&
            napi_new_instance(env, ctor, 3, args, &instance) == napi_ok;
  if (!ok) {
    napi_value c, m;
    instance = NULL;
    if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c) == napi_ok &&
        napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m) == napi_ok) {
      napi_create_error(env, c, m, &instance);
    }
  }
  if (err) {
    tp.buf_free(err);
  }
  return instance;
}

/* Throws the TelepathineError of a library status (frees err). */
static napi_value throw_status(napi_env env, int rc, tp_buf *err) {
  napi_value e = status_error(env, rc, err);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (e && !pending) {
    napi_throw(env, e);
  } else if (!pending) {
    napi_throw_error(env, NULL, "telepathine addon: cannot make an error");
  }
  return NULL;
}

/* ---------------------------------------------------------- arguments */

/* A JS string as UTF-8: on the stack when short, else on the heap. */
typedef struct {
  char *p;
  size_t n;
  char stack[256];
} utf8;

static void utf8_free(utf8 *s) {
  if (s->p && s->p != s->stack) {
    free(s->p);
  }
  s->p = NULL;
}

/* Reads a string argument; throws a TypeError naming `what` otherwise. */
static bool get_utf8(napi_env env, napi_value v, utf8 *s, const char *what) {
  s->p = s->stack;
  s->n = 0;
  napi_status st = napi_get_value_string_utf8(env, v, s->stack, sizeof s->stack, &s->n);
  if (st == napi_string_expected) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a string", what);
    throw_type_error(env, msg);
    return false;
  }
  if (st != napi_ok) {
    throw_napi_failure(env, "napi_get_value_string_utf8");
    return false;
  }
  /* N-API truncates at a character boundary: a result this close to the
   * buffer's size may have been cut, so measure and copy again. */
  if (s->n + 4 >= sizeof s->stack) {
    size_t n = 0;
    if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok || !(s->p = malloc(n + 1))) {
      s->p = NULL;
      throw_napi_failure(env, "reading a long string");
      return false;
    }
    napi_get_value_string_utf8(env, v, s->p, n + 1, &s->n);
  }
  return true;
}

/* Value bytes: a string (sent as UTF-8) or any ArrayBuffer view/ArrayBuffer
 * (borrowed: N-API guarantees the memory for the call). */
typedef struct {
  const uint8_t *p;
  size_t n;
  utf8 str; /* holds a string's bytes */
} bytes_arg;

static bool get_bytes(napi_env env, napi_value v, bytes_arg *b, const char *what) {
  memset(b, 0, sizeof *b);
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) {
    throw_napi_failure(env, "napi_typeof");
    return false;
  }
  if (t == napi_string) {
    if (!get_utf8(env, v, &b->str, what)) {
      return false;
    }
    b->p = (const uint8_t *)b->str.p;
    b->n = b->str.n;
    return true;
  }
  bool is = false;
  void *data = NULL;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type tt;
    size_t len = 0, off = 0;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &tt, &len, &data, &ab, &off) != napi_ok) {
      throw_napi_failure(env, "napi_get_typedarray_info");
      return false;
    }
    size_t elem = 1;
    switch (tt) {
    case napi_int16_array: case napi_uint16_array: elem = 2; break;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
    default: break;
    }
    b->p = data;
    b->n = len * elem;
    return true;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    size_t len = 0, off = 0;
    napi_value ab;
    if (napi_get_dataview_info(env, v, &len, &data, &ab, &off) != napi_ok) {
      throw_napi_failure(env, "napi_get_dataview_info");
      return false;
    }
    b->p = data;
    b->n = len;
    return true;
  }
  if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
    size_t len = 0;
    if (napi_get_arraybuffer_info(env, v, &data, &len) != napi_ok) {
      throw_napi_failure(env, "napi_get_arraybuffer_info");
      return false;
    }
    b->p = data;
    b->n = len;
    return true;
  }
  char msg[160];
  snprintf(msg, sizeof msg, "%s must be a string, a Buffer or a Uint8Array", what);
  throw_type_error(env, msg);
  return false;
}

static void bytes_free(bytes_arg *b) { utf8_free(&b->str); }

/* A handle: a JS number holding an integer below 2^53. */
static bool get_handle(napi_env env, napi_value v, uint64_t *h) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d < 9007199254740992.0) ||
      d != (double)(uint64_t)d) {
    throw_type_error(env, "a handle must be a non-negative integer below 2^53");
    return false;
  }
  *h = (uint64_t)d;
  return true;
}

static bool get_i64(napi_env env, napi_value v, int64_t *out, const char *what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d != d || d < -9007199254740992.0 ||
      d > 9007199254740992.0) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a finite number", what);
    throw_type_error(env, msg);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

static bool get_i32(napi_env env, napi_value v, int32_t *out, const char *what) {
  if (napi_get_value_int32(env, v, out) != napi_ok) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a number", what);
    throw_type_error(env, msg);
    return false;
  }
  return true;
}

/* Reads exactly n arguments (missing ones are undefined). */
#define ARGS(n)                                                                \
  size_t argc_ = (n);                                                          \
  napi_value argv[(n) > 0 ? (n) : 1];                                          \
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc_, argv, NULL, NULL))

#define HANDLE_ARG(i, var)                                                     \
  uint64_t var;                                                                \
  if (!get_handle(env, argv[i], &var)) return NULL

/* ------------------------------------------------------------ results */

static napi_value undefined_value(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* Copies a library buffer into a new Buffer and frees it. */
static napi_value buffer_from(napi_env env, tp_buf *b) {
  napi_value out;
  void *copy;
  napi_status st = napi_create_buffer_copy(env, b->len, b->data ? b->data : (const uint8_t *)"", &copy, &out);
  tp.buf_free(b);
  if (st != napi_ok) {
    throw_napi_failure(env, "napi_create_buffer_copy");
    return NULL;
  }
  return out;
}

/* Returns undefined on TP_OK, throws on errors. */
static napi_value status_result(napi_env env, int rc, tp_buf *err) {
  if (rc < 0) {
    return throw_status(env, rc, err);
  }
  tp.buf_free(err);
  return undefined_value(env);
}

/* -------------------------------------------------------------- load */

/* load(path, dispatch, TelepathineError) -> ABI version. Loads the
 * library once per process (later calls, from worker threads say, reuse
 * it) and sets up this environment. */
static napi_value load(napi_env env, napi_callback_info info) {
  ARGS(3);
  utf8 path;
  if (!get_utf8(env, argv[0], &path, "the library path")) {
    return NULL;
  }
  napi_valuetype t1, t2;
  NAPI_CALL(env, napi_typeof(env, argv[1], &t1));
  NAPI_CALL(env, napi_typeof(env, argv[2], &t2));
  if (t1 != napi_function || t2 != napi_function) {
    utf8_free(&path);
    return throw_type_error(env, "load(path, dispatch, errorClass) takes two functions");
  }

  char msg[4600] = "";
  pthread_mutex_lock(&load_mu);
  if (!lib_handle) {
    init_async_signals();
    const char *unsafe = getenv("TELEPATHINE_UNSAFE_SIGNALS");
    unsafe_signals = unsafe && unsafe[0] == '1';
    sigset_t old;
    if (!unsafe_signals) {
      pthread_sigmask(SIG_BLOCK, &async_signals, &old);
    }
    void *h = dlopen(path.p, RTLD_NOW | RTLD_LOCAL);
    const char *dlerr = h ? NULL : dlerror();
    if (!unsafe_signals) {
      pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (!h) {
      snprintf(msg, sizeof msg, "cannot load libtelepathine from %s: %s", path.p, dlerr ? dlerr : "?");
    } else {
      const char *missing = NULL;
#define X(name)                                                                \
  if (!missing && !(*(void **)&tp.name = dlsym(h, "tp_" #name))) missing = "tp_" #name;
      TP_FUNCS(X)
#undef X
      if (missing) {
        snprintf(msg, sizeof msg, "%s: symbol %s not found (not a Telepathine library?)", path.p, missing);
      } else {
        uint32_t v = tp.abi_version();
        if (v >> 16 != TP_ABI_VERSION_MAJOR || (int)(v & 0xffff) < TP_ABI_VERSION_MINOR) {
          snprintf(msg, sizeof msg,
                   "%s has C ABI %u.%u; this binding needs %d.%d (same major, minor at least %d)",
                   path.p, v >> 16, v & 0xffff, TP_ABI_VERSION_MAJOR, TP_ABI_VERSION_MINOR,
                   TP_ABI_VERSION_MINOR);
        }
      }
      /* A Go runtime cannot be unloaded: a library that failed the checks
       * stays mapped, unused, and loading again reports the same error. */
      if (!msg[0]) {
        lib_handle = h;
        snprintf(lib_path, sizeof lib_path, "%s", path.p);
        atexit(on_process_exit);
      }
    }
  }
  pthread_mutex_unlock(&load_mu);
  utf8_free(&path);
  if (msg[0]) {
    napi_throw_error(env, "ERR_TELEPATHINE_LOAD", msg);
    return NULL;
  }

  env_data *d = get_env_data(env);
  if (!d) {
    d = calloc(1, sizeof *d);
    if (!d) {
      napi_throw_error(env, NULL, "out of memory");
      return NULL;
    }
    d->env = env;
    NAPI_CALL(env, napi_set_instance_data(env, d, NULL, NULL));
    NAPI_CALL(env, napi_add_env_cleanup_hook(env, env_cleanup, d));
  }
  if (d->dispatch) {
    napi_delete_reference(env, d->dispatch);
  }
  if (d->error_class) {
    napi_delete_reference(env, d->error_class);
  }
  NAPI_CALL(env, napi_create_reference(env, argv[1], 1, &d->dispatch));
  NAPI_CALL(env, napi_create_reference(env, argv[2], 1, &d->error_class));
  napi_value out;
  NAPI_CALL(env, napi_create_uint32(env, tp.abi_version(), &out));
  return out;
}

/* protectSignals() -> how many handlers it changed. Adds SA_ONSTACK to
 * every signal handler that lacks it (Node's and libuv's: Go's have it).
 * Go threads keep SIGCHLD, SIGPROF and SIGURG unblocked whatever the mask
 * they inherited (the runtime needs them), so libuv's SIGCHLD handler can
 * run on a Go thread; with SA_ONSTACK it runs on that thread's signal
 * stack, not on the goroutine stack it interrupted (which it would
 * overflow: the crash this prevents). lib/ calls it at load and whenever
 * Node installs a signal handler. */
static napi_value protect_signals(napi_env env, napi_callback_info info) {
  (void)info;
  int changed = 0;
  if (!unsafe_signals) {
    for (int sig = 1; sig < NSIG; sig++) {
      struct sigaction sa;
      if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) != 0) {
        continue;
      }
      bool is_function = (sa.sa_flags & SA_SIGINFO)
                             ? sa.sa_sigaction != NULL
                             : (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);
      if (is_function && !(sa.sa_flags & SA_ONSTACK)) {
        sa.sa_flags |= SA_ONSTACK;
        if (sigaction(sig, &sa, NULL) == 0) {
          changed++;
        }
      }
    }
  }
  napi_value out;
  NAPI_CALL(env, napi_create_int32(env, changed, &out));
  return out;
}

/* signalOnStack(signum) -> whether its handler has SA_ONSTACK (tests). */
static napi_value signal_on_stack(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t sig;
  if (!get_i32(env, argv[0], &sig, "signal")) {
    return NULL;
  }
  struct sigaction sa;
  bool on = sigaction(sig, NULL, &sa) == 0 && (sa.sa_flags & SA_ONSTACK);
  napi_value out;
  NAPI_CALL(env, napi_get_boolean(env, on, &out));
  return out;
}

static napi_value library_path(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  NAPI_CALL(env, napi_create_string_utf8(env, lib_path, NAPI_AUTO_LENGTH, &out));
  return out;
}

#define REQUIRE_LOADED(env)                                                    \
  do {                                                                         \
    if (!lib_handle) {                                                         \
      napi_throw_error(env, "ERR_TELEPATHINE_LOAD", "libtelepathine is not loaded");  \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

static napi_value status_name(napi_env env, napi_callback_info info) {
  REQUIRE_LOADED(env);
  ARGS(1);
  int32_t rc;
  if (!get_i32(env, argv[0], &rc, "status")) {
    return NULL;
  }
  napi_value out;
  NAPI_CALL(env, napi_create_string_utf8(env, tp.status_name(rc), NAPI_AUTO_LENGTH, &out));
  return out;
}

/* ------------------------------------------------------------ events */

/* Events taken per tp_events_poll_flat at most (the library also stops a
 * batch near 4 MiB). Larger than the library's default of 1024: under a
 * flood the costs of a batch (a wake-up of the JS thread, an ArrayBuffer,
 * splitting its string table) then weigh four times less per event, and
 * when the JS thread keeps up batches stay small anyway (a poll takes what
 * is queued, it never waits for a batch to fill). */
#define EVENTS_BATCH 4096

/* The stream's queue at most (tp_events_open's limit). */
#define EVENTS_QUEUE_MAX 1048576

/* Batches the poller may have ready for the JS thread: one, polled while
 * the JS thread dispatches the previous one. Two measured no faster on the
 * loaded 2-core VM (the drain's rate by the clock stayed at 0.3 M/s: the
 * threads wait for a core, not for each other), and each batch ready is
 * up to 4 MiB held. At most EVENTS_AHEAD + 1 batches are out of the
 * library. */
#define EVENTS_AHEAD 1

struct events {
  pthread_mutex_t mu;
  pthread_cond_t cond;           /* signalled when a ready batch is taken or closing is set */
  napi_threadsafe_function tsfn; /* NULL once Node finalized it */
  bool released;                 /* our reference to tsfn was given up */
  tp_events stream;
  pthread_t thread;
  bool thread_started;
  double id;            /* the engine handle, passed to dispatch */
  tp_buf ready[EVENTS_AHEAD];    /* polled batches waiting for the JS thread, oldest at head */
  uint32_t ready_events[EVENTS_AHEAD];
  unsigned head, nready;
  tp_buf taken;         /* a batch the JS thread copied, for the poller to free */
  uint32_t in_js;       /* events of the batch the JS thread is dispatching */
  bool closing;         /* the poller must stop */
  uint64_t batches, delivered; /* counters (eventsCounters) */
  uint64_t poller_cpu_ns;       /* the poller thread's CPU time so far */
  napi_ref ab;          /* the ArrayBuffer batches are copied into (JS thread only) */
  void *ab_data;
  size_t ab_cap;
  int owners; /* the engine record (until events_shutdown) and Node (until tsfn_finalize) */
};

static void events_release(events *ev) {
  pthread_mutex_lock(&ev->mu);
  int left = --ev->owners;
  pthread_mutex_unlock(&ev->mu);
  if (left == 0) {
    pthread_mutex_destroy(&ev->mu);
    pthread_cond_destroy(&ev->cond);
    for (unsigned i = 0; i < EVENTS_AHEAD; i++) {
      tp.buf_free(&ev->ready[i]);
    }
    tp.buf_free(&ev->taken);
    free(ev);
  }
}

static uint32_t read_u32le(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) {
    return 0;
  }
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The poller, one thread per engine: takes a flat batch, adds it to the
 * ready batches and wakes the JS thread, and polls again only while fewer
 * than EVENTS_AHEAD batches are ready. So at most EVENTS_AHEAD + 1 batches
 * are out of the library (one dispatched, the others ready) and the rest
 * of a flood waits in the stream's queue (options.eventQueue), whose
 * overflow the engine drops and counts: memory stays bounded however slow
 * the handlers. The JS thread dispatches a batch while the next ones are
 * polled. */
static void *poll_loop(void *arg) {
  events *ev = arg;
  for (;;) {
    pthread_mutex_lock(&ev->mu);
    while (ev->nready == EVENTS_AHEAD && !ev->closing) {
      pthread_cond_wait(&ev->cond, &ev->mu);
    }
    bool stop = ev->closing;
    tp_buf done = ev->taken;
    ev->taken = (tp_buf){0};
    pthread_mutex_unlock(&ev->mu);
    tp.buf_free(&done); /* here rather than on the JS thread: a call into Go */
    if (stop) {
      break;
    }
    tp_buf batch = {0};
    int rc = tp.events_poll_flat(ev->stream, -1, EVENTS_BATCH, &batch, NULL);
    if (rc == TP_TIMEOUT) {
      continue;
    }
    if (rc != TP_OK) {
      break; /* the stream ended: closed, or its engine closed */
    }
    if (batch.len < TP_FLAT_HEADER_SIZE) {
      tp.buf_free(&batch); /* cannot happen (the library's contract); never crash on it */
      continue;
    }
    uint64_t cpu = thread_cpu_ns();
    pthread_mutex_lock(&ev->mu);
    ev->poller_cpu_ns = cpu;
    bool handed = false;
    if (!ev->closing && ev->tsfn && !atomic_load(&exiting)) {
      unsigned at = (ev->head + ev->nready) % EVENTS_AHEAD;
      ev->ready[at] = batch;
      ev->ready_events[at] = read_u32le(batch.data);
      ev->nready++;
      handed = napi_call_threadsafe_function(ev->tsfn, NULL, napi_tsfn_nonblocking) == napi_ok;
      if (!handed) {
        ev->ready[at] = (tp_buf){0};
        ev->ready_events[at] = 0;
        ev->nready--;
      }
    }
    pthread_mutex_unlock(&ev->mu);
    if (!handed) {
      tp.buf_free(&batch);
      break; /* Node is going away */
    }
  }
  return NULL;
}

/* Batches up to this size are copied into one ArrayBuffer kept per engine
 * (no allocation per batch; lib/flat.js copies out everything it hands to
 * user code, so reusing it is safe); a larger one gets an ArrayBuffer of
 * its own, so that an engine does not hold a large buffer for good. */
#define EVENTS_AB_MAX (1u << 20)

/* The ArrayBuffer to copy a batch of len bytes into (JS thread). */
static bool batch_buffer(napi_env env, events *ev, size_t len, napi_value *ab, void **mem) {
  if (len > EVENTS_AB_MAX) {
    return napi_create_arraybuffer(env, len, mem, ab) == napi_ok;
  }
  if (ev->ab && len <= ev->ab_cap && napi_get_reference_value(env, ev->ab, ab) == napi_ok && *ab) {
    *mem = ev->ab_data;
    return true;
  }
  size_t cap = ev->ab_cap ? ev->ab_cap : 65536;
  while (cap < len) {
    cap *= 2;
  }
  if (napi_create_arraybuffer(env, cap, mem, ab) != napi_ok) {
    return false;
  }
  if (ev->ab) {
    napi_delete_reference(env, ev->ab);
    ev->ab = NULL;
  }
  if (napi_create_reference(env, *ab, 1, &ev->ab) == napi_ok) {
    ev->ab_data = *mem;
    ev->ab_cap = cap;
  } else {
    ev->ab = NULL;
    ev->ab_cap = 0;
  }
  return true;
}

/* JS thread: takes the oldest ready batch (the poller goes on polling),
 * copies it into an ArrayBuffer and calls dispatch(handle, ArrayBuffer,
 * length). A copy, not the library's memory, which the poller frees at
 * once, rather than whenever the garbage collector gets to an external
 * buffer. env is NULL when the threadsafe function is being torn down. */
static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)data;
  events *ev = context;
  pthread_mutex_lock(&ev->mu);
  tp_buf batch = {0};
  uint32_t n = 0;
  if (ev->nready > 0) {
    batch = ev->ready[ev->head];
    n = ev->ready_events[ev->head];
    ev->ready[ev->head] = (tp_buf){0};
    ev->ready_events[ev->head] = 0;
    ev->head = (ev->head + 1) % EVENTS_AHEAD;
    ev->nready--;
    pthread_cond_broadcast(&ev->cond);
  }
  ev->in_js = n;
  bool closing = ev->closing;
  pthread_mutex_unlock(&ev->mu);
  if (!batch.data) {
    return; /* emptied by events_shutdown */
  }

  napi_value argv[3], recv;
  void *mem = NULL;
  bool ok = env && js_cb && !closing && !atomic_load(&exiting) &&
            napi_create_double(env, ev->id, &argv[0]) == napi_ok &&
            batch_buffer(env, ev, batch.len, &argv[1], &mem) &&
            napi_create_double(env, (double)batch.len, &argv[2]) == napi_ok &&
            napi_get_undefined(env, &recv) == napi_ok;
  if (ok) {
    memcpy(mem, batch.data, batch.len);
  }
  /* The batch goes back to the poller, which frees it; the poller may
   * poll the next one meanwhile. */
  pthread_mutex_lock(&ev->mu);
  if (!ev->closing && !ev->taken.data) {
    ev->taken = batch;
    batch = (tp_buf){0};
  }
  pthread_cond_broadcast(&ev->cond);
  pthread_mutex_unlock(&ev->mu);
  tp.buf_free(&batch); /* only when the poller is gone or busy */
  if (ok) {
    napi_status st = napi_call_function(env, recv, js_cb, 3, argv, NULL);
    if (st == napi_pending_exception) {
      /* dispatch catches handler errors itself; anything else is a bug
       * of the binding: report it as an uncaught exception. */
      napi_value exc;
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) {
        napi_fatal_exception(env, exc);
      }
    }
  }

  pthread_mutex_lock(&ev->mu);
  ev->in_js = 0;
  if (ok) {
    ev->batches++;
    ev->delivered += n;
  }
  pthread_mutex_unlock(&ev->mu);
}

/* Node finalized the threadsafe function: no call_js will come. The poller
 * stops handing batches over (it may still be blocked in a poll, until
 * events_shutdown closes the stream). */
static void tsfn_finalize(napi_env env, void *finalize_data, void *hint) {
  (void)env;
  (void)hint;
  events *ev = finalize_data;
  if (env && ev->ab) {
    napi_delete_reference(env, ev->ab);
  }
  ev->ab = NULL;
  pthread_mutex_lock(&ev->mu);
  ev->tsfn = NULL;
  ev->closing = true;
  pthread_cond_broadcast(&ev->cond);
  pthread_mutex_unlock(&ev->mu);
  events_release(ev);
}

/* JS thread (engine close, environment cleanup): stops the poller and
 * waits for it, so that nothing polls a closed stream nor touches Node
 * afterwards. Closing the stream wakes a blocked poll; the closing flag, a
 * poller waiting for room among the ready batches. Neither waits for the
 * JS thread, so joining it here cannot deadlock. Ready batches are freed;
 * a call_js already queued for one then finds none. */
static void events_shutdown(events *ev) {
  pthread_mutex_lock(&ev->mu);
  ev->closing = true;
  pthread_cond_broadcast(&ev->cond);
  pthread_mutex_unlock(&ev->mu);
  tp.events_close(ev->stream, NULL);
  if (ev->thread_started) {
    pthread_join(ev->thread, NULL);
    ev->thread_started = false;
  }
  pthread_mutex_lock(&ev->mu);
  tp_buf left[EVENTS_AHEAD], done = ev->taken;
  for (unsigned i = 0; i < EVENTS_AHEAD; i++) {
    left[i] = ev->ready[i];
    ev->ready[i] = (tp_buf){0};
    ev->ready_events[i] = 0;
  }
  ev->nready = 0;
  ev->taken = (tp_buf){0};
  napi_threadsafe_function tsfn = ev->released ? NULL : ev->tsfn;
  ev->released = true;
  pthread_mutex_unlock(&ev->mu);
  for (unsigned i = 0; i < EVENTS_AHEAD; i++) {
    tp.buf_free(&left[i]);
  }
  tp.buf_free(&done);
  if (tsfn) {
    napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  }
  events_release(ev);
}

/* subscribe(handle, pattern, queue): opens the engine's event stream (queue:
 * events waiting at most, clamped to the library's limit) and starts its
 * poller. The threadsafe function starts unreferenced (engine not running). */
static napi_value subscribe(napi_env env, napi_callback_info info) {
  REQUIRE_LOADED(env);
  ARGS(3);
  HANDLE_ARG(0, h);
  env_data *d = get_env_data(env);
  engine_rec *rec = find_engine(d, h);
  if (!rec || rec->ev) {
    napi_throw_error(env, NULL, "subscribe: unknown engine, or already subscribed");
    return NULL;
  }
  int32_t limit = 0;
  if (!get_i32(env, argv[2], &limit, "limit")) {
    return NULL;
  }
  if (limit <= 0) {
    return throw_type_error(env, "limit must be positive");
  }
  utf8 pattern;
  if (!get_utf8(env, argv[1], &pattern, "pattern")) {
    return NULL;
  }
  events *ev = calloc(1, sizeof *ev);
  if (!ev) {
    utf8_free(&pattern);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  tp_buf err = {0};
  uint32_t queue = (uint32_t)limit > EVENTS_QUEUE_MAX ? EVENTS_QUEUE_MAX : (uint32_t)limit;
  int rc = tp.events_open(h, (const uint8_t *)pattern.p, pattern.n, queue, &ev->stream, &err);
  utf8_free(&pattern);
  if (rc != TP_OK) {
    free(ev);
    return throw_status(env, rc, &err);
  }
  pthread_mutex_init(&ev->mu, NULL);
  pthread_cond_init(&ev->cond, NULL);
  ev->id = (double)h;
  ev->owners = 2;

  napi_value dispatch, name;
  if (napi_get_reference_value(env, d->dispatch, &dispatch) != napi_ok ||
      napi_create_string_utf8(env, "telepathine events", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, dispatch, NULL, name, 0, 1, ev, tsfn_finalize, ev,
                                      call_js, &ev->tsfn) != napi_ok) {
    tp.events_close(ev->stream, NULL);
    pthread_mutex_destroy(&ev->mu);
    pthread_cond_destroy(&ev->cond);
    free(ev);
    throw_napi_failure(env, "napi_create_threadsafe_function");
    return NULL;
  }
  napi_unref_threadsafe_function(env, ev->tsfn);

  /* The poller runs Go code (the poll): like the library's own threads it
   * starts with asynchronous signals blocked (see Signals above). */
  sigset_t old;
  if (!unsafe_signals) {
    pthread_sigmask(SIG_BLOCK, &async_signals, &old);
  }
  int prc = pthread_create(&ev->thread, NULL, poll_loop, ev);
  if (!unsafe_signals) {
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  ev->thread_started = prc == 0;
  rec->ev = ev; /* from here on engine close shuts it down */
  if (prc != 0) {
    events_shutdown(ev);
    rec->ev = NULL;
    napi_throw_error(env, NULL, "telepathine addon: cannot start the event thread");
    return NULL;
  }
  return undefined_value(env);
}

/* eventsRef(handle, bool): whether the engine's events keep the process
 * alive. Main thread only, like the threadsafe function's finalizer, so
 * ev->tsfn cannot change under it. */
static napi_value events_ref(napi_env env, napi_callback_info info) {
  ARGS(2);
  HANDLE_ARG(0, h);
  bool on = false;
  NAPI_CALL(env, napi_get_value_bool(env, argv[1], &on));
  engine_rec *rec = find_engine(get_env_data(env), h);
  if (rec && rec->ev && rec->ev->tsfn && !rec->ev->released) {
    if (on) {
      napi_ref_threadsafe_function(env, rec->ev->tsfn);
    } else {
      napi_unref_threadsafe_function(env, rec->ev->tsfn);
    }
  }
  return undefined_value(env);
}

/* eventsCounters(handle) -> [queued, batches, delivered, pollerCpuNs]:
 * events taken from the engine and not yet dispatched (the batch waiting
 * for the JS thread and the one it is dispatching: those still in the
 * engine's queue are not counted), the batches and events dispatched, and
 * the CPU time of the poller thread (the library's work of taking events
 * off the stream and writing batches; the benchmark reports it). */
static napi_value events_counters(napi_env env, napi_callback_info info) {
  ARGS(1);
  HANDLE_ARG(0, h);
  engine_rec *rec = find_engine(get_env_data(env), h);
  double v[4] = {0, 0, 0, 0};
  if (rec && rec->ev) {
    pthread_mutex_lock(&rec->ev->mu);
    v[0] = (double)rec->ev->in_js;
    for (unsigned i = 0; i < EVENTS_AHEAD; i++) {
      v[0] += (double)rec->ev->ready_events[i];
    }
    v[1] = (double)rec->ev->batches;
    v[2] = (double)rec->ev->delivered;
    v[3] = (double)rec->ev->poller_cpu_ns;
    pthread_mutex_unlock(&rec->ev->mu);
  }
  napi_value out;
  NAPI_CALL(env, napi_create_array_with_length(env, 4, &out));
  for (uint32_t i = 0; i < 4; i++) {
    napi_value x;
    NAPI_CALL(env, napi_create_double(env, v[i], &x));
    NAPI_CALL(env, napi_set_element(env, out, i, x));
  }
  return out;
}

/* threadCpuNs() -> the CPU time of the calling thread in nanoseconds (the
 * benchmark's events per CPU-second of the JS thread). */
static napi_value thread_cpu(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  NAPI_CALL(env, napi_create_double(env, (double)thread_cpu_ns(), &out));
  return out;
}

/* ------------------------------------------------------------ engines */

static napi_value engine_new(napi_env env, napi_callback_info info) {
  REQUIRE_LOADED(env);
  ARGS(1);
  bytes_arg cfg;
  if (!get_bytes(env, argv[0], &cfg, "config")) {
    return NULL;
  }
  engine_rec *rec = calloc(1, sizeof *rec);
  env_data *d = get_env_data(env);
  if (!rec || !d) {
    free(rec);
    bytes_free(&cfg);
    napi_throw_error(env, NULL, rec ? "telepathine addon: load() was not called" : "out of memory");
    return NULL;
  }
  tp_engine h = 0;
  tp_buf err = {0};
  int rc = (tp.engine_new(cfg.p, cfg.n, &h, &err));
  bytes_free(&cfg);
  if (rc != TP_OK) {
    free(rec);
    return throw_status(env, rc, &err);
  }
  rec->handle = h;
  rec->next = d->engines;
  if (d->engines) {
    d->engines->prev = rec;
  }
  d->engines = rec;
  napi_value out;
  NAPI_CALL(env, napi_create_double(env, (double)h, &out));
  return out;
}

#define SIMPLE_ENGINE_CALL(fname, call)                                        \
  static napi_value fname(napi_env env, napi_callback_info info) {             \
    REQUIRE_LOADED(env);                                                       \
    ARGS(1);                                                                   \
    HANDLE_ARG(0, h);                                                          \
    tp_buf err = {0};                                                          \
    int rc = (call(h, &err));                                           \
    return status_result(env, rc, &err);                                       \
  }

SIMPLE_ENGINE_CALL(engine_start, tp.engine_start)
SIMPLE_ENGINE_CALL(engine_stop, tp.engine_stop)

/* engineClose(handle): stops the engine's poller (joined here), then
 * closes the engine. */
static napi_value engine_close(napi_env env, napi_callback_info info) {
  REQUIRE_LOADED(env);
  ARGS(1);
  HANDLE_ARG(0, h);
  env_data *d = get_env_data(env);
  engine_rec *rec = find_engine(d, h);
  if (rec) {
    if (rec->ev) {
      events_shutdown(rec->ev);
    }
    unlink_engine(d, rec);
  }
  tp_buf err = {0};
  int rc = (tp.engine_close(h, &err));
  return status_result(env, rc, &err);
}

/* The cleanup hook: close every engine of the environment, so that no
 * library thread calls into it once it is gone. */
static void env_cleanup(void *arg) {
  env_data *d = arg;
  while (d->engines) {
    engine_rec *r = d->engines;
    d->engines = r->next;
    if (r->ev) {
      events_shutdown(r->ev);
    }
    tp.engine_close(r->handle, NULL);
    free(r);
  }
  /* The references die with the environment; only the struct is ours. */
  napi_set_instance_data(d->env, NULL, NULL, NULL);
  free(d);
}

/* Calls returning one buffer: engineInfo, engineStats, peers. */
#define BUFFER_ENGINE_CALL(fname, call)                                        \
  static napi_value fname(napi_env env, napi_callback_info info) {             \
    REQUIRE_LOADED(env);                                                       \
    ARGS(1);                                                                   \
    HANDLE_ARG(0, h);                                                          \
    tp_buf out = {0}, err = {0};                                               \
    int rc = (call(h, &out, &err));                                     \
    if (rc != TP_OK) return throw_status(env, rc, &err);                       \
    return buffer_from(env, &out);                                             \
  }

BUFFER_ENGINE_CALL(engine_info, tp.engine_info)
BUFFER_ENGINE_CALL(engine_stats, tp.engine_stats)
BUFFER_ENGINE_CALL(all_peers, tp.engine_all_peers)
BUFFER_ENGINE_CALL(live_peers, tp.engine_live_peers)
BUFFER_ENGINE_CALL(dead_peers, tp.engine_dead_peers)

/* ---------------------------------------------------------- key/value */

/* set(handle, key, value, encoding, expiresAtMs) */
static napi_value set(napi_env env, napi_callback_info info) {
  REQUIRE_LOADED(env);
  ARGS(5);
  HANDLE_ARG(0, h);
  int32_t enc;
  int64_t expires;
  if (!get_i32(env, argv[3], &enc, "encoding") || !get_i64(env, argv[4], &expires, "expiresAt")) {
    return NULL;
  }
  utf8 key;
  if (!get_utf8(env, argv[1], &key, "key")) {
    return NULL;
  }
  bytes_arg val;
  if (!get_bytes(env, argv[2], &val, "value")) {
    utf8_free(&key);
    return NULL;
  }
  tp_buf err = {0};
  int rc = (tp.engine_set(h, (const uint8_t *)key.p, key.n, val.p, val.n, enc, expires, &err));
  utf8_free(&key);
  bytes_free(&val);
  return status_result(env, rc, &err);
}

/* get(handle, key) -> KeyValue Buffer, or undefined when not found. */
static napi_value get(napi_env env, napi_callback_info info) {
  REQUIRE_LOADED(env);
  ARGS(2);
  HANDLE_ARG(0, h);
  utf8 key;
  if (!get_utf8(env, argv[1], &key, "key")) {
    return NULL;
  }
  tp_buf kv = {0}, err = {0};
  int rc = (tp.engine_get(h, (const uint8_t *)key.p, key.n, &kv, &err));
  utf8_free(&key);
  if (rc == TP_NOT_FOUND) {
    return undefined_value(env);
  }
  if (rc != TP_OK) {
    return throw_status(env, rc, &err);
  }
  return buffer_from(env, &kv);
}

/* getRemote(handle, peer, key) -> KeyValue Buffer, or undefined. */
static napi_value get_remote(napi_env env, napi_callback_info info) {
  REQUIRE_LOADED(env);
  ARGS(3);
  HANDLE_ARG(0, h);
  utf8 peer, key;
  if (!get_utf8(env, argv[1], &peer, "peer")) {
    return NULL;
  }
  if (!get_utf8(env, argv[2], &key, "key")) {
    utf8_free(&peer);
    return NULL;
  }
  tp_buf kv = {0}, err = {0};
  int rc = (tp.engine_get_remote(h, (const uint8_t *)peer.p, peer.n, (const uint8_t *)key.p,
                                        key.n, &kv, &err));
  utf8_free(&peer);
  utf8_free(&key);
  if (rc == TP_NOT_FOUND) {
    return undefined_value(env);
  }
  if (rc != TP_OK) {
    return throw_status(env, rc, &err);
  }
  return buffer_from(env, &kv);
}

/* getRemoteKeys(handle, peer) -> KeyList Buffer. */
static napi_value get_remote_keys(napi_env env, napi_callback_info info) {
  REQUIRE_LOADED(env);
  ARGS(2);
  HANDLE_ARG(0, h);
  utf8 peer;
  if (!get_utf8(env, argv[1], &peer, "peer")) {
    return NULL;
  }
  tp_buf keys = {0}, err = {0};
  int rc = (tp.engine_get_remote_keys(h, (const uint8_t *)peer.p, peer.n, &keys, &err));
  utf8_free(&peer);
  if (rc != TP_OK) {
    return throw_status(env, rc, &err);
  }
  return buffer_from(env, &keys);
}

/* del(handle, key) -> whether a live value was deleted. */
static napi_value del(napi_env env, napi_callback_info info) {
  REQUIRE_LOADED(env);
  ARGS(2);
  HANDLE_ARG(0, h);
  utf8 key;
  if (!get_utf8(env, argv[1], &key, "key")) {
    return NULL;
  }
  int deleted = 0;
  tp_buf err = {0};
  int rc = (tp.engine_delete(h, (const uint8_t *)key.p, key.n, &deleted, &err));
  utf8_free(&key);
  if (rc != TP_OK) {
    return throw_status(env, rc, &err);
  }
  napi_value out;
  NAPI_CALL(env, napi_get_boolean(env, deleted != 0, &out));
  return out;
}

/* ---------------------------------------------------- cluster keyring */

/* installKey / useKey / removeKey (handle, key): key is a Buffer or typed
 * array (lib/telepathine.js checks it); the engine checks its length. */
#define KEY_ENGINE_CALL(fname, call)                                           \
  static napi_value fname(napi_env env, napi_callback_info info) {             \
    REQUIRE_LOADED(env);                                                       \
    ARGS(2);                                                                   \
    HANDLE_ARG(0, h);                                                          \
    bytes_arg key;                                                             \
    if (!get_bytes(env, argv[1], &key, "key")) {                               \
      return NULL;                                                             \
    }                                                                          \
    tp_buf err = {0};                                                          \
    int rc = (call(h, key.p, key.n, &err));                                    \
    bytes_free(&key);                                                          \
    return status_result(env, rc, &err);                                       \
  }

KEY_ENGINE_CALL(install_key, tp.engine_install_key)
KEY_ENGINE_CALL(use_key, tp.engine_use_key)
KEY_ENGINE_CALL(remove_key, tp.engine_remove_key)
BUFFER_ENGINE_CALL(engine_keys, tp.engine_keys)

/* setPlaintext(handle, accept, send): accept and send are booleans. */
static napi_value set_plaintext(napi_env env, napi_callback_info info) {
  REQUIRE_LOADED(env);
  ARGS(3);
  HANDLE_ARG(0, h);
  bool accept = false, send = false;
  if (napi_get_value_bool(env, argv[1], &accept) != napi_ok ||
      napi_get_value_bool(env, argv[2], &send) != napi_ok) {
    return throw_type_error(env, "accept and send must be booleans");
  }
  tp_buf err = {0};
  int rc = (tp.engine_set_plaintext(h, accept, send, &err));
  return status_result(env, rc, &err);
}

/* --------------------------------------------------------- say and ask */

/* say(handle, event, data, encoding, durationMs, flags) */
static napi_value say(napi_env env, napi_callback_info info) {
  REQUIRE_LOADED(env);
  ARGS(6);
  HANDLE_ARG(0, h);
  int32_t enc, flags;
  int64_t duration;
  if (!get_i32(env, argv[3], &enc, "encoding") || !get_i64(env, argv[4], &duration, "duration") ||
      !get_i32(env, argv[5], &flags, "flags")) {
    return NULL;
  }
  utf8 event;
  if (!get_utf8(env, argv[1], &event, "event")) {
    return NULL;
  }
  bytes_arg data;
  if (!get_bytes(env, argv[2], &data, "data")) {
    utf8_free(&event);
    return NULL;
  }
  tp_buf err = {0};
  int rc = (tp.engine_say(h, (const uint8_t *)event.p, event.n, data.p, data.n, enc, duration,
                                 (uint32_t)flags, &err));
  utf8_free(&event);
  bytes_free(&data);
  return status_result(env, rc, &err);
}

/* reply(handle, askId (BigInt), data, encoding) */
static napi_value reply(napi_env env, napi_callback_info info) {
  REQUIRE_LOADED(env);
  ARGS(4);
  HANDLE_ARG(0, h);
  uint64_t ask_id;
  bool lossless = false;
  if (napi_get_value_bigint_uint64(env, argv[1], &ask_id, &lossless) != napi_ok || !lossless) {
    return throw_type_error(env, "askId must be a BigInt (uint64)");
  }
  int32_t enc;
  if (!get_i32(env, argv[3], &enc, "encoding")) {
    return NULL;
  }
  bytes_arg data;
  if (!get_bytes(env, argv[2], &data, "data")) {
    return NULL;
  }
  tp_buf err = {0};
  int rc = (tp.engine_reply(h, ask_id, data.p, data.n, enc, &err));
  bytes_free(&data);
  return status_result(env, rc, &err);
}

/* An ask runs on a libuv worker thread: tp_engine_ask blocks until the
 * replies are in or the timeout passes. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  tp_engine engine;
  uint8_t *event, *data; /* copies: the JS values may change meanwhile */
  size_t event_len, data_len;
  int encoding;
  int64_t timeout_ms;
  int rc;
  tp_buf replies, err;
} ask_job;

static void ask_execute(napi_env env, void *arg) {
  (void)env;
  ask_job *j = arg;
  j->rc = (tp.engine_ask(j->engine, j->event, j->event_len, j->data, j->data_len, j->encoding,
                                j->timeout_ms, &j->replies, &j->err));
}

static void ask_complete(napi_env env, napi_status status, void *arg) {
  ask_job *j = arg;
  napi_value result = NULL;
  void *copy;
  if (status == napi_ok && j->rc == TP_OK &&
      napi_create_buffer_copy(env, j->replies.len, j->replies.data, &copy, &result) == napi_ok) {
    napi_resolve_deferred(env, j->deferred, result);
  } else {
    if (status == napi_ok) {
      result = status_error(env, j->rc < 0 ? j->rc : TP_ERR_INTERNAL, &j->err);
    }
    if (!result) {
      napi_value msg;
      napi_create_string_utf8(env, "telepathine: the ask did not complete", NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env, NULL, msg, &result);
    }
    napi_reject_deferred(env, j->deferred, result);
  }
  tp.buf_free(&j->replies);
  tp.buf_free(&j->err);
  napi_delete_async_work(env, j->work);
  free(j->event);
  free(j->data);
  free(j);
}

/* ask(handle, event, data, encoding, timeoutMs) -> Promise<AskReplies Buffer> */
static napi_value ask(napi_env env, napi_callback_info info) {
  REQUIRE_LOADED(env);
  ARGS(5);
  HANDLE_ARG(0, h);
  int32_t enc;
  int64_t timeout;
  if (!get_i32(env, argv[3], &enc, "encoding") || !get_i64(env, argv[4], &timeout, "timeout")) {
    return NULL;
  }
  utf8 event;
  if (!get_utf8(env, argv[1], &event, "event")) {
    return NULL;
  }
  bytes_arg data;
  if (!get_bytes(env, argv[2], &data, "data")) {
    utf8_free(&event);
    return NULL;
  }
  ask_job *j = calloc(1, sizeof *j);
  if (j) {
    j->event = malloc(event.n + 1);
    j->data = malloc(data.n + 1);
  }
  if (!j || !j->event || !j->data) {
    if (j) {
      free(j->event);
      free(j->data);
    }
    free(j);
    utf8_free(&event);
    bytes_free(&data);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  memcpy(j->event, event.p, event.n);
  j->event_len = event.n;
  if (data.n) {
    memcpy(j->data, data.p, data.n);
  }
  j->data_len = data.n;
  utf8_free(&event);
  bytes_free(&data);
  j->engine = h;
  j->encoding = enc;
  j->timeout_ms = timeout;

  napi_value promise, name;
  if (napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "telepathine ask", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, ask_execute, ask_complete, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    free(j->event);
    free(j->data);
    free(j);
    throw_napi_failure(env, "queueing an ask");
    return NULL;
  }
  return promise;
}

/* ------------------------------------------------------------- module */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
#define FN(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}
      FN("load", load),
      FN("libraryPath", library_path),
      FN("protectSignals", protect_signals),
      FN("signalOnStack", signal_on_stack),
      FN("statusName", status_name),
      FN("engineNew", engine_new),
      FN("engineStart", engine_start),
      FN("engineStop", engine_stop),
      FN("engineClose", engine_close),
      FN("engineInfo", engine_info),
      FN("engineStats", engine_stats),
      FN("set", set),
      FN("get", get),
      FN("getRemote", get_remote),
      FN("getRemoteKeys", get_remote_keys),
      FN("del", del),
      FN("allPeers", all_peers),
      FN("livePeers", live_peers),
      FN("deadPeers", dead_peers),
      FN("say", say),
      FN("ask", ask),
      FN("reply", reply),
      FN("installKey", install_key),
      FN("useKey", use_key),
      FN("removeKey", remove_key),
      FN("engineKeys", engine_keys),
      FN("setPlaintext", set_plaintext),
      FN("subscribe", subscribe),
      FN("eventsRef", events_ref),
      FN("eventsCounters", events_counters),
      FN("threadCpuNs", thread_cpu),
#undef FN
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) {
    return NULL;
  }
  return exports;
}

NAPI_MODULE(telepathine, init)
