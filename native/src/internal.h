/* Definitions shared by the library's source files; not part of the public API. */
#ifndef NETCL_INTERNAL_H
#define NETCL_INTERNAL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdatomic.h>

#include "netcl.h"
#include "signal_guard.h"

struct netcl_device_share;

struct netcl_context {
    cl_context context;
    cl_device_id device;
    cl_command_queue queue;   /* the context's own: optimizers on other contexts never wait on it */
    cl_program program;
    netcl_device_info info;
    size_t base_align_bytes;  /* CL_DEVICE_MEM_BASE_ADDR_ALIGN: zero-copy needs this alignment */
    uint32_t chunk;           /* elements per work-group = work-group size the kernels are built for */
    uint32_t grad_chunk;      /* elements per work-group of the gradient statistics kernels */
    int grad_stats_fp64;      /* the gradient statistics kernels sum in double (grad_stats.cl) */
    int32_t memory_mode;
    uint64_t staged_bytes;
    atomic_uint references;   /* the caller's handle until netcl_context_destroy, and each optimizer */
    struct netcl_device_share *share;  /* whence context and program came; NULL from create_from_cl */
};

/* status.c: records the calling thread's message and returns `status` for tail calls. */
netcl_status netcl_fail(netcl_status status, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void netcl_clear_error(void);

/* validate.c: a caller's cl_mem must be a buffer of the context's cl_context; `what` names it in
 * the message. The first gives its size in floats, the second checks [offset, offset + numel). */
netcl_status netcl_check_buffer(const netcl_context *ctx, cl_mem mem, const char *what,
                                uint64_t *floats);
netcl_status netcl_check_buffer_range(const netcl_context *ctx, cl_mem mem, uint64_t offset,
                                      uint64_t numel, const char *what);

/* events.c: waits for an event; a failure of its command becomes the status, `what` failed the
 * message. */
netcl_status netcl_wait_event(cl_event event, const char *what);

/* context.c */
/* Sets info, base_align_bytes, chunk, grad_chunk, grad_stats_fp64 and program of a context
 * whose device and cl_context are set. */
netcl_status netcl_context_build(netcl_context *ctx);
/* An optimizer holds a reference on its context, so the caller may destroy the context first. */
void netcl_context_retain(netcl_context *ctx);
void netcl_context_release(netcl_context *ctx);

/* device_share.c: the cl_context and built program that netcl_context_create's contexts on one
 * device share within the process, created with the first such context, freed with the last. */
/* Sets ctx->share and gives ctx its own references on the shared context and program, plus the
 * device facts: device, context, program, info, base_align_bytes, chunk, grad_chunk,
 * grad_stats_fp64. */
netcl_status netcl_device_share_acquire(cl_platform_id platform, cl_device_id device,
                                        netcl_context *ctx);
void netcl_device_share_release(struct netcl_device_share *share);

/* program.c */
netcl_status netcl_program_build(netcl_context *ctx);
/* The kernel for a variant (bits: weight decay, maximize, momentum, centered; the element type
 * (enum netcl_dtype) from bit 4); a new cl_kernel
 * each call, since each launch plan span sets its own arguments. */
netcl_status netcl_program_create_kernel(const netcl_context *ctx, unsigned variant,
                                         cl_kernel *kernel);
/* The gradient statistics kernel (grad_stats.cl), with `write` the one that also scales in place. */
netcl_status netcl_program_create_grad_kernel(const netcl_context *ctx, int write,
                                              cl_kernel *kernel);

#endif
