/*
 * The kernel path: a step's launch plan and its launches.
 *
 * The tensors of a parameter group are cut into spans, runs of consecutive tensors that lie in
 * one region of memory (slices of one host allocation, or one caller cl_mem) and keep their
 * state in one state block. Each span gets one data and one grad buffer and is updated by one
 * kernel launch. The plan, its buffers, kernels and chunk table are reused while the step's
 * tensors (addresses, lengths, gradient presence) and the groups' kernel variants stay the same,
 * so a steady-state step only compares the tensor list, enqueues and waits.
 *
 * Host memory that a buffer wraps in place (zero-copy spans, host-visible state) stays mapped
 * for the host between steps and is unmapped only while kernels use it, as OpenCL requires of
 * CL_MEM_USE_HOST_PTR memory; on a device where mapping returns the same memory that is free.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer.h"

static netcl_status set_span_mapped(netcl_context *ctx, span *sp, int mapped);
static void release_spare_grad(netcl_context *ctx, span *sp);

void netcl_plan_release(netcl_context *ctx, plan *pl)
{
    int unmapped = 0;
    for (uint32_t s = 0; s < pl->span_count; ++s) {
        span *sp = &pl->spans[s];
        unmapped |= sp->spare_grad != NULL || sp->mapped[0] || sp->mapped[1];
        release_spare_grad(ctx, sp);
        set_span_mapped(ctx, sp, 0);
        if (sp->kernel != NULL) clReleaseKernel(sp->kernel);
        if (sp->data != NULL) clReleaseMemObject(sp->data);
        if (sp->grad != NULL) clReleaseMemObject(sp->grad);
    }
    if (unmapped) {
        clFinish(ctx->queue);  /* the caller may free the host memory once this returns */
    }
    if (pl->chunks != NULL) clReleaseMemObject(pl->chunks);
    free(pl->spans);
    netcl_step_key_release(&pl->key);
    free(pl->hyper);
    free(pl->hyper_set);
    memset(pl, 0, sizeof *pl);
}

static int plan_matches(const plan *pl, const netcl_context *ctx, const netcl_param_group *groups,
                        uint32_t group_count, const netcl_tensor *tensors, uint32_t tensor_count)
{
    return pl->valid && pl->memory_mode == ctx->memory_mode &&
           netcl_step_key_matches(&pl->key, groups, group_count, tensors, tensor_count);
}

/* Whether tensor `next` may join the host span from `first` to `last`: close behind it, and the
 * span still within one device allocation (else it would fail to wrap or to stage). */
static int joins_host_span(const netcl_tensor *first, const netcl_tensor *last,
                           const netcl_tensor *next, uint64_t max_alloc_bytes)
{
    if (next->data == NULL || last->data == NULL) {
        return 0;
    }
    if (next->dtype != first->dtype) {
        return 0;  /* a span's kernel reads one element type */
    }
    const size_t size = tensor_element_size(next);
    const uintptr_t data_bytes = (uintptr_t)next->data + next->numel * size - (uintptr_t)first->data;
    const uintptr_t grad_bytes = (uintptr_t)next->grad + next->numel * size - (uintptr_t)first->grad;
    if (data_bytes > max_alloc_bytes || grad_bytes > max_alloc_bytes) {
        return 0;
    }
    const uintptr_t data_end = (uintptr_t)last->data + last->numel * size;
    const uintptr_t grad_end = (uintptr_t)last->grad + last->numel * size;
    const uintptr_t data = (uintptr_t)next->data;
    const uintptr_t grad = (uintptr_t)next->grad;
    return data >= data_end && data - data_end <= SPAN_MAX_GAP_BYTES && grad >= grad_end &&
           grad - grad_end <= SPAN_MAX_GAP_BYTES;
}

static int joins_device_span(const netcl_tensor *last, const netcl_tensor *next)
{
    return next->data_mem != NULL && next->data_mem == last->data_mem &&
           next->grad_mem == last->grad_mem;
}

/*
 * Wraps the span's host memory in place; returns 0 (and no buffers) where that would copy.
 * Only CPU devices qualify: integrated GPUs also report host-unified memory, but their drivers
 * may keep a private copy of a CL_MEM_USE_HOST_PTR buffer (Intel's does below 4 KiB alignment),
 * so they are staged. The buffers stay mapped for the host until a launch needs them.
 */
/* Whether host memory at `host` may be wrapped in place (see wrap_zero_copy). */
static int zero_copy_possible(const netcl_context *ctx, const void *host)
{
    return ctx->memory_mode != NETCL_MEMORY_STAGED && ctx->info.is_cpu &&
           ctx->info.host_unified_memory && (uintptr_t)host % ctx->base_align_bytes == 0;
}

/*
 * A buffer over `bytes` of host memory at `host`, used in place and left mapped for the host;
 * NULL where that fails or the device would work on a copy: mapping must return the very same
 * memory. The map does not wait: its pointer is known when it is enqueued, and the host touches
 * the memory only after the step's end, which follows everything enqueued on the in-order queue
 * (a blocking map, a round trip through the queue, made a step with its gradients at a brand-new
 * address cost 1.5 times one at a fixed address at 2^12 floats: netcl-bench --moving-grads).
 */
static cl_mem wrap_in_place(netcl_context *ctx, void *host, size_t bytes, cl_mem_flags flags)
{
    cl_int err;
    cl_mem mem = clCreateBuffer(ctx->context, flags | CL_MEM_USE_HOST_PTR, bytes, host, &err);
    if (err != CL_SUCCESS) {
        return NULL;
    }
    void *mapped = clEnqueueMapBuffer(ctx->queue, mem, CL_FALSE, CL_MAP_READ | CL_MAP_WRITE, 0,
                                      bytes, 0, NULL, NULL, &err);
    if (err == CL_SUCCESS && mapped == host) {
        return mem;
    }
    if (err == CL_SUCCESS) {
        clEnqueueUnmapMemObject(ctx->queue, mem, mapped, 0, NULL, NULL);
    }
    clFinish(ctx->queue);
    clReleaseMemObject(mem);
    return NULL;
}

static int wrap_zero_copy(netcl_context *ctx, span *sp)
{
    if (!zero_copy_possible(ctx, sp->host_data) || !zero_copy_possible(ctx, sp->host_grad)) {
        return 0;
    }
    sp->data = wrap_in_place(ctx, sp->host_data, sp->data_bytes, CL_MEM_READ_WRITE);
    sp->grad = sp->data != NULL ? wrap_in_place(ctx, (void *)sp->host_grad, sp->grad_bytes,
                                                CL_MEM_READ_ONLY)
                                : NULL;
    if (sp->data != NULL && sp->grad == NULL) {
        clEnqueueUnmapMemObject(ctx->queue, sp->data, sp->host_data, 0, NULL, NULL);
        clFinish(ctx->queue);
        clReleaseMemObject(sp->data);
        sp->data = NULL;
    }
    const int same = sp->grad != NULL;
    sp->mapped[0] = sp->mapped[1] = same;
    return same;
}

/* Unmaps a zero-copy span's buffer b (0: data, 1: grad) before a launch, or maps it back after
 * it. */
static netcl_status set_buffer_mapped(netcl_context *ctx, span *sp, int b, int mapped)
{
    if (sp->mapped[b] == mapped) {
        return NETCL_SUCCESS;
    }
    cl_mem buffer = b == 0 ? sp->data : sp->grad;
    void *host = b == 0 ? sp->host_data : (void *)sp->host_grad;
    cl_int err;
    if (mapped) {
        /* The same memory comes back: wrap_in_place checked it. */
        clEnqueueMapBuffer(ctx->queue, buffer, CL_FALSE, CL_MAP_READ | CL_MAP_WRITE, 0,
                           b == 0 ? sp->data_bytes : sp->grad_bytes, 0, NULL, NULL, &err);
    } else {
        err = clEnqueueUnmapMemObject(ctx->queue, buffer, host, 0, NULL, NULL);
    }
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "%s a tensor's memory for the device failed",
                          mapped ? "mapping back" : "unmapping");
    }
    sp->mapped[b] = mapped;
    return NETCL_SUCCESS;
}

/* Both buffers of a zero-copy span. Each keeps its own flag, so that a failure between the two
 * leaves an exact record to undo. */
static netcl_status set_span_mapped(netcl_context *ctx, span *sp, int mapped)
{
    netcl_status status = set_buffer_mapped(ctx, sp, 0, mapped);
    return status == NETCL_SUCCESS ? set_buffer_mapped(ctx, sp, 1, mapped) : status;
}

static netcl_status create_span_buffers(netcl_context *ctx, span *sp, const netcl_tensor *tensors)
{
    const netcl_tensor *first = &tensors[sp->first_tensor];
    const netcl_tensor *last = &tensors[sp->end_tensor - 1];
    if (first->data_mem != NULL) {
        sp->kind = SPAN_DEVICE;
        sp->data = first->data_mem;
        sp->grad = first->grad_mem;
        clRetainMemObject(sp->data);
        clRetainMemObject(sp->grad);
        return NETCL_SUCCESS;
    }
    sp->host_data = first->data;
    sp->host_grad = first->grad;
    const size_t size = tensor_element_size(first);
    const size_t data_bytes = (size_t)((const char *)last->data + last->numel * size -
                                       (const char *)first->data);
    const size_t grad_bytes = (size_t)((const char *)last->grad + last->numel * size -
                                       (const char *)first->grad);
    sp->data_bytes = data_bytes;
    sp->grad_bytes = grad_bytes;
    if (wrap_zero_copy(ctx, sp)) {
        sp->kind = SPAN_ZERO_COPY;
        return NETCL_SUCCESS;
    }
    sp->kind = SPAN_STAGED;
    cl_int err;
    sp->data = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, data_bytes, NULL, &err);
    if (err == CL_SUCCESS) {
        sp->grad = clCreateBuffer(ctx->context, CL_MEM_READ_ONLY, grad_bytes, NULL, &err);
    }
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "allocating device buffers of %zu and %zu bytes failed", data_bytes,
                          grad_bytes);
    }
    return NETCL_SUCCESS;
}

/*
 * Elements that continue one another in the span's data, grad and state: a tensor, or tensors
 * laid out back to back (slices of one buffer, whose state lies back to back too), which then
 * share full chunks instead of a work-group each for their tails (1,000 tensors of 100 floats
 * took 1,000 work-groups of 4,096 items on a CPU).
 */
typedef struct element_run {
    uint64_t data_off, grad_off, state_off, n;   /* offsets in elements of the span's type */
} element_run;

static element_run tensor_run(const span *sp, const netcl_tensor *t, const param_slot *slot)
{
    const size_t size = tensor_element_size(t);
    const uint64_t data_off = sp->kind == SPAN_DEVICE
                                  ? t->data_offset
                                  : (uint64_t)((const char *)t->data - (const char *)sp->host_data) / size;
    const uint64_t grad_off = sp->kind == SPAN_DEVICE
                                  ? t->grad_offset
                                  : (uint64_t)((const char *)t->grad - (const char *)sp->host_grad) / size;
    return (element_run){data_off, grad_off, slot->offset, t->numel};
}

/* Appends the chunks of a run to `table`: full ones, then a shorter last one if any. */
static void add_chunks(uint32_t chunk, const element_run *run, cl_ulong4 *table, uint32_t *count)
{
    for (uint64_t done = 0; done < run->n; done += chunk) {
        const uint64_t length = run->n - done < chunk ? run->n - done : chunk;
        table[(*count)++] = (cl_ulong4){{run->data_off + done, run->grad_off + done,
                                         run->state_off + done, length}};
    }
}

/* The chunks of a span's tensors, runs of them merged. */
static void add_span_chunks(uint32_t chunk, const span *sp, const netcl_tensor *tensors,
                            const param_slot *slots, cl_ulong4 *table, uint32_t *count)
{
    element_run run = {0, 0, 0, 0};
    for (uint32_t i = sp->first_tensor; i < sp->end_tensor; ++i) {
        if (!has_grad(&tensors[i])) {
            continue;
        }
        const element_run next = tensor_run(sp, &tensors[i], &slots[i]);
        if (run.n > 0 && next.data_off == run.data_off + run.n &&
            next.grad_off == run.grad_off + run.n && next.state_off == run.state_off + run.n) {
            run.n += next.n;
            continue;
        }
        if (run.n > 0) {
            add_chunks(chunk, &run, table, count);
        }
        run = next;
    }
    if (run.n > 0) {
        add_chunks(chunk, &run, table, count);
    }
}

static netcl_status set_span_args(const state_store *st, span *sp, cl_mem chunks)
{
    const state_block *block = &st->blocks[sp->block];
    /* State kinds the variant does not use still need a valid buffer argument. */
    cl_mem square_avg = block->mem[STATE_SQUARE_AVG];
    cl_mem momentum = block->mem[STATE_MOMENTUM] ? block->mem[STATE_MOMENTUM] : square_avg;
    cl_mem grad_avg = block->mem[STATE_GRAD_AVG] ? block->mem[STATE_GRAD_AVG] : square_avg;
    cl_mem master = block->mem[STATE_MASTER] ? block->mem[STATE_MASTER] : square_avg;
    const cl_uint first = sp->chunk_first;
    const struct {
        size_t size;
        const void *value;
    } args[] = {{sizeof(cl_mem), &sp->data}, {sizeof(cl_mem), &sp->grad},
                {sizeof(cl_mem), &square_avg}, {sizeof(cl_mem), &momentum},
                {sizeof(cl_mem), &grad_avg}, {sizeof(cl_mem), &chunks},
                {sizeof(cl_uint), &first}, {0, NULL} /* 7: hyperparameters, set per step */,
                {sizeof(cl_mem), &master}};
    for (cl_uint a = 0; a < sizeof args / sizeof args[0]; ++a) {
        const cl_int err = args[a].value != NULL
                               ? clSetKernelArg(sp->kernel, a, args[a].size, args[a].value)
                               : CL_SUCCESS;
        if (err != CL_SUCCESS) {
            return netcl_fail(err, "setting kernel argument %u failed", a);
        }
    }
    return NETCL_SUCCESS;
}

static netcl_status plan_build(netcl_rmsprop *opt, const netcl_param_group *groups,
                               uint32_t group_count, const netcl_tensor *tensors,
                               uint32_t tensor_count)
{
    netcl_context *ctx = opt->ctx;
    plan *pl = &opt->plan;
    const state_store *st = &opt->state;
    netcl_plan_release(ctx, pl);
    netcl_status status = NETCL_SUCCESS;
    const uint32_t chunk = ctx->chunk;
    uint64_t chunk_total = 0;
    for (uint32_t i = 0; i < tensor_count; ++i) {
        if (has_grad(&tensors[i])) {
            chunk_total += (tensors[i].numel + chunk - 1) / chunk;
        }
    }
    if (chunk_total > UINT32_MAX) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "too many elements in one step");
    }
    status = netcl_step_key_set(&pl->key, groups, group_count, tensors, tensor_count);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    pl->hyper = calloc(group_count ? group_count : 1, sizeof *pl->hyper);
    pl->hyper_set = calloc(group_count ? group_count : 1, sizeof *pl->hyper_set);
    pl->spans = calloc(tensor_count ? tensor_count : 1, sizeof *pl->spans);
    cl_ulong4 *table = malloc((chunk_total + 1) * sizeof *table);
    if (!pl->hyper || !pl->hyper_set || !pl->spans || !table) {
        status = netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating the launch plan failed");
        goto cleanup;
    }
    pl->memory_mode = ctx->memory_mode;
    uint32_t table_count = 0;
    for (uint32_t g = 0; g < group_count; ++g) {
        const netcl_param_group *group = &groups[g];
        span *sp = NULL;
        uint32_t last = UINT32_MAX;
        for (uint32_t i = group->first; i < group->first + group->count; ++i) {
            const netcl_tensor *t = &tensors[i];
            if (!has_grad(t)) {
                continue;
            }
            const int joins = sp != NULL && st->slots[i].block == sp->block &&
                              (t->data_mem != NULL
                                   ? joins_device_span(&tensors[last], t)
                                   : joins_host_span(&tensors[sp->first_tensor], &tensors[last], t,
                                                     st->block_limit_bytes));
            if (!joins) {
                sp = &pl->spans[pl->span_count++];
                sp->group = g;
                sp->block = st->slots[i].block;
                sp->dtype = t->dtype;
                sp->first_tensor = i;
            }
            sp->end_tensor = i + 1;
            last = i;
        }
    }
    for (uint32_t s = 0; s < pl->span_count; ++s) {
        span *sp = &pl->spans[s];
        status = create_span_buffers(ctx, sp, tensors);
        if (status != NETCL_SUCCESS) {
            goto cleanup;
        }
        status = netcl_program_create_kernel(ctx, pl->key.groups[3 * sp->group + 2] |
                                                      (unsigned)sp->dtype << 4, &sp->kernel);
        if (status != NETCL_SUCCESS) {
            goto cleanup;
        }
        sp->chunk_first = table_count;
        add_span_chunks(chunk, sp, tensors, st->slots, table, &table_count);
        sp->chunk_count = table_count - sp->chunk_first;
    }
    if (table_count > 0) {
        cl_int err;
        pl->chunks = clCreateBuffer(ctx->context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                    table_count * sizeof *table, table, &err);
        if (err != CL_SUCCESS) {
            status = netcl_fail(err, "allocating the chunk table failed");
            goto cleanup;
        }
    }
    for (uint32_t s = 0; s < pl->span_count; ++s) {
        status = set_span_args(st, &pl->spans[s], pl->chunks);
        if (status != NETCL_SUCCESS) {
            goto cleanup;
        }
    }
    pl->valid = 1;
cleanup:
    free(table);
    if (status != NETCL_SUCCESS) {
        netcl_plan_release(ctx, pl);
    }
    return status;
}


static netcl_status enqueue_staging(netcl_context *ctx, const span *sp,
                                   const netcl_tensor *tensors, int to_device)
{
    for (uint32_t i = sp->first_tensor; i < sp->end_tensor; ++i) {
        const netcl_tensor *t = &tensors[i];
        if (!has_grad(t)) {
            continue;
        }
        const size_t bytes = t->numel * tensor_element_size(t);
        const size_t data_at = (size_t)((char *)t->data - (char *)sp->host_data);
        const size_t grad_at = (size_t)((const char *)t->grad - (const char *)sp->host_grad);
        cl_int err;
        if (to_device) {
            err = clEnqueueWriteBuffer(ctx->queue, sp->data, CL_FALSE, data_at, bytes, t->data, 0,
                                       NULL, NULL);
            if (err == CL_SUCCESS) {
                err = clEnqueueWriteBuffer(ctx->queue, sp->grad, CL_FALSE, grad_at, bytes, t->grad,
                                           0, NULL, NULL);
            }
            ctx->staged_bytes += 2 * bytes;
        } else {
            err = clEnqueueReadBuffer(ctx->queue, sp->data, CL_FALSE, data_at, bytes, t->data, 0,
                                      NULL, NULL);
            ctx->staged_bytes += bytes;
        }
        if (err != CL_SUCCESS) {
            return netcl_fail(err, "staging tensor %u %s the device failed", i,
                              to_device ? "to" : "from");
        }
    }
    return NETCL_SUCCESS;
}

static netcl_status enqueue_launch(netcl_context *ctx, cl_kernel kernel, uint32_t chunks)
{
    const size_t global = (size_t)chunks * ctx->chunk;
    const size_t local = ctx->chunk;
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, kernel, 1, NULL, &global, &local, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "launching the RMSProp kernel over %u chunks failed", chunks);
    }
    return NETCL_SUCCESS;
}


/* Unmaps (before launches) or maps back (after them) the host memory the plan's kernels use. */
static netcl_status set_plan_mapped(netcl_rmsprop *opt, int mapped)
{
    plan *pl = &opt->plan;
    netcl_status status = netcl_state_set_mapped(&opt->state, mapped);
    for (uint32_t s = 0; s < pl->span_count && status == NETCL_SUCCESS; ++s) {
        span *sp = &pl->spans[s];
        if (sp->kind == SPAN_ZERO_COPY) {
            status = set_span_mapped(opt->ctx, sp, mapped);
        }
    }
    return status;
}

/*
 * Whether the step differs from the plan's only in where its host gradients are (a fresh
 * gradient buffer per backward pass), each span's gradients in the same places relative to one
 * another and, for a zero-copy span, at an address it can still wrap in place. Then only the
 * moved spans' gradient buffers need to change, not the whole plan: rebuilding it made a
 * 25.6 us step take 86 us.
 */
static int only_grads_moved(const plan *pl, const netcl_context *ctx,
                            const netcl_param_group *groups, uint32_t group_count,
                            const netcl_tensor *tensors, uint32_t tensor_count)
{
    const step_key *key = &pl->key;
    if (!pl->valid || pl->memory_mode != ctx->memory_mode ||
        !netcl_step_key_matches_but_grads(key, groups, group_count, tensors, tensor_count)) {
        return 0;
    }
    for (uint32_t s = 0; s < pl->span_count; ++s) {
        const span *sp = &pl->spans[s];
        if (sp->kind == SPAN_DEVICE) {
            continue;
        }
        const char *base = tensors[sp->first_tensor].grad;
        for (uint32_t i = sp->first_tensor; i < sp->end_tensor; ++i) {
            if (tensors[i].grad != NULL &&
                (const char *)tensors[i].grad - base !=
                    (const char *)key->tensors[i].grad - (const char *)sp->host_grad) {
                return 0;
            }
        }
        /* A zero-copy span must stay one; a staged span becomes one where it can. */
        if (zero_copy_possible(ctx, base) != (sp->kind == SPAN_ZERO_COPY) &&
            zero_copy_possible(ctx, sp->host_data)) {
            return 0;
        }
    }
    return 1;
}

/* Unmaps and releases a zero-copy span's spare gradient buffer, if any. The unmap need not be
 * waited for here: the buffer lives until its commands are done, and the step's end waits for
 * the whole queue. */
static void release_spare_grad(netcl_context *ctx, span *sp)
{
    if (sp->spare_grad != NULL) {
        clEnqueueUnmapMemObject(ctx->queue, sp->spare_grad, (void *)sp->spare_host_grad, 0, NULL,
                                NULL);
        clReleaseMemObject(sp->spare_grad);
        sp->spare_grad = NULL;
    }
}

/*
 * Points a zero-copy span at gradients that moved to `base`. The buffer of their old place
 * becomes the spare, and gradients that come back to the spare's place (two buffers used in
 * turn) take it again, without a new buffer, its map and the old spare's unmap. Neither way
 * waits for the device (see wrap_in_place and release_spare_grad).
 */
static netcl_status move_zero_copy_grads(netcl_context *ctx, span *sp, const void *base)
{
    if (!sp->mapped[1]) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "a moved gradient's old buffer is not mapped");
    }
    cl_mem old = sp->grad;
    const void *old_host = sp->host_grad;
    if (sp->spare_grad != NULL && sp->spare_host_grad == base) {
        sp->grad = sp->spare_grad;
    } else {
        release_spare_grad(ctx, sp);
        sp->grad = wrap_in_place(ctx, (void *)base, sp->grad_bytes, CL_MEM_READ_ONLY);
    }
    sp->spare_grad = old;
    sp->spare_host_grad = old_host;
    sp->mapped[1] = sp->grad != NULL;
    const cl_int err = sp->grad != NULL ? clSetKernelArg(sp->kernel, 1, sizeof sp->grad, &sp->grad)
                                        : CL_MEM_OBJECT_ALLOCATION_FAILURE;
    return err == CL_SUCCESS ? NETCL_SUCCESS : netcl_fail(err, "wrapping a moved gradient failed");
}

/*
 * Points the plan's spans at the step's gradients (only_grads_moved said they moved, and only
 * they): a staged span copies from the new place, a zero-copy span wraps it. On failure the
 * plan is invalid (the caller rebuilds it); nothing was enqueued but maps and unmaps.
 */
static netcl_status move_grads(netcl_context *ctx, plan *pl, const netcl_tensor *tensors)
{
    for (uint32_t s = 0; s < pl->span_count; ++s) {
        span *sp = &pl->spans[s];
        const void *base = tensors[sp->first_tensor].grad;
        if (sp->kind == SPAN_DEVICE || base == sp->host_grad) {
            continue;
        }
        const netcl_status status = sp->kind == SPAN_ZERO_COPY
                                        ? move_zero_copy_grads(ctx, sp, base)
                                        : NETCL_SUCCESS;
        if (status != NETCL_SUCCESS) {
            pl->valid = 0;
            return status;
        }
        sp->host_grad = base;
    }
    memcpy(pl->key.tensors, tensors, pl->key.tensor_count * sizeof *tensors);
    return NETCL_SUCCESS;
}

/*
 * Enqueues the step: a barrier on the caller's wait list (if any), then per span its staging,
 * launch and staging back, then the remap of host memory, and last a marker whose event `*done`
 * completes with all of it. A failure before the first launch leaves everything as it was
 * (memory unmapped for it is mapped back). A failure once a launch was enqueued, or one that
 * leaves memory unmapped, cannot be undone: the optimizer is marked broken.
 */
netcl_status netcl_kernel_enqueue(netcl_rmsprop *opt, const netcl_param_group *groups,
                                  uint32_t group_count, const netcl_tensor *tensors,
                                  uint32_t tensor_count, const netcl_step_options *options,
                                  uint32_t wait_count,
                                  const cl_event *wait_events, cl_event *done, uint32_t *launches)
{
    netcl_context *ctx = opt->ctx;
    plan *pl = &opt->plan;
    netcl_status status = NETCL_SUCCESS;
    int matches = plan_matches(pl, ctx, groups, group_count, tensors, tensor_count);
    if (!matches && only_grads_moved(pl, ctx, groups, group_count, tensors, tensor_count)) {
        matches = move_grads(ctx, pl, tensors) == NETCL_SUCCESS;
    }
    if (!matches) {
        status = plan_build(opt, groups, group_count, tensors, tensor_count);
        if (status != NETCL_SUCCESS) {
            return status;
        }
    }
    /* Hyperparameters are kernel arguments, set again only when they change (spans of a group
     * follow each other in the plan). */
    uint32_t group = UINT32_MAX;
    int changed = 0;
    for (uint32_t s = 0; s < pl->span_count; ++s) {
        const uint32_t g = pl->spans[s].group;
        if (g != group) {
            group = g;
            const kernel_hyper hyper = group_hyper(&groups[g], options);
            changed = !pl->hyper_set[g] || memcmp(&hyper, &pl->hyper[g], sizeof hyper) != 0;
            pl->hyper[g] = hyper;
            pl->hyper_set[g] = 1;
        }
        const cl_int err = changed ? clSetKernelArg(pl->spans[s].kernel, 7, sizeof pl->hyper[g],
                                                    &pl->hyper[g])
                                   : CL_SUCCESS;
        if (err != CL_SUCCESS) {
            pl->hyper_set[g] = 0;
            return netcl_fail(err, "setting hyperparameters failed");
        }
    }
    if (wait_count > 0) {
        /* On an in-order queue everything enqueued after the barrier waits for the list. */
        const cl_int err = clEnqueueBarrierWithWaitList(ctx->queue, wait_count, wait_events, NULL);
        if (err != CL_SUCCESS) {
            return netcl_fail(err, "enqueueing the wait for %u events failed", wait_count);
        }
    }
    uint32_t launched = 0;
    status = set_plan_mapped(opt, 0);
    for (uint32_t s = 0; s < pl->span_count && status == NETCL_SUCCESS; ++s) {
        span *sp = &pl->spans[s];
        if (sp->kind == SPAN_STAGED) {
            status = enqueue_staging(ctx, sp, tensors, 1);
        }
        if (status == NETCL_SUCCESS) {
            status = enqueue_launch(ctx, sp->kernel, sp->chunk_count);
            launched += status == NETCL_SUCCESS;
        }
        if (status == NETCL_SUCCESS && sp->kind == SPAN_STAGED) {
            status = enqueue_staging(ctx, sp, tensors, 0);
        }
    }
    /* Mapping back after a failure keeps the host's view valid; its own failure is kept only
     * when nothing failed before it. */
    char first_message[512];
    snprintf(first_message, sizeof first_message, "%s", netcl_last_error());
    const netcl_status remap = set_plan_mapped(opt, 1);
    /* The marker completes with everything enqueued above, also when the step stopped before its
     * first launch: the host must then still wait for the remap before it touches memory. */
    cl_event end = NULL;
    cl_int marker = clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &end);
    if (marker == CL_SUCCESS) {
        marker = clFlush(ctx->queue);  /* the step starts now, not at the caller's next wait */
    }
    if (status == NETCL_SUCCESS && remap != NETCL_SUCCESS) {
        status = remap;
    } else if (status == NETCL_SUCCESS && marker != CL_SUCCESS) {
        status = netcl_fail(marker, "enqueueing the end of the RMSProp step failed");
    } else if (status != NETCL_SUCCESS) {
        netcl_fail(status, "%s", first_message);
    }
    if (status != NETCL_SUCCESS && (launched > 0 || remap != NETCL_SUCCESS || marker != CL_SUCCESS)) {
        /* Nothing enqueued may still change memory once the failure is reported. */
        clFinish(ctx->queue);
        if (end != NULL) clReleaseEvent(end);
        return netcl_mark_broken(opt, status);
    }
    if (status != NETCL_SUCCESS) {
        netcl_set_pending(opt, end);
        return status;
    }
    *done = end;
    *launches = launched;
    return status;
}
