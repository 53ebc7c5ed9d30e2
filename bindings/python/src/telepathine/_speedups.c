/*
 * telepathine._speedups: Peer.set() in C, for its common case (a str key,
 * a bytes or str value, no expiry). The rest of the package binds the
 * library with ctypes; this module only exists because a set() is the one
 * call a program makes in a tight loop, and ctypes spends more on the
 * call (building a call interface for 8 arguments, converting each) and
 * Python on the argument checks than the engine spends on the set itself.
 *
 * The module does not link against libtelepathine: the package loads the
 * library with ctypes and hands this module the address of tp_engine_set
 * (bind). One copy of the library, and of the Go runtime in it, per
 * process — a second copy, as a linked dependency could bring (auditwheel
 * grafts linked libraries into the wheel), would start a second runtime.
 *
 * Limited API (abi3) of CPython 3.10, the package's minimum: one wheel for
 * every later CPython. When the module cannot be built or loaded, the
 * package uses its ctypes path for everything (telepathine/_native.py).
 */
#define Py_LIMITED_API 0x030A0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

/* tp_engine_set of cgo/telepathine.h; the last argument (tp_buf *err) is
 * always NULL here: on a failure the caller repeats the call through the
 * general path, which asks for the message (a set that failed changed
 * nothing, and fails the same way again). */
typedef int (*engine_set_fn)(uint64_t engine, const uint8_t *key, size_t key_len, const uint8_t *value,
                             size_t value_len, int encoding, int64_t expires_at_ms, void *err);

enum { ENCODING_RAW = 0, ENCODING_TEXT = 1 }; /* TP_ENCODING_RAW, TP_ENCODING_TEXT */

static engine_set_fn engine_set;

/* bind(address): the address of tp_engine_set in the library the package
 * loaded. Until bound, set() handles nothing. */
static PyObject *speedups_bind(PyObject *self, PyObject *address) {
    (void)self;
    void *p = PyLong_AsVoidPtr(address);
    if (p == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "telepathine: NULL address for tp_engine_set");
        }
        return NULL;
    }
    engine_set = (engine_set_fn)p;
    Py_RETURN_NONE;
}

/* set(handle, key, value) -> status, or None when the arguments are not
 * the common case (another type, a str that is not valid UTF-8): the
 * caller's general path handles those, with the same results.
 *
 * The call into the library keeps the GIL, as the ctypes binding of set()
 * does: tp_engine_set never blocks and never waits for anything a Python
 * thread holds (no Go thread calls into Python in this package), and the
 * release and re-acquisition would cost a good part of the call. The
 * key and value are borrowed for the call only (the library copies them),
 * and the objects stay alive meanwhile: the caller holds them. */
static PyObject *speedups_set(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "set() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    if (engine_set == NULL) {
        Py_RETURN_NONE;
    }
    unsigned long long handle = PyLong_AsUnsignedLongLong(args[0]);
    if (handle == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *key = args[1], *value = args[2];
    if (!PyUnicode_CheckExact(key)) {
        Py_RETURN_NONE;
    }
    Py_ssize_t key_len;
    const char *k = PyUnicode_AsUTF8AndSize(key, &key_len);
    if (k == NULL) {
        /* A lone surrogate: the general path passes it on (surrogatepass)
         * for the library to refuse with its own error. */
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    const char *v;
    Py_ssize_t value_len;
    int encoding;
    if (PyBytes_CheckExact(value)) {
        v = PyBytes_AsString(value);
        value_len = PyBytes_Size(value);
        encoding = ENCODING_RAW;
    } else if (PyUnicode_CheckExact(value)) {
        v = PyUnicode_AsUTF8AndSize(value, &value_len);
        if (v == NULL) {
            PyErr_Clear();
            Py_RETURN_NONE;
        }
        encoding = ENCODING_TEXT;
    } else {
        Py_RETURN_NONE;
    }
    int rc = engine_set((uint64_t)handle, (const uint8_t *)k, (size_t)key_len, (const uint8_t *)v, (size_t)value_len,
                        encoding, 0, NULL);
    return PyLong_FromLong(rc);
}

static PyMethodDef speedups_methods[] = {
    {"bind", speedups_bind, METH_O, "bind(address): the address of tp_engine_set in the loaded library."},
    {"set", (PyCFunction)(void (*)(void))speedups_set, METH_FASTCALL,
     "set(handle, key, value) -> status, or None when not the common case."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "telepathine._speedups", "Peer.set() in C (see _native.py).", -1, speedups_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&speedups_module); }
