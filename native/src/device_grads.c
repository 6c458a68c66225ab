/*
 * Gradient statistics and in-place scaling of device-resident gradients (the grad_mem tensors
 * of netcl_rmsprop_grad_stats and netcl_rmsprop_scale_grads), with the kernels of grad_stats.cl.
 *
 * Like a step's launch plan (plan.c), the tensors are cut into chunks, one per work-group,
 * described by one table, and the consecutive tensors whose gradients share a buffer are covered
 * by one launch. Each chunk leaves one partial result; one blocking read brings them all back,
 * and the host adds each tensor's partials in chunk order, so the result does not depend on how
 * the device scheduled the work-groups. Not the step's plan itself: that one exists only once a
 * step gave the tensors their state (GradScaler checks the gradients before the first step),
 * and it holds what the update needs. Nothing is kept between calls: the table and the
 * partials are 16 bytes each per chunk of at least 4,096 floats (program.c).
 */
#include <stdlib.h>
#include <string.h>

#include "optimizer.h"

/* One launch: the chunks [first_chunk, first_chunk + chunk_count) of gradients in `grad`. */
typedef struct grad_launch {
    cl_mem grad;
    uint32_t first_chunk;
    uint32_t chunk_count;
} grad_launch;

/* The chunk table of the device gradients in `tensors` and its launches (malloc'ed). */
typedef struct grad_chunks {
    cl_ulong2 *table;              /* offset in floats within the buffer, length */
    uint32_t count;
    grad_launch *launches;
    uint32_t launch_count;
} grad_chunks;

static void grad_chunks_free(grad_chunks *c)
{
    free(c->table);
    free(c->launches);
    memset(c, 0, sizeof *c);
}

static netcl_status cut_into_chunks(uint32_t chunk, const netcl_tensor *tensors, uint32_t count,
                                    grad_chunks *c)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; ++i) {
        total += tensors[i].grad_mem != NULL ? (tensors[i].numel + chunk - 1) / chunk : 0;
    }
    if (total > UINT32_MAX) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "too many gradient elements in one pass");
    }
    c->table = malloc((total + 1) * sizeof *c->table);
    c->launches = malloc((count + 1) * sizeof *c->launches);
    if (c->table == NULL || c->launches == NULL) {
        grad_chunks_free(c);
        return netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating the gradient chunk table failed");
    }
    grad_launch *launch = NULL;
    for (uint32_t i = 0; i < count; ++i) {
        const netcl_tensor *t = &tensors[i];
        if (t->grad_mem == NULL) {
            continue;
        }
        if (launch == NULL || launch->grad != t->grad_mem) {
            launch = &c->launches[c->launch_count++];
            *launch = (grad_launch){t->grad_mem, c->count, 0};
        }
        for (uint64_t done = 0; done < t->numel; done += chunk) {
            const uint64_t length = t->numel - done < chunk ? t->numel - done : chunk;
            c->table[c->count++] = (cl_ulong2){{t->grad_offset + done, length}};
        }
        launch->chunk_count = c->count - launch->first_chunk;
    }
    return NETCL_SUCCESS;
}

/* Adds each device tensor's partials (two cl_ulongs per chunk: the sum, a double or two floats
 * as grad_stats.cl wrote it, and the largest magnitude's bits) in chunk order. */
static void reduce_partials(const netcl_context *ctx, const netcl_tensor *tensors,
                            uint32_t count, uint32_t chunk, const cl_ulong *partials,
                            float factor, netcl_grad_stats *stats)
{
    uint32_t at = 0;
    for (uint32_t i = 0; i < count; ++i) {
        if (tensors[i].grad_mem == NULL) {
            continue;
        }
        double sum = 0.0;
        uint32_t largest_bits = 0;
        for (uint64_t done = 0; done < tensors[i].numel; done += chunk, ++at) {
            if (ctx->grad_stats_fp64) {
                double part;
                memcpy(&part, &partials[2 * at], sizeof part);
                sum += part;
            } else {
                float part[2];  /* high, low */
                memcpy(part, &partials[2 * at], sizeof part);
                sum += (double)part[0] + (double)part[1];
            }
            const uint32_t bits = (uint32_t)partials[2 * at + 1];
            largest_bits = bits > largest_bits ? bits : largest_bits;
        }
        if (stats != NULL) {
            netcl_grad_stats_result(sum, largest_bits, factor, &stats[i]);
        }
    }
}

/* Enqueues the launches and reads their partials back (blocking). `*launched` counts the
 * launches enqueued, whatever failed after them. */
static netcl_status run_launches(netcl_context *ctx, cl_kernel kernel, const grad_chunks *c,
                                 cl_mem table, cl_mem partials, float factor, cl_ulong *out,
                                 uint32_t *launched)
{
    cl_int err = clSetKernelArg(kernel, 1, sizeof table, &table);
    if (err == CL_SUCCESS) err = clSetKernelArg(kernel, 3, sizeof factor, &factor);
    if (err == CL_SUCCESS) err = clSetKernelArg(kernel, 4, sizeof partials, &partials);
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "setting the gradient kernel's arguments failed");
    }
    for (uint32_t l = 0; l < c->launch_count; ++l) {
        const grad_launch *launch = &c->launches[l];
        const cl_uint first = launch->first_chunk;
        err = clSetKernelArg(kernel, 0, sizeof launch->grad, &launch->grad);
        if (err == CL_SUCCESS) err = clSetKernelArg(kernel, 2, sizeof first, &first);
        if (err != CL_SUCCESS) {
            return netcl_fail(err, "setting the gradient kernel's arguments failed");
        }
        const size_t global = (size_t)launch->chunk_count * ctx->chunk, local = ctx->chunk;
        err = clEnqueueNDRangeKernel(ctx->queue, kernel, 1, NULL, &global, &local, 0, NULL, NULL);
        if (err != CL_SUCCESS) {
            return netcl_fail(err, "launching the gradient kernel over %u chunks failed",
                              launch->chunk_count);
        }
        ++*launched;
    }
    err = clEnqueueReadBuffer(ctx->queue, partials, CL_TRUE, 0, 2 * sizeof *out * c->count, out,
                              0, NULL, NULL);
    return err == CL_SUCCESS ? NETCL_SUCCESS
                             : netcl_fail(err, "reading the gradient statistics failed");
}

/* A kernel writing a CL_MEM_READ_ONLY buffer is undefined behaviour: the scaling refuses one. */
static netcl_status check_writable(const netcl_tensor *tensors, uint32_t count)
{
    for (uint32_t i = 0; i < count; ++i) {
        cl_mem_flags flags = 0;
        if (tensors[i].grad_mem == NULL) {
            continue;
        }
        const cl_int err = clGetMemObjectInfo(tensors[i].grad_mem, CL_MEM_FLAGS, sizeof flags,
                                              &flags, NULL);
        if (err != CL_SUCCESS) {
            return netcl_fail(err, "tensor %u: querying grad_mem's flags failed", i);
        }
        if (flags & CL_MEM_READ_ONLY) {
            return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: grad_mem is CL_MEM_READ_ONLY, "
                              "so its gradient cannot be scaled in place", i);
        }
    }
    return NETCL_SUCCESS;
}

netcl_status netcl_device_grad_pass(netcl_rmsprop *opt, const netcl_tensor *tensors,
                                    uint32_t count, float factor, int write,
                                    netcl_grad_stats *stats)
{
    netcl_context *ctx = opt->ctx;
    netcl_status status = write ? check_writable(tensors, count) : NETCL_SUCCESS;
    if (status != NETCL_SUCCESS) {
        return status;
    }
    grad_chunks c = {0};
    status = cut_into_chunks(ctx->grad_chunk, tensors, count, &c);
    if (status != NETCL_SUCCESS || c.count == 0) {
        grad_chunks_free(&c);
        return status;
    }
    /* An enqueued step reads these gradients first (the queue is in order); its failure must
     * not be taken for this pass's. */
    status = netcl_settle(opt);
    cl_ulong *partials = malloc(2 * sizeof *partials * c.count);
    if (status == NETCL_SUCCESS && partials == NULL) {
        status = netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating gradient statistics failed");
    }
    cl_mem table = NULL, partial_mem = NULL;
    cl_kernel kernel = NULL;
    cl_int err = CL_SUCCESS;
    if (status == NETCL_SUCCESS) {
        table = clCreateBuffer(ctx->context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                               c.count * sizeof *c.table, c.table, &err);
        if (err == CL_SUCCESS) {
            partial_mem = clCreateBuffer(ctx->context, CL_MEM_WRITE_ONLY,
                                         2 * sizeof *partials * c.count, NULL, &err);
        }
        if (err != CL_SUCCESS) {
            status = netcl_fail(err, "allocating the gradient pass's device buffers failed");
        }
    }
    if (status == NETCL_SUCCESS) {
        status = netcl_program_create_grad_kernel(ctx, write, &kernel);
    }
    uint32_t launched = 0;
    if (status == NETCL_SUCCESS) {
        netcl_signal_guard guard;
        netcl_signal_guard_begin(&guard);  /* the launch may compile */
        status = run_launches(ctx, kernel, &c, table, partial_mem, factor, partials, &launched);
        netcl_signal_guard_end(&guard);
    }
    if (status == NETCL_SUCCESS) {
        reduce_partials(ctx, tensors, count, ctx->grad_chunk, partials, factor, stats);
    } else if (launched > 0) {
        clFinish(ctx->queue);  /* nothing enqueued may still run once the failure is reported */
        if (write) {
            netcl_mark_broken(opt, status);  /* some gradients may be scaled, others not */
        }
    }
    if (kernel != NULL) clReleaseKernel(kernel);
    if (partial_mem != NULL) clReleaseMemObject(partial_mem);
    if (table != NULL) clReleaseMemObject(table);
    free(partials);
    grad_chunks_free(&c);
    return status;
}
