/* Keeps the host program's signal handlers across OpenCL calls that may compile: see
 * signal_guard.c. */
#ifndef NETCL_SIGNAL_GUARD_H
#define NETCL_SIGNAL_GUARD_H

#include <stddef.h>

/* The signals LLVM (through PoCL's kernel compiler) and PoCL install handlers for. */
#define NETCL_GUARDED_SIGNALS 16
/* Room for one struct sigaction (152 bytes on Linux x86-64 and aarch64; checked in the .c file,
 * which alone sees the POSIX declarations: the library is built as strict C11). */
#define NETCL_SIGACTION_BYTES 192

typedef struct {
    _Alignas(max_align_t) unsigned char before[NETCL_GUARDED_SIGNALS][NETCL_SIGACTION_BYTES];
    int outermost;  /* a guard inside another on the same thread records and restores nothing */
} netcl_signal_guard;

/* Records the current handlers; call before the OpenCL call. */
void netcl_signal_guard_begin(netcl_signal_guard *guard);
/* Puts back every handler that changed since netcl_signal_guard_begin. */
void netcl_signal_guard_end(const netcl_signal_guard *guard);

#endif
