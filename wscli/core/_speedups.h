/*
 * What the two C files of wscli.core._speedups share: _speedups.c (masking, the
 * frame fast path, the module) and _payload.c (large payloads received in place).
 */

#ifndef WSCLI_SPEEDUPS_H
#define WSCLI_SPEEDUPS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>  /* T_OBJECT_EX, T_PYSSIZET, READONLY (Python 3.11) */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MASK_SIZE 4

/* XOR size bytes of src with mask repeated from mask byte start % 4 into dst (which
 * may be src itself). */
void wscli_xor_mask(const unsigned char *src, unsigned char *dst, size_t size,
                    const unsigned char *mask, size_t start);

/* _payload.c: new_payload() and unmask_into(), for the module's function table. */
extern PyMethodDef wscli_payload_methods[];

/* _payload.c: add the PayloadBytes and PayloadBuffer types to the module. */
int wscli_payload_add_types(PyObject *module);

#endif
