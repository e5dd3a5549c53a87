/*
 * wscli.core._speedups: the optional C accelerator for RFC 6455 masking.
 *
 * Every frame a client sends, and every frame a server receives, has its
 * payload XORed with a 4-byte key (RFC 6455 §5.3). That is the one step of
 * the protocol that touches every payload byte, so it is the one worth
 * writing in C. wscli/core/masking.py imports apply_mask() from here when
 * this module was built and falls back to pure Python otherwise; both must
 * return identical bytes (tests/core/test_masking.py checks that).
 *
 * Portability notes:
 * - Data is read and written 8 bytes at a time through memcpy() into a
 *   uint64_t. memcpy() is the defined way to do unaligned loads and stores
 *   in C; compilers turn it into plain (often vector) moves.
 * - The 8-byte key is built by memcpy() from the rotated mask bytes, so byte
 *   k of every chunk meets mask byte (offset + k) % 4 whatever the
 *   machine's endianness.
 * - No shared state: the module is safe in subinterpreters and, on
 *   free-threaded builds, without the GIL.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#define MASK_SIZE 4

PyDoc_STRVAR(apply_mask_doc,
"apply_mask($module, /, data, mask, offset=0)\n"
"--\n"
"\n"
"XOR data with a 4-byte mask repeated, starting at mask byte offset % 4.\n"
"\n"
"data may be any contiguous bytes-like object. offset lets a payload that\n"
"arrives in several pieces be unmasked piece by piece: pass the number of\n"
"payload bytes already processed. Returns a new bytes object. Raises\n"
"ValueError if mask is not exactly 4 bytes long.");

static void
xor_mask(const unsigned char *src, unsigned char *dst, size_t size,
         const unsigned char *mask, size_t start)
{
    unsigned char rotated[8];
    uint64_t mask64;
    size_t i;

    /* rotated[k] is the mask byte for payload byte k (mod 4), twice over. */
    for (i = 0; i < sizeof(rotated); i++) {
        rotated[i] = mask[(start + i) % MASK_SIZE];
    }
    memcpy(&mask64, rotated, sizeof(mask64));

    for (i = 0; i + sizeof(uint64_t) <= size; i += sizeof(uint64_t)) {
        uint64_t chunk;
        memcpy(&chunk, src + i, sizeof(chunk));
        chunk ^= mask64;
        memcpy(dst + i, &chunk, sizeof(chunk));
    }
    /* i is a multiple of 8 here, so the tail restarts at rotated[0]. */
    for (; i < size; i++) {
        dst[i] = src[i] ^ rotated[i % MASK_SIZE];
    }
}

static PyObject *
apply_mask(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"data", "mask", "offset", NULL};
    Py_buffer data;
    Py_buffer mask;
    Py_ssize_t offset = 0;
    PyObject *result = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*y*|n:apply_mask",
                                     keywords, &data, &mask, &offset)) {
        return NULL;
    }
    if (mask.len != MASK_SIZE) {
        PyErr_Format(PyExc_ValueError, "mask must be 4 bytes, got %zd",
                     mask.len);
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result == NULL) {
        goto done;
    }
    /* Converting to size_t is modular, so & 3 matches Python's offset % 4
     * for negative offsets too. */
    xor_mask((const unsigned char *)data.buf,
             (unsigned char *)PyBytes_AS_STRING(result), (size_t)data.len,
             (const unsigned char *)mask.buf, (size_t)offset & 3);

done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask,
     METH_VARARGS | METH_KEYWORDS, apply_mask_doc},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot speedups_slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

PyDoc_STRVAR(speedups_doc,
"C implementation of RFC 6455 payload masking; see wscli.core.masking.");

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wscli.core._speedups",
    .m_doc = speedups_doc,
    .m_size = 0,
    .m_methods = speedups_methods,
    .m_slots = speedups_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
