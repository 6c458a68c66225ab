/*
 * Device buffers for device-resident tensors (see netcl.h): allocation, copies and fills on a
 * netcl context's queue, for callers that have no OpenCL bindings of their own. Every call checks
 * the buffer and range first, so a bad one fails before anything is enqueued.
 */
#include <stdio.h>

#include "internal.h"

/* A buffer and range the context may copy to or fill, and the byte span they cover. */
static netcl_status check_access(const netcl_context *ctx, cl_mem buffer, uint64_t offset,
                                 uint64_t numel, const void *values, int needs_values)
{
    if (ctx == NULL || buffer == NULL || (needs_values && values == NULL)) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL",
                          ctx == NULL ? "context" : buffer == NULL ? "buffer" : "values");
    }
    if (numel == 0) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "numel is 0");
    }
    return netcl_check_buffer_range(ctx, buffer, offset, numel, "buffer");
}

/* Waits for one command of the context's queue (not for the rest of a queue the caller shares). */
static netcl_status wait_for(cl_event event, const char *what)
{
    const netcl_status status = netcl_wait_event(event, what);
    clReleaseEvent(event);
    return status;
}

netcl_status netcl_buffer_create(netcl_context *context, uint64_t numel, struct _cl_mem **buffer)
{
    netcl_clear_error();
    if (context == NULL || buffer == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL", context == NULL ? "context" : "buffer");
    }
    *buffer = NULL;
    if (numel == 0 || numel > context->info.max_alloc_bytes / sizeof(float)) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "numel %llu: a buffer holds 1 to %llu floats on "
                          "'%s' (its largest allocation)", (unsigned long long)numel,
                          (unsigned long long)(context->info.max_alloc_bytes / sizeof(float)),
                          context->info.name);
    }
    const size_t bytes = (size_t)numel * sizeof(float);
    cl_int err;
    cl_mem mem = clCreateBuffer(context->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "allocating a buffer of %zu bytes failed", bytes);
    }
    const cl_float zero = 0.0f;
    cl_event filled = NULL;
    err = clEnqueueFillBuffer(context->queue, mem, &zero, sizeof zero, 0, bytes, 0, NULL, &filled);
    netcl_status status = err == CL_SUCCESS ? wait_for(filled, "zeroing a new buffer")
                                            : netcl_fail(err, "zeroing a new buffer failed");
    if (status != NETCL_SUCCESS) {
        clReleaseMemObject(mem);
        return status;
    }
    *buffer = mem;
    return NETCL_SUCCESS;
}

netcl_status netcl_buffer_write(netcl_context *context, struct _cl_mem *buffer, uint64_t offset,
                                uint64_t numel, const float *values)
{
    netcl_clear_error();
    netcl_status status = check_access(context, buffer, offset, numel, values, 1);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    cl_event done = NULL;
    cl_int err = clEnqueueWriteBuffer(context->queue, buffer, CL_FALSE, offset * sizeof(float),
                                      numel * sizeof(float), values, 0, NULL, &done);
    return err == CL_SUCCESS ? wait_for(done, "writing a buffer")
                             : netcl_fail(err, "writing a buffer failed");
}

netcl_status netcl_buffer_read(netcl_context *context, struct _cl_mem *buffer, uint64_t offset,
                               uint64_t numel, float *values)
{
    netcl_clear_error();
    netcl_status status = check_access(context, buffer, offset, numel, values, 1);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    cl_event done = NULL;
    cl_int err = clEnqueueReadBuffer(context->queue, buffer, CL_FALSE, offset * sizeof(float),
                                     numel * sizeof(float), values, 0, NULL, &done);
    return err == CL_SUCCESS ? wait_for(done, "reading a buffer")
                             : netcl_fail(err, "reading a buffer failed");
}

netcl_status netcl_buffer_fill(netcl_context *context, struct _cl_mem *buffer, uint64_t offset,
                               uint64_t numel, float value)
{
    netcl_clear_error();
    netcl_status status = check_access(context, buffer, offset, numel, NULL, 0);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    const cl_float pattern = value;
    cl_event done = NULL;
    cl_int err = clEnqueueFillBuffer(context->queue, buffer, &pattern, sizeof pattern,
                                     offset * sizeof(float), numel * sizeof(float), 0, NULL, &done);
    return err == CL_SUCCESS ? wait_for(done, "filling a buffer")
                             : netcl_fail(err, "filling a buffer failed");
}

netcl_status netcl_buffer_get_numel(const netcl_context *context, struct _cl_mem *buffer,
                                    uint64_t *numel)
{
    netcl_clear_error();
    if (context == NULL || buffer == NULL || numel == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL",
                          context == NULL ? "context" : buffer == NULL ? "buffer" : "numel");
    }
    return netcl_check_buffer(context, buffer, "buffer", numel);
}

netcl_status netcl_buffer_retain(struct _cl_mem *buffer)
{
    netcl_clear_error();
    if (buffer == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "buffer is NULL");
    }
    cl_int err = clRetainMemObject(buffer);
    return err == CL_SUCCESS ? NETCL_SUCCESS : netcl_fail(err, "clRetainMemObject failed");
}

void netcl_buffer_release(struct _cl_mem *buffer)
{
    if (buffer != NULL) {
        clReleaseMemObject(buffer);
    }
}
