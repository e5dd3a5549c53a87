/*
 * wscli.core._speedups, continued: one copy for large payloads.
 *
 * PayloadBytes (a bytes object written in place until it is handed out),
 * new_payload(), unmask_into(), PayloadBuffer (a large payload's state and
 * steps) and start_payload() (a large binary frame's start, where parse_frames
 * stops); see _speedups.c for the module and the notes that apply to both files.
 */

#include "_speedups.h"

/* XOR size bytes of src with mask from mask byte start (or copy them, mask NULL) into
 * dst, which may overlap src anywhere, as memmove() does: src is read as it was
 * before the call. Returns -1 with MemoryError set when a copy cannot be made. */
static int
unmask_overlapping(const unsigned char *src, unsigned char *dst, size_t size,
                   const unsigned char *mask, size_t start)
{
    unsigned char *copy;
    if (mask == NULL) {
        if (size && dst != src) {
            memmove(dst, src, size);
        }
        return 0;
    }
    if (dst <= src || dst >= src + size) {
        /* In place, or dst before src (each word is read before anything is written
         * over it), or apart. */
        wscli_xor_mask(src, dst, size, mask, start);
        return 0;
    }
    /* dst starts inside src: a forward pass would read bytes it already wrote. Only
     * a caller passing a view of the destination itself gets here. */
    copy = (unsigned char *)PyMem_Malloc(size);
    if (copy == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(copy, src, size);
    wscli_xor_mask(copy, dst, size, mask, start);
    PyMem_Free(copy);
    return 0;
}


/*
 * PayloadBytes: a bytes object under construction, writable through the buffer
 * protocol until take() hands it out.
 *
 * A large payload is received with sock.recv_into() straight into the bytes object
 * the application gets, and unmasked there in place: one copy from the kernel, none
 * in user space. Writing into a bytes object is only legal while nothing else can see
 * it, and that is what this type guarantees:
 *
 * - the bytes object is created here (PyBytes_FromStringAndSize(NULL, size), never
 *   the shared empty or one-byte singletons for the sizes we use; see below) and its
 *   only reference is self->bytes until take();
 * - its hash is not computed before take() (nobody else holds it), so the cached
 *   hash stays "not computed" and matches the final content;
 * - every writable view counts in self->exports; take() refuses (BufferError) while
 *   one is alive, and once taken no new view can be made: no writer outlives the
 *   moment the bytes become visible.
 *
 * Sizes 0 and 1 may return shared singletons (CPython caches b"" and, for some
 * versions, one-byte objects), so new_payload() refuses them: large payloads only.
 */

typedef struct {
    PyObject_HEAD
    PyObject *bytes;      /* NULL once taken */
    Py_ssize_t exports;   /* live buffer views */
} PayloadBytes;

static void
payload_bytes_dealloc(PayloadBytes *self)
{
    PyTypeObject *type = Py_TYPE(self);
    Py_XDECREF(self->bytes);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);  /* instances of a heap type hold a reference to it */
}

static int
payload_bytes_getbuffer(PayloadBytes *self, Py_buffer *view, int flags)
{
    if (self->bytes == NULL) {
        PyErr_SetString(PyExc_BufferError, "payload already handed out");
        view->obj = NULL;
        return -1;
    }
    if (PyBuffer_FillInfo(view, (PyObject *)self, PyBytes_AS_STRING(self->bytes),
                          PyBytes_GET_SIZE(self->bytes), 0, flags) < 0) {
        return -1;
    }
    self->exports++;
    return 0;
}

static void
payload_bytes_releasebuffer(PayloadBytes *self, Py_buffer *Py_UNUSED(view))
{
    self->exports--;
}

PyDoc_STRVAR(payload_bytes_take_doc,
"take($self, /)\n"
"--\n"
"\n"
"Return the bytes object, once every view of it is released; only once.\n"
"\n"
"Raises BufferError while a view is alive or when already taken.");

static PyObject *
payload_bytes_take(PayloadBytes *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *result = self->bytes;
    if (result == NULL) {
        PyErr_SetString(PyExc_BufferError, "payload already handed out");
        return NULL;
    }
    if (self->exports) {
        PyErr_SetString(PyExc_BufferError, "payload still has writable views");
        return NULL;
    }
    self->bytes = NULL;
    return result;
}

static Py_ssize_t
payload_bytes_length(PayloadBytes *self)
{
    return self->bytes == NULL ? 0 : PyBytes_GET_SIZE(self->bytes);
}

static PyMethodDef payload_bytes_methods[] = {
    {"take", (PyCFunction)payload_bytes_take, METH_NOARGS, payload_bytes_take_doc},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot payload_bytes_slots[] = {
    {Py_tp_dealloc, payload_bytes_dealloc},
    {Py_tp_methods, payload_bytes_methods},
    {Py_sq_length, payload_bytes_length},
    {Py_bf_getbuffer, payload_bytes_getbuffer},
    {Py_bf_releasebuffer, payload_bytes_releasebuffer},
    {Py_tp_doc, (void *)"A payload being received in place; see new_payload()."},
    {0, NULL},
};

static PyType_Spec payload_bytes_spec = {
    .name = "wscli.core._speedups.PayloadBytes",
    .basicsize = sizeof(PayloadBytes),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = payload_bytes_slots,
};

PyDoc_STRVAR(new_payload_doc,
"new_payload($module, size, /)\n"
"--\n"
"\n"
"Return a PayloadBytes of size bytes (at least 2), to fill and then take().\n"
"\n"
"It is writable through the buffer protocol (sock.recv_into, unmask_into) and its\n"
"content is undefined until filled; take() returns the bytes object once no view\n"
"of it is alive.");

static PyObject *
new_payload(PyObject *module, PyObject *arg)
{
    PyObject *type;
    PayloadBytes *self;
    Py_ssize_t size = PyLong_AsSsize_t(arg);
    if (size == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (size < 2) {
        PyErr_SetString(PyExc_ValueError, "size must be at least 2");
        return NULL;
    }
    type = PyObject_GetAttrString(module, "PayloadBytes");
    if (type == NULL) {
        return NULL;
    }
    /* The module attribute can be replaced from Python: only our own type has the
       layout written below (its dealloc is ours, which no other type's is). */
    if (!PyType_Check(type)
        || ((PyTypeObject *)type)->tp_dealloc != (destructor)payload_bytes_dealloc) {
        Py_DECREF(type);
        PyErr_SetString(PyExc_TypeError, "_speedups.PayloadBytes is not the module's own type");
        return NULL;
    }
    self = PyObject_New(PayloadBytes, (PyTypeObject *)type);
    Py_DECREF(type);
    if (self == NULL) {
        return NULL;
    }
    self->exports = 0;
    self->bytes = PyBytes_FromStringAndSize(NULL, size);
    if (self->bytes == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

PyDoc_STRVAR(unmask_into_doc,
"unmask_into($module, dst, offset, src, mask, mask_offset, /)\n"
"--\n"
"\n"
"Write src, XORed with mask from mask byte mask_offset % 4 (or copied when mask is\n"
"None), into dst[offset:offset + len(src)].\n"
"\n"
"dst is any writable buffer: a bytearray, or a PayloadBytes from new_payload().\n"
"src may be dst's own bytes at the same place (unmasking in place). Raises\n"
"ValueError when src does not fit.");

static PyObject *
unmask_into(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer dst, src, mask;
    Py_ssize_t offset, mask_offset;
    int has_mask;
    PyObject *result = NULL;

    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "unmask_into takes exactly 5 arguments");
        return NULL;
    }
    offset = PyLong_AsSsize_t(args[1]);
    if (offset == -1 && PyErr_Occurred()) {
        return NULL;
    }
    mask_offset = PyLong_AsSsize_t(args[4]);
    if (mask_offset == -1 && PyErr_Occurred()) {
        return NULL;
    }
    has_mask = args[3] != Py_None;
    if (PyObject_GetBuffer(args[0], &dst, PyBUF_WRITABLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[2], &src, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&dst);
        return NULL;
    }
    if (has_mask) {
        if (PyObject_GetBuffer(args[3], &mask, PyBUF_SIMPLE) < 0) {
            PyBuffer_Release(&src);
            PyBuffer_Release(&dst);
            return NULL;
        }
        if (mask.len != MASK_SIZE) {
            PyErr_Format(PyExc_ValueError, "mask must be 4 bytes, got %zd", mask.len);
            goto done;
        }
    }
    if (offset < 0 || offset > dst.len || src.len > dst.len - offset) {
        PyErr_SetString(PyExc_ValueError, "src does not fit in dst at offset");
        goto done;
    }
    /* src may be dst's own bytes, in place (unmasking in place) or elsewhere. */
    if (unmask_overlapping((const unsigned char *)src.buf, (unsigned char *)dst.buf + offset,
                           (size_t)src.len,
                           has_mask ? (const unsigned char *)mask.buf : NULL,
                           (size_t)mask_offset & 3) < 0) {
        goto done;
    }
    result = Py_NewRef(Py_None);

done:
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    if (has_mask) {
        PyBuffer_Release(&mask);
    }
    return result;
}

/*
 * PayloadBuffer: a large payload received piece by piece, its state and its steps in C.
 *
 * The same object as masking.PayloadBuffer (the pure-Python one, which the tests
 * compare it with): fill() copies and unmasks bytes read elsewhere, writable() +
 * received() let the I/O layer read straight into the payload, payload() hands the
 * bytes out. It runs on every wake-up of a large transfer, where the Python version's
 * bookkeeping (views made and released, offsets, masks) was a few hundred bytecodes.
 * The bytes live in a PayloadBytes (above), whose export count keeps every guarantee:
 * the window handed out is a memoryview of it, and payload() copies instead of taking
 * the bytes while any view of it is alive.
 */

typedef struct {
    PyObject_HEAD
    PayloadBytes *target;   /* NULL once handed out */
    PyObject *window;       /* the memoryview writable() handed out, or NULL */
    Py_ssize_t filled;
    Py_ssize_t remaining;
    int has_mask;
    unsigned char mask[MASK_SIZE];
} PayloadBuffer;

static void
payload_buffer_close_window(PayloadBuffer *self)
{
    PyObject *window = self->window;
    if (window != NULL) {
        PyObject *done;
        self->window = NULL;
        /* It fails only while the view is being written to (held by a call in
         * progress): then payload() hands out a copy. */
        done = PyObject_CallMethod(window, "release", NULL);
        if (done == NULL) {
            PyErr_Clear();
        }
        Py_XDECREF(done);
        Py_DECREF(window);
    }
}

static void
payload_buffer_dealloc(PayloadBuffer *self)
{
    PyTypeObject *type = Py_TYPE(self);
    Py_XDECREF(self->window);
    Py_XDECREF(self->target);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyObject *
payload_buffer_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"size", "mask", NULL};
    PyObject *size, *mask, *module, *target;
    PayloadBuffer *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO:PayloadBuffer", keywords, &size, &mask)) {
        return NULL;
    }
    module = PyType_GetModule(type);
    if (module == NULL) {
        return NULL;
    }
    target = new_payload(module, size);  /* checks size >= 2 and the type's layout */
    if (target == NULL) {
        return NULL;
    }
    self = (PayloadBuffer *)type->tp_alloc(type, 0);
    if (self == NULL) {
        Py_DECREF(target);
        return NULL;
    }
    self->target = (PayloadBytes *)target;
    self->remaining = PyBytes_GET_SIZE(self->target->bytes);
    if (mask != Py_None) {
        Py_buffer view;
        if (PyObject_GetBuffer(mask, &view, PyBUF_SIMPLE) < 0) {
            Py_DECREF(self);
            return NULL;
        }
        if (view.len != MASK_SIZE) {
            PyErr_Format(PyExc_ValueError, "mask must be 4 bytes, got %zd", view.len);
            PyBuffer_Release(&view);
            Py_DECREF(self);
            return NULL;
        }
        memcpy(self->mask, view.buf, MASK_SIZE);
        PyBuffer_Release(&view);
        self->has_mask = 1;
    }
    return (PyObject *)self;
}

/* Unmask (or copy) size bytes from src into the payload at filled, and count them
 * (src may be a view of the payload itself); -1 with an exception set on failure. */
static int
payload_buffer_put(PayloadBuffer *self, const unsigned char *src, Py_ssize_t size)
{
    unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(self->target->bytes) + self->filled;
    if (unmask_overlapping(src, dst, (size_t)size, self->has_mask ? self->mask : NULL,
                           (size_t)self->filled & 3) < 0) {
        return -1;
    }
    self->filled += size;
    self->remaining -= size;
    return 0;
}

PyDoc_STRVAR(payload_buffer_fill_doc,
"fill($self, data, pos, /)\n"
"--\n"
"\n"
"Take what belongs to the payload from data[pos:]; return the position after it.");

static PyObject *
payload_buffer_fill(PayloadBuffer *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t pos, take;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "fill takes exactly 2 arguments");
        return NULL;
    }
    pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred()) {
        return NULL;
    }
    payload_buffer_close_window(self);
    if (self->target == NULL) {
        PyErr_SetString(PyExc_ValueError, "payload already handed out");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (pos < 0 || pos > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "pos out of range");
        return NULL;
    }
    take = view.len - pos < self->remaining ? view.len - pos : self->remaining;
    if (payload_buffer_put(self, (const unsigned char *)view.buf + pos, take) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(pos + take);
}

PyDoc_STRVAR(payload_buffer_writable_doc,
"writable($self, /)\n"
"--\n"
"\n"
"Return a writable view of the bytes still expected (the same one until received(),\n"
"fill() or payload() releases it).");

static PyObject *
payload_buffer_writable(PayloadBuffer *self, PyObject *Py_UNUSED(ignored))
{
    if (self->window == NULL) {
        PyObject *whole;
        Py_ssize_t size;
        if (self->target == NULL) {
            PyErr_SetString(PyExc_ValueError, "payload already handed out");
            return NULL;
        }
        whole = PyMemoryView_FromObject((PyObject *)self->target);
        if (whole == NULL) {
            return NULL;
        }
        size = self->filled + self->remaining;
        self->window = PySequence_GetSlice(whole, self->filled, size);
        Py_DECREF(whole);
        if (self->window == NULL) {
            return NULL;
        }
    }
    return Py_NewRef(self->window);
}

PyDoc_STRVAR(payload_buffer_received_doc,
"received($self, size, /)\n"
"--\n"
"\n"
"Account for size bytes written at the start of writable()'s view (unmasked in\n"
"place); return how many bytes are still expected. Raises ValueError when no view\n"
"is out, or size is negative or more than it holds.");

static PyObject *
payload_buffer_received(PayloadBuffer *self, PyObject *arg)
{
    Py_ssize_t size = PyLong_AsSsize_t(arg);
    if (size == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (self->window == NULL || size < 0 || size > self->remaining) {
        PyErr_Format(PyExc_ValueError, "received %zd bytes into no view or past its end", size);
        return NULL;
    }
    payload_buffer_close_window(self);
    {
        const unsigned char *at =
            (const unsigned char *)PyBytes_AS_STRING(self->target->bytes) + self->filled;
        if (payload_buffer_put(self, at, size) < 0) {  /* in place: never fails */
            return NULL;
        }
    }
    return PyLong_FromSsize_t(self->remaining);
}

PyDoc_STRVAR(payload_buffer_payload_doc,
"payload($self, /)\n"
"--\n"
"\n"
"Return the whole payload, once remaining is 0; only once. Raises ValueError when\n"
"it is not complete.");

static PyObject *
payload_buffer_payload(PayloadBuffer *self, PyObject *Py_UNUSED(ignored))
{
    PayloadBytes *target = self->target;
    PyObject *result;
    if (self->remaining) {
        PyErr_Format(PyExc_ValueError, "payload incomplete: %zd bytes missing", self->remaining);
        return NULL;
    }
    if (target == NULL) {
        PyErr_SetString(PyExc_ValueError, "payload already handed out");
        return NULL;
    }
    payload_buffer_close_window(self);
    if (target->exports) {
        /* A view someone made of the buffer is still alive: hand out a copy, so
         * nothing that writes through it can change the bytes the caller gets. */
        return PyBytes_FromStringAndSize(PyBytes_AS_STRING(target->bytes),
                                         PyBytes_GET_SIZE(target->bytes));
    }
    result = target->bytes;
    target->bytes = NULL;
    self->target = NULL;
    Py_DECREF(target);
    return result;
}

static PyMemberDef payload_buffer_members[] = {
    {"filled", T_PYSSIZET, offsetof(PayloadBuffer, filled), READONLY, "Bytes written so far."},
    {"remaining", T_PYSSIZET, offsetof(PayloadBuffer, remaining), READONLY,
     "Bytes still expected."},
    {NULL, 0, 0, 0, NULL},
};

static PyMethodDef payload_buffer_methods[] = {
    {"fill", (PyCFunction)(void (*)(void))payload_buffer_fill, METH_FASTCALL,
     payload_buffer_fill_doc},
    {"writable", (PyCFunction)payload_buffer_writable, METH_NOARGS, payload_buffer_writable_doc},
    {"received", (PyCFunction)payload_buffer_received, METH_O, payload_buffer_received_doc},
    {"payload", (PyCFunction)payload_buffer_payload, METH_NOARGS, payload_buffer_payload_doc},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot payload_buffer_slots[] = {
    {Py_tp_new, payload_buffer_new},
    {Py_tp_dealloc, payload_buffer_dealloc},
    {Py_tp_methods, payload_buffer_methods},
    {Py_tp_members, payload_buffer_members},
    {Py_tp_doc, (void *)"PayloadBuffer(size, mask): a large payload received in place; "
                        "see wscli.core.masking.PayloadBuffer."},
    {0, NULL},
};

static PyType_Spec payload_buffer_spec = {
    .name = "wscli.core._speedups.PayloadBuffer",
    .basicsize = sizeof(PayloadBuffer),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = payload_buffer_slots,
};

PyDoc_STRVAR(start_payload_doc,
"start_payload($module, buf, pos, expect_mask, max_size, min_size, ratio, factory, /)\n"
"--\n"
"\n"
"Start receiving the large payload of the frame at buf[pos:] in place, or return None.\n"
"\n"
"Only for a simple frame still arriving: FIN set, no RSV bit, binary, the mask bit\n"
"equal to expect_mask, a payload of min_size bytes or more, at most max_size\n"
"(max_size < 0: no limit), of which at least 1/ratio is in buf. Then returns\n"
"factory(length, mask) (a PayloadBuffer) filled with the rest of buf. Anything else\n"
"returns None, deciding nothing: the caller's general parser handles it, and would\n"
"have made the same buffer.");

static PyObject *
start_payload(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t pos, max_size, min_size, ratio, n, hlen = 2, length, start;
    long expect_mask;
    const unsigned char *buf, *mask = NULL;
    PyObject *result = NULL;

    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "start_payload takes exactly 7 arguments");
        return NULL;
    }
    pos = PyLong_AsSsize_t(args[1]);
    expect_mask = PyLong_AsLong(args[2]);
    max_size = PyLong_AsSsize_t(args[3]);
    min_size = PyLong_AsSsize_t(args[4]);
    ratio = PyLong_AsSsize_t(args[5]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (ratio < 1) {
        PyErr_SetString(PyExc_ValueError, "ratio must be at least 1");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    buf = (const unsigned char *)view.buf;
    n = view.len;
    if (pos < 0 || pos > n) {
        PyErr_SetString(PyExc_ValueError, "pos out of range");
        goto done;
    }
    if (n - pos < 2 || buf[pos] != 0x82 || (long)(buf[pos + 1] & 0x80) != expect_mask) {
        goto none;
    }
    length = buf[pos + 1] & 0x7F;
    if (length == 126) {
        if (n - pos < 4) {
            goto none;
        }
        length = ((Py_ssize_t)buf[pos + 2] << 8) | buf[pos + 3];
        hlen = 4;
    }
    else if (length == 127) {
        uint64_t wide = 0;
        int i;
        if (n - pos < 10) {
            goto none;
        }
        for (i = 2; i < 10; i++) {
            wide = (wide << 8) | buf[pos + i];
        }
        if (wide > (uint64_t)PY_SSIZE_T_MAX) {
            goto none;  /* the 64th bit: the general parser fails it */
        }
        length = (Py_ssize_t)wide;
        hlen = 10;
    }
    if (length < min_size || length < 2 || (max_size >= 0 && length > max_size)) {
        goto none;
    }
    if (expect_mask) {
        if (n - pos < hlen + 4) {
            goto none;
        }
        mask = buf + pos + hlen;
        hlen += 4;
    }
    start = pos + hlen;
    /* Still arriving, and (n - start) * ratio >= length, without overflow. */
    if (n - start >= length || n - start < length / ratio + (length % ratio != 0)) {
        goto none;
    }
    {
        PyObject *call[3] = {NULL, NULL, NULL};
        PyObject *large, *filled;
        call[1] = PyLong_FromSsize_t(length);
        if (call[1] == NULL) {
            goto done;
        }
        call[2] = mask != NULL ? PyBytes_FromStringAndSize((const char *)mask, MASK_SIZE)
                               : Py_NewRef(Py_None);
        if (call[2] == NULL) {
            Py_DECREF(call[1]);
            goto done;
        }
        large = PyObject_Vectorcall(args[6], call + 1,
                                    2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        Py_DECREF(call[1]);
        Py_DECREF(call[2]);
        if (large == NULL) {
            goto done;
        }
        call[1] = large;
        call[2] = PyLong_FromSsize_t(start);
        if (call[2] == NULL) {
            Py_DECREF(large);
            goto done;
        }
        {
            PyObject *name = PyUnicode_InternFromString("fill");
            PyObject *fill_args[3] = {large, args[0], call[2]};
            filled = name == NULL ? NULL
                : PyObject_VectorcallMethod(name, fill_args, 3, NULL);
            Py_XDECREF(name);
        }
        Py_DECREF(call[2]);
        if (filled == NULL) {
            Py_DECREF(large);
            goto done;
        }
        Py_DECREF(filled);
        result = large;
        goto done;
    }

none:
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&view);
    return result;
}

PyMethodDef wscli_payload_methods[] = {
    {"start_payload", (PyCFunction)(void (*)(void))start_payload, METH_FASTCALL,
     start_payload_doc},
    {"new_payload", new_payload, METH_O, new_payload_doc},
    {"unmask_into", (PyCFunction)(void (*)(void))unmask_into, METH_FASTCALL,
     unmask_into_doc},
    {NULL, NULL, 0, NULL},
};

static int
add_type(PyObject *module, PyType_Spec *spec, const char *name)
{
    PyObject *type = PyType_FromModuleAndSpec(module, spec, NULL);
    if (type == NULL) {
        return -1;
    }
    if (PyModule_AddObject(module, name, type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return 0;
}

int
wscli_payload_add_types(PyObject *module)
{
    if (add_type(module, &payload_bytes_spec, "PayloadBytes") < 0) {
        return -1;
    }
    return add_type(module, &payload_buffer_spec, "PayloadBuffer");
}
