/* Definitions shared by the library's source files; not part of the public API. */
#ifndef NETCL_INTERNAL_H
#define NETCL_INTERNAL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "netcl.h"

struct netcl_context {
    cl_context context;
    cl_device_id device;
    cl_command_queue queue;
    cl_program program;
    netcl_device_info info;
    size_t base_align_bytes;  /* CL_DEVICE_MEM_BASE_ADDR_ALIGN: zero-copy needs this alignment */
    uint32_t chunk;           /* elements per work-group = work-group size the kernels are built for */
    int32_t memory_mode;
    uint64_t staged_bytes;
};

/* status.c: records the calling thread's message and returns `status` for tail calls. */
netcl_status netcl_fail(netcl_status status, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void netcl_clear_error(void);

/* program.c */
netcl_status netcl_program_build(netcl_context *ctx);
/* The kernel for a variant (bits: weight decay, maximize, momentum, centered); a new cl_kernel
 * each call, since each launch plan span sets its own arguments. */
netcl_status netcl_program_create_kernel(const netcl_context *ctx, unsigned variant,
                                         cl_kernel *kernel);

#endif
