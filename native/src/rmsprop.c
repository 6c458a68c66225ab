/*
 * RMSProp: validation, per-parameter state in device pools, and the step's launch plan.
 *
 * State: square_avg, momentum_buffer and grad_avg of every parameter live in three pool buffers
 * (one per kind) at the same offset, so that one launch can update many tensors. Pools grow by
 * doubling and keep their contents.
 *
 * Plan: the tensors of a parameter group are cut into spans, runs of consecutive tensors that
 * lie in one region of memory (slices of one host allocation, or one caller cl_mem). Each span
 * gets one data and one grad buffer and is updated by one kernel launch. The plan,
 * its buffers, kernels and chunk table are reused while the step's tensors (addresses, lengths,
 * gradient presence) and the groups' kernel variants stay the same, so a steady-state step only
 * compares the tensor list, enqueues and waits.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Tensors whose data (and grads) are at most this far apart still share one span. */
#define SPAN_MAX_GAP_BYTES 256u
/* Pool offsets are rounded to this many floats, keeping each state tensor 128-byte aligned. */
#define SLOT_ALIGN_FLOATS 32u

enum { POOL_SQUARE_AVG, POOL_MOMENTUM, POOL_GRAD_AVG, POOL_COUNT };

typedef struct param_slot {
    uint64_t step;
    uint64_t numel;
    uint64_t offset;           /* in floats, the same in every pool */
    int allocated;
    int has[POOL_COUNT];
} param_slot;

/* Must match rmsprop_hyper in rmsprop.cl. */
typedef struct kernel_hyper {
    cl_float neg_lr;
    cl_float alpha;
    cl_float one_minus_alpha;
    cl_float eps;
    cl_float weight_decay;
    cl_float momentum;
} kernel_hyper;

typedef enum span_kind { SPAN_ZERO_COPY, SPAN_STAGED, SPAN_DEVICE } span_kind;

typedef struct span {
    span_kind kind;
    uint32_t group;
    uint32_t first_tensor;     /* tensors [first_tensor, end_tensor) with a gradient */
    uint32_t end_tensor;
    float *host_data;          /* host spans: the base the chunk offsets count from */
    const float *host_grad;
    cl_mem data;               /* owned for host spans, retained for device spans */
    cl_mem grad;
    uint32_t chunk_first, chunk_count;  /* the span's entries in the chunk table */
    cl_kernel kernel;
} span;

typedef struct plan {
    int valid;
    int32_t memory_mode;
    uint32_t tensor_count;
    uint32_t group_count;
    netcl_tensor *tensors;     /* the key: the step's tensor list ... */
    uint32_t *group_key;       /* ... and per group first, count, variant */
    kernel_hyper *hyper;       /* per group, the values last set on its kernels */
    int *hyper_set;
    span *spans;
    uint32_t span_count;
    cl_mem chunks;
    uint32_t launches;
} plan;

struct netcl_rmsprop {
    netcl_context *ctx;
    param_slot *slots;
    uint32_t slot_count;
    uint32_t slot_capacity;
    cl_mem pool[POOL_COUNT];
    uint64_t pool_capacity;    /* floats */
    uint64_t pool_used;
    plan plan;
    uint32_t last_launches;
};

static unsigned group_variant(const netcl_param_group *g)
{
    return (g->weight_decay != 0.0 ? 8u : 0u) | (g->maximize ? 4u : 0u) |
           (g->momentum > 0.0 ? 2u : 0u) | (g->centered ? 1u : 0u);
}

static int has_grad(const netcl_tensor *t)
{
    return t->grad != NULL || t->grad_mem != NULL;
}

/* ---- plan --------------------------------------------------------------------------------- */

static void plan_release(plan *pl)
{
    for (uint32_t s = 0; s < pl->span_count; ++s) {
        span *sp = &pl->spans[s];
        if (sp->kernel != NULL) clReleaseKernel(sp->kernel);
        if (sp->data != NULL) clReleaseMemObject(sp->data);
        if (sp->grad != NULL) clReleaseMemObject(sp->grad);
    }
    if (pl->chunks != NULL) clReleaseMemObject(pl->chunks);
    free(pl->spans);
    free(pl->tensors);
    free(pl->group_key);
    free(pl->hyper);
    free(pl->hyper_set);
    memset(pl, 0, sizeof *pl);
}

static int plan_matches(const plan *pl, const netcl_context *ctx, const netcl_param_group *groups,
                        uint32_t group_count, const netcl_tensor *tensors, uint32_t tensor_count)
{
    if (!pl->valid || pl->memory_mode != ctx->memory_mode || pl->tensor_count != tensor_count ||
        pl->group_count != group_count) {
        return 0;
    }
    for (uint32_t g = 0; g < group_count; ++g) {
        if (pl->group_key[3 * g] != groups[g].first || pl->group_key[3 * g + 1] != groups[g].count ||
            pl->group_key[3 * g + 2] != group_variant(&groups[g])) {
            return 0;
        }
    }
    return tensor_count == 0 || memcmp(pl->tensors, tensors, tensor_count * sizeof *tensors) == 0;
}

/* Whether tensor `next` may join the host span from `first` to `last`: close behind it, and the
 * span still within one device allocation (else it would fail to wrap or to stage). */
static int joins_host_span(const netcl_tensor *first, const netcl_tensor *last,
                           const netcl_tensor *next, uint64_t max_alloc_bytes)
{
    if (next->data == NULL || last->data == NULL) {
        return 0;
    }
    const uintptr_t data_bytes = (uintptr_t)(next->data + next->numel) - (uintptr_t)first->data;
    const uintptr_t grad_bytes = (uintptr_t)(next->grad + next->numel) - (uintptr_t)first->grad;
    if (data_bytes > max_alloc_bytes || grad_bytes > max_alloc_bytes) {
        return 0;
    }
    const uintptr_t data_end = (uintptr_t)(last->data + last->numel);
    const uintptr_t grad_end = (uintptr_t)(last->grad + last->numel);
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
 * may keep a private copy of a CL_MEM_USE_HOST_PTR buffer (Intel's does below 4 KiB alignment)
 * and sync it only on map/unmap, which a step does not do. Other devices are staged.
 */
static int wrap_zero_copy(netcl_context *ctx, span *sp, size_t data_bytes, size_t grad_bytes)
{
    if (ctx->memory_mode == NETCL_MEMORY_STAGED || !ctx->info.is_cpu ||
        !ctx->info.host_unified_memory ||
        (uintptr_t)sp->host_data % ctx->base_align_bytes != 0 ||
        (uintptr_t)sp->host_grad % ctx->base_align_bytes != 0) {
        return 0;
    }
    cl_int err;
    sp->data = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, data_bytes,
                              sp->host_data, &err);
    if (err == CL_SUCCESS) {
        sp->grad = clCreateBuffer(ctx->context, CL_MEM_READ_ONLY | CL_MEM_USE_HOST_PTR, grad_bytes,
                                  (void *)sp->host_grad, &err);
    }
    /* Zero-copy only if the device works on the very same memory: mapping must return it. */
    int same = err == CL_SUCCESS;
    cl_mem buffers[2] = {sp->data, sp->grad};
    void *hosts[2] = {sp->host_data, (void *)sp->host_grad};
    size_t sizes[2] = {data_bytes, grad_bytes};
    for (int b = 0; b < 2 && same; ++b) {
        void *mapped = clEnqueueMapBuffer(ctx->queue, buffers[b], CL_TRUE, CL_MAP_READ, 0,
                                          sizes[b], 0, NULL, NULL, &err);
        same = err == CL_SUCCESS && mapped == hosts[b];
        if (err == CL_SUCCESS) {
            clEnqueueUnmapMemObject(ctx->queue, buffers[b], mapped, 0, NULL, NULL);
        }
    }
    clFinish(ctx->queue);
    if (!same) {
        if (sp->data != NULL) clReleaseMemObject(sp->data);
        if (sp->grad != NULL) clReleaseMemObject(sp->grad);
        sp->data = sp->grad = NULL;
    }
    return same;
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
    const size_t data_bytes = (size_t)((const char *)(last->data + last->numel) -
                                       (const char *)first->data);
    const size_t grad_bytes = (size_t)((const char *)(last->grad + last->numel) -
                                       (const char *)first->grad);
    if (wrap_zero_copy(ctx, sp, data_bytes, grad_bytes)) {
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

/* Appends the chunks of one tensor to `table`: full ones, then a shorter last one if any. */
static void add_chunks(uint32_t chunk, const span *sp, const netcl_tensor *t,
                       const param_slot *slot, cl_ulong4 *table, uint32_t *count)
{
    const uint64_t data_off = sp->kind == SPAN_DEVICE ? t->data_offset
                                                      : (uint64_t)(t->data - sp->host_data);
    const uint64_t grad_off = sp->kind == SPAN_DEVICE ? t->grad_offset
                                                      : (uint64_t)(t->grad - sp->host_grad);
    for (uint64_t done = 0; done < t->numel; done += chunk) {
        const uint64_t length = t->numel - done < chunk ? t->numel - done : chunk;
        table[(*count)++] = (cl_ulong4){{data_off + done, grad_off + done, slot->offset + done,
                                         length}};
    }
}

static netcl_status set_span_args(netcl_rmsprop *opt, span *sp, cl_mem chunks)
{
    /* Unused state pools still need a valid buffer argument. */
    cl_mem momentum = opt->pool[POOL_MOMENTUM] ? opt->pool[POOL_MOMENTUM] : opt->pool[POOL_SQUARE_AVG];
    cl_mem grad_avg = opt->pool[POOL_GRAD_AVG] ? opt->pool[POOL_GRAD_AVG] : opt->pool[POOL_SQUARE_AVG];
    const cl_uint first = sp->chunk_first;
    cl_int err = clSetKernelArg(sp->kernel, 0, sizeof(cl_mem), &sp->data);
    err |= clSetKernelArg(sp->kernel, 1, sizeof(cl_mem), &sp->grad);
    err |= clSetKernelArg(sp->kernel, 2, sizeof(cl_mem), &opt->pool[POOL_SQUARE_AVG]);
    err |= clSetKernelArg(sp->kernel, 3, sizeof(cl_mem), &momentum);
    err |= clSetKernelArg(sp->kernel, 4, sizeof(cl_mem), &grad_avg);
    err |= clSetKernelArg(sp->kernel, 5, sizeof(cl_mem), &chunks);
    err |= clSetKernelArg(sp->kernel, 6, sizeof(cl_uint), &first);
    if (err != CL_SUCCESS) {
        return netcl_fail(CL_INVALID_KERNEL_ARGS, "setting kernel arguments failed");
    }
    return NETCL_SUCCESS;
}

static netcl_status plan_build(netcl_rmsprop *opt, const netcl_param_group *groups,
                               uint32_t group_count, const netcl_tensor *tensors,
                               uint32_t tensor_count)
{
    netcl_context *ctx = opt->ctx;
    plan *pl = &opt->plan;
    plan_release(pl);
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
    pl->tensors = malloc((tensor_count ? tensor_count : 1) * sizeof *pl->tensors);
    pl->group_key = malloc((group_count ? group_count : 1) * 3 * sizeof *pl->group_key);
    pl->hyper = calloc(group_count ? group_count : 1, sizeof *pl->hyper);
    pl->hyper_set = calloc(group_count ? group_count : 1, sizeof *pl->hyper_set);
    pl->spans = calloc(tensor_count ? tensor_count : 1, sizeof *pl->spans);
    cl_ulong4 *table = malloc((chunk_total + 1) * sizeof *table);
    if (!pl->tensors || !pl->group_key || !pl->hyper || !pl->hyper_set || !pl->spans || !table) {
        status = netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating the launch plan failed");
        goto cleanup;
    }
    memcpy(pl->tensors, tensors, tensor_count * sizeof *tensors);
    pl->tensor_count = tensor_count;
    pl->group_count = group_count;
    pl->memory_mode = ctx->memory_mode;
    uint32_t table_count = 0;
    for (uint32_t g = 0; g < group_count; ++g) {
        const netcl_param_group *group = &groups[g];
        pl->group_key[3 * g] = group->first;
        pl->group_key[3 * g + 1] = group->count;
        pl->group_key[3 * g + 2] = group_variant(group);
        span *sp = NULL;
        uint32_t last = UINT32_MAX;
        for (uint32_t i = group->first; i < group->first + group->count; ++i) {
            const netcl_tensor *t = &tensors[i];
            if (!has_grad(t)) {
                continue;
            }
            const int joins = sp != NULL && (t->data_mem != NULL
                                                 ? joins_device_span(&tensors[last], t)
                                                 : joins_host_span(&tensors[sp->first_tensor],
                                                                   &tensors[last], t,
                                                                   ctx->info.max_alloc_bytes));
            if (!joins) {
                sp = &pl->spans[pl->span_count++];
                sp->group = g;
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
        status = netcl_program_create_kernel(ctx, pl->group_key[3 * sp->group + 2], &sp->kernel);
        if (status != NETCL_SUCCESS) {
            goto cleanup;
        }
        sp->chunk_first = table_count;
        for (uint32_t i = sp->first_tensor; i < sp->end_tensor; ++i) {
            if (has_grad(&tensors[i])) {
                add_chunks(chunk, sp, &tensors[i], &opt->slots[i], table, &table_count);
            }
        }
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
        status = set_span_args(opt, &pl->spans[s], pl->chunks);
        if (status != NETCL_SUCCESS) {
            goto cleanup;
        }
    }
    pl->valid = 1;
cleanup:
    free(table);
    if (status != NETCL_SUCCESS) {
        plan_release(pl);
    }
    return status;
}

/* ---- state pools -------------------------------------------------------------------------- */

static netcl_status grow_slots(netcl_rmsprop *opt, uint32_t count)
{
    if (count <= opt->slot_count) {
        return NETCL_SUCCESS;
    }
    if (count > opt->slot_capacity) {
        uint32_t capacity = opt->slot_capacity ? opt->slot_capacity : 16;
        while (capacity < count) {
            capacity = capacity > UINT32_MAX / 2 ? UINT32_MAX : capacity * 2;
        }
        param_slot *slots = realloc(opt->slots, capacity * sizeof *slots);
        if (slots == NULL) {
            return netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating %u state slots failed", count);
        }
        opt->slots = slots;
        opt->slot_capacity = capacity;
    }
    memset(opt->slots + opt->slot_count, 0, (count - opt->slot_count) * sizeof *opt->slots);
    opt->slot_count = count;
    return NETCL_SUCCESS;
}

/* Makes every pool in `wanted` (a bit per pool) exist with room for `needed` more floats. */
static netcl_status reserve_pools(netcl_rmsprop *opt, uint64_t needed, unsigned wanted)
{
    netcl_context *ctx = opt->ctx;
    uint64_t capacity = opt->pool_capacity;
    if (capacity == 0 || opt->pool_used + needed > capacity) {
        capacity = capacity ? capacity : 1u << 16;
        while (capacity < opt->pool_used + needed) {
            capacity *= 2;
        }
        const uint64_t max_floats = ctx->info.max_alloc_bytes / sizeof(float);
        if (capacity > max_floats) {
            capacity = opt->pool_used + needed;
        }
        if (capacity > max_floats) {
            return netcl_fail(CL_MEM_OBJECT_ALLOCATION_FAILURE,
                              "optimizer state of %llu floats exceeds the device's largest "
                              "allocation (%llu bytes)", (unsigned long long)capacity,
                              (unsigned long long)ctx->info.max_alloc_bytes);
        }
    }
    cl_mem fresh[POOL_COUNT] = {NULL, NULL, NULL};
    netcl_status status = NETCL_SUCCESS;
    int changed = 0;
    for (int p = 0; p < POOL_COUNT; ++p) {
        const int exists = opt->pool[p] != NULL;
        if (!(wanted & (1u << p)) && !exists) {
            continue;
        }
        if (exists && capacity == opt->pool_capacity) {
            continue;
        }
        cl_int err;
        fresh[p] = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, capacity * sizeof(float), NULL,
                                  &err);
        if (err != CL_SUCCESS) {
            status = netcl_fail(err, "allocating %llu bytes of optimizer state failed",
                                (unsigned long long)(capacity * sizeof(float)));
            goto cleanup;
        }
        if (exists && opt->pool_used > 0) {
            err = clEnqueueCopyBuffer(ctx->queue, opt->pool[p], fresh[p], 0, 0,
                                      opt->pool_used * sizeof(float), 0, NULL, NULL);
            if (err != CL_SUCCESS) {
                status = netcl_fail(err, "copying optimizer state into a larger pool failed");
                goto cleanup;
            }
        }
        changed = 1;
    }
    if (changed) {
        cl_int err = clFinish(ctx->queue);
        if (err != CL_SUCCESS) {
            status = netcl_fail(err, "clFinish failed while growing the state pools");
            goto cleanup;
        }
        for (int p = 0; p < POOL_COUNT; ++p) {
            if (fresh[p] != NULL) {
                if (opt->pool[p] != NULL) clReleaseMemObject(opt->pool[p]);
                opt->pool[p] = fresh[p];
                fresh[p] = NULL;
            }
        }
        opt->pool_capacity = capacity;
        opt->plan.valid = 0;  /* its kernels point at the old pools */
    }
cleanup:
    for (int p = 0; p < POOL_COUNT; ++p) {
        if (fresh[p] != NULL) clReleaseMemObject(fresh[p]);
    }
    return status;
}

static uint64_t slot_floats(uint64_t numel)
{
    return (numel + SLOT_ALIGN_FLOATS - 1) / SLOT_ALIGN_FLOATS * SLOT_ALIGN_FLOATS;
}

/* Whether the slot must move to a new pool region before holding `numel` floats. */
static int slot_needs_region(const param_slot *slot, uint64_t numel)
{
    return !slot->allocated || slot->numel != numel;
}

static void place_slot(netcl_rmsprop *opt, param_slot *slot, uint64_t numel)
{
    slot->offset = opt->pool_used;
    slot->numel = numel;
    slot->allocated = 1;
    opt->pool_used += slot_floats(numel);
}

/* ---- validation --------------------------------------------------------------------------- */

static netcl_status check_hyper(const char *name, double value, uint32_t group)
{
    if (!(value >= 0.0) || isinf(value)) {
        return netcl_fail(NETCL_INVALID_ARGUMENT,
                          "group %u: invalid %s %g (must be finite and >= 0)", group, name, value);
    }
    return NETCL_SUCCESS;
}

static netcl_status check_groups(const netcl_param_group *groups, uint32_t group_count,
                                 uint32_t tensor_count)
{
    uint64_t next = 0;
    for (uint32_t g = 0; g < group_count; ++g) {
        const netcl_param_group *group = &groups[g];
        if (group->first != next) {
            return netcl_fail(NETCL_INVALID_ARGUMENT, "group %u starts at tensor %u, expected %llu "
                              "(groups must cover the tensors in order)", g, group->first,
                              (unsigned long long)next);
        }
        next += group->count;
        netcl_status status = check_hyper("lr", group->lr, g);
        if (status == NETCL_SUCCESS) status = check_hyper("eps", group->eps, g);
        if (status == NETCL_SUCCESS) status = check_hyper("weight_decay", group->weight_decay, g);
        if (status == NETCL_SUCCESS) status = check_hyper("momentum", group->momentum, g);
        if (status != NETCL_SUCCESS) {
            return status;
        }
        if (!(group->alpha >= 0.0 && group->alpha <= 1.0)) {
            return netcl_fail(NETCL_INVALID_ARGUMENT, "group %u: invalid alpha %g (must be in "
                              "[0, 1])", g, group->alpha);
        }
    }
    if (next != tensor_count) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "the groups cover %llu tensors but %u were given",
                          (unsigned long long)next, tensor_count);
    }
    return NETCL_SUCCESS;
}

static netcl_status check_device_range(const netcl_context *ctx, cl_mem mem, uint64_t offset,
                                       uint64_t numel, uint32_t index, const char *what)
{
    size_t size = 0;
    cl_context owner = NULL;
    cl_int err = clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof size, &size, NULL);
    if (err == CL_SUCCESS) {
        err = clGetMemObjectInfo(mem, CL_MEM_CONTEXT, sizeof owner, &owner, NULL);
    }
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "tensor %u: %s is not a valid cl_mem", index, what);
    }
    if (owner != ctx->context) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: %s belongs to another cl_context",
                          index, what);
    }
    if (offset > size / sizeof(float) || numel > size / sizeof(float) - offset) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: %s holds %zu floats, too few for "
                          "offset %llu + numel %llu", index, what, size / sizeof(float),
                          (unsigned long long)offset, (unsigned long long)numel);
    }
    return NETCL_SUCCESS;
}

static netcl_status check_tensor(const netcl_rmsprop *opt, const netcl_tensor *t, uint32_t i)
{
    if (t->numel == 0 || t->numel > (uint64_t)INT64_MAX / sizeof(float)) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: invalid numel %llu", i,
                          (unsigned long long)t->numel);
    }
    if ((t->data == NULL) == (t->data_mem == NULL)) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: exactly one of data and data_mem "
                          "must be set", i);
    }
    if (t->data != NULL) {
        if (t->grad_mem != NULL) {
            return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: host data with a device "
                              "gradient (grad_mem); use grad", i);
        }
        if ((uintptr_t)t->data % sizeof(float) != 0 || (uintptr_t)t->grad % sizeof(float) != 0) {
            return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: data and grad must be aligned "
                              "to 4 bytes", i);
        }
        if (t->grad != NULL && t->grad < t->data + t->numel && t->data < t->grad + t->numel) {
            return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: data and grad overlap", i);
        }
    } else {
        if (t->grad != NULL) {
            return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: device data (data_mem) with a "
                              "host gradient; use grad_mem", i);
        }
        netcl_status status = check_device_range(opt->ctx, t->data_mem, t->data_offset, t->numel,
                                                 i, "data_mem");
        if (status == NETCL_SUCCESS && t->grad_mem != NULL) {
            status = check_device_range(opt->ctx, t->grad_mem, t->grad_offset, t->numel, i,
                                        "grad_mem");
        }
        if (status != NETCL_SUCCESS) {
            return status;
        }
    }
    if (i < opt->slot_count) {
        const param_slot *slot = &opt->slots[i];
        if (slot->has[POOL_SQUARE_AVG] && slot->numel != t->numel && has_grad(t)) {
            return netcl_fail(NETCL_STATE_MISMATCH, "tensor %u has %llu elements but its state "
                              "has %llu", i, (unsigned long long)t->numel,
                              (unsigned long long)slot->numel);
        }
    }
    return NETCL_SUCCESS;
}

/* ---- public API --------------------------------------------------------------------------- */

netcl_status netcl_rmsprop_create(netcl_context *context, netcl_rmsprop **optimizer)
{
    netcl_clear_error();
    if (context == NULL || optimizer == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL",
                          context == NULL ? "context" : "optimizer");
    }
    netcl_rmsprop *opt = calloc(1, sizeof *opt);
    if (opt == NULL) {
        return netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating the optimizer failed");
    }
    opt->ctx = context;
    *optimizer = opt;
    return NETCL_SUCCESS;
}

void netcl_rmsprop_destroy(netcl_rmsprop *optimizer)
{
    if (optimizer == NULL) {
        return;
    }
    clFinish(optimizer->ctx->queue);
    plan_release(&optimizer->plan);
    for (int p = 0; p < POOL_COUNT; ++p) {
        if (optimizer->pool[p] != NULL) clReleaseMemObject(optimizer->pool[p]);
    }
    free(optimizer->slots);
    free(optimizer);
}

static netcl_status enqueue_staging(netcl_context *ctx, const span *sp, const netcl_tensor *tensors,
                                    int to_device)
{
    for (uint32_t i = sp->first_tensor; i < sp->end_tensor; ++i) {
        const netcl_tensor *t = &tensors[i];
        if (!has_grad(t)) {
            continue;
        }
        const size_t bytes = t->numel * sizeof(float);
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

static netcl_status zero_state(netcl_context *ctx, cl_mem pool, const param_slot *slot)
{
    const cl_float zero = 0.0f;
    cl_int err = clEnqueueFillBuffer(ctx->queue, pool, &zero, sizeof zero,
                                     slot->offset * sizeof(float), slot->numel * sizeof(float), 0,
                                     NULL, NULL);
    return err == CL_SUCCESS ? NETCL_SUCCESS : netcl_fail(err, "clearing new state failed");
}

netcl_status netcl_rmsprop_step(netcl_rmsprop *optimizer, const netcl_param_group *groups,
                                uint32_t group_count, const netcl_tensor *tensors,
                                uint32_t tensor_count)
{
    netcl_clear_error();
    if (optimizer == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "optimizer is NULL");
    }
    if ((groups == NULL && group_count > 0) || (tensors == NULL && tensor_count > 0)) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL", groups == NULL ? "groups" : "tensors");
    }
    netcl_rmsprop *opt = optimizer;
    netcl_context *ctx = opt->ctx;
    netcl_status status = check_groups(groups, group_count, tensor_count);
    for (uint32_t i = 0; i < tensor_count && status == NETCL_SUCCESS; ++i) {
        status = check_tensor(opt, &tensors[i], i);
    }
    if (status != NETCL_SUCCESS) {
        return status;
    }

    /* New state regions for tensors stepped for the first time; pools grow before anything runs. */
    status = grow_slots(opt, tensor_count);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    uint64_t needed = 0;
    unsigned wanted = 1u << POOL_SQUARE_AVG;
    for (uint32_t g = 0; g < group_count; ++g) {
        const int grads = groups[g].count > 0;
        wanted |= (grads && groups[g].momentum > 0.0) ? 1u << POOL_MOMENTUM : 0u;
        wanted |= (grads && groups[g].centered) ? 1u << POOL_GRAD_AVG : 0u;
        for (uint32_t i = groups[g].first; i < groups[g].first + groups[g].count; ++i) {
            if (has_grad(&tensors[i]) && slot_needs_region(&opt->slots[i], tensors[i].numel)) {
                needed += slot_floats(tensors[i].numel);
            }
        }
    }
    status = reserve_pools(opt, needed, wanted);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    for (uint32_t i = 0; i < tensor_count; ++i) {
        if (has_grad(&tensors[i]) && slot_needs_region(&opt->slots[i], tensors[i].numel)) {
            place_slot(opt, &opt->slots[i], tensors[i].numel);
            opt->plan.valid = 0;
        }
    }
    if (!plan_matches(&opt->plan, ctx, groups, group_count, tensors, tensor_count)) {
        status = plan_build(opt, groups, group_count, tensors, tensor_count);
        if (status != NETCL_SUCCESS) {
            return status;
        }
    }
    plan *pl = &opt->plan;

    /* Lazily created state starts at zero, like PyTorch's torch.zeros_like. */
    for (uint32_t g = 0; g < group_count && status == NETCL_SUCCESS; ++g) {
        const int need[POOL_COUNT] = {1, groups[g].momentum > 0.0, groups[g].centered != 0};
        for (uint32_t i = groups[g].first; i < groups[g].first + groups[g].count; ++i) {
            const param_slot *slot = &opt->slots[i];
            for (int p = 0; p < POOL_COUNT && status == NETCL_SUCCESS; ++p) {
                if (has_grad(&tensors[i]) && need[p] && !slot->has[p]) {
                    status = zero_state(ctx, opt->pool[p], slot);
                }
            }
        }
    }
    uint32_t launches = 0;
    for (uint32_t s = 0; s < pl->span_count && status == NETCL_SUCCESS; ++s) {
        span *sp = &pl->spans[s];
        const netcl_param_group *group = &groups[sp->group];
        const kernel_hyper hyper = {(cl_float)(-group->lr), (cl_float)group->alpha,
                                    (cl_float)(1.0 - group->alpha), (cl_float)group->eps,
                                    (cl_float)group->weight_decay, (cl_float)group->momentum};
        if (!pl->hyper_set[sp->group] || memcmp(&hyper, &pl->hyper[sp->group], sizeof hyper) != 0) {
            /* Set on every span of the group, which follow each other in the plan. */
            for (uint32_t t = s; t < pl->span_count && pl->spans[t].group == sp->group; ++t) {
                if (clSetKernelArg(pl->spans[t].kernel, 7, sizeof hyper, &hyper) != CL_SUCCESS) {
                    status = netcl_fail(CL_INVALID_ARG_VALUE, "setting hyperparameters failed");
                }
            }
            pl->hyper[sp->group] = hyper;
            pl->hyper_set[sp->group] = status == NETCL_SUCCESS;
        }
        if (status == NETCL_SUCCESS && sp->kind == SPAN_STAGED) {
            status = enqueue_staging(ctx, sp, tensors, 1);
        }
        if (status == NETCL_SUCCESS) {
            status = enqueue_launch(ctx, sp->kernel, sp->chunk_count);
            launches++;
        }
        if (status == NETCL_SUCCESS && sp->kind == SPAN_STAGED) {
            status = enqueue_staging(ctx, sp, tensors, 0);
        }
    }
    const cl_int err = clFinish(ctx->queue);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "the RMSProp step failed on the device");
    }
    for (uint32_t g = 0; g < group_count; ++g) {
        for (uint32_t i = groups[g].first; i < groups[g].first + groups[g].count; ++i) {
            if (has_grad(&tensors[i])) {
                param_slot *slot = &opt->slots[i];
                slot->has[POOL_SQUARE_AVG] = 1;
                slot->has[POOL_MOMENTUM] |= groups[g].momentum > 0.0;
                slot->has[POOL_GRAD_AVG] |= groups[g].centered != 0;
                slot->step++;
            }
        }
    }
    opt->last_launches = launches;
    return NETCL_SUCCESS;
}

netcl_status netcl_rmsprop_get_param_count(const netcl_rmsprop *optimizer, uint32_t *count)
{
    netcl_clear_error();
    if (optimizer == NULL || count == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL", optimizer == NULL ? "optimizer" : "count");
    }
    *count = optimizer->slot_count;
    return NETCL_SUCCESS;
}

netcl_status netcl_rmsprop_get_last_launch_count(const netcl_rmsprop *optimizer, uint32_t *launches)
{
    netcl_clear_error();
    if (optimizer == NULL || launches == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL",
                          optimizer == NULL ? "optimizer" : "launches");
    }
    *launches = optimizer->last_launches;
    return NETCL_SUCCESS;
}

netcl_status netcl_rmsprop_get_state(const netcl_rmsprop *optimizer, uint32_t index,
                                     netcl_param_state *state)
{
    netcl_clear_error();
    if (optimizer == NULL || state == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL", optimizer == NULL ? "optimizer" : "state");
    }
    memset(state, 0, sizeof *state);
    if (index < optimizer->slot_count && optimizer->slots[index].has[POOL_SQUARE_AVG]) {
        const param_slot *slot = &optimizer->slots[index];
        state->step = slot->step;
        state->numel = slot->numel;
        state->has_square_avg = 1;
        state->has_momentum_buffer = slot->has[POOL_MOMENTUM];
        state->has_grad_avg = slot->has[POOL_GRAD_AVG];
    }
    return NETCL_SUCCESS;
}

netcl_status netcl_rmsprop_read_state(const netcl_rmsprop *optimizer, uint32_t index,
                                      uint64_t numel, float *square_avg, float *momentum_buffer,
                                      float *grad_avg)
{
    netcl_clear_error();
    if (optimizer == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "optimizer is NULL");
    }
    if (index >= optimizer->slot_count || !optimizer->slots[index].has[POOL_SQUARE_AVG]) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "parameter %u has no state", index);
    }
    const param_slot *slot = &optimizer->slots[index];
    if (numel != slot->numel) {
        return netcl_fail(NETCL_STATE_MISMATCH, "parameter %u: state has %llu elements, %llu "
                          "requested", index, (unsigned long long)slot->numel,
                          (unsigned long long)numel);
    }
    float *out[POOL_COUNT] = {square_avg, momentum_buffer, grad_avg};
    static const char *const names[POOL_COUNT] = {"square_avg", "momentum_buffer", "grad_avg"};
    for (int p = 0; p < POOL_COUNT; ++p) {
        if (slot->has[p] && out[p] == NULL) {
            return netcl_fail(NETCL_INVALID_ARGUMENT, "parameter %u has a %s but its output is NULL",
                              index, names[p]);
        }
    }
    for (int p = 0; p < POOL_COUNT; ++p) {
        if (slot->has[p]) {
            cl_int err = clEnqueueReadBuffer(optimizer->ctx->queue, optimizer->pool[p], CL_TRUE,
                                             slot->offset * sizeof(float), numel * sizeof(float),
                                             out[p], 0, NULL, NULL);
            if (err != CL_SUCCESS) {
                return netcl_fail(err, "reading %s of parameter %u failed", names[p], index);
            }
        }
    }
    return NETCL_SUCCESS;
}

netcl_status netcl_rmsprop_write_state(netcl_rmsprop *optimizer, uint32_t index, uint64_t step,
                                       uint64_t numel, const float *square_avg,
                                       const float *momentum_buffer, const float *grad_avg)
{
    netcl_clear_error();
    if (optimizer == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "optimizer is NULL");
    }
    if (square_avg == NULL && (momentum_buffer != NULL || grad_avg != NULL || step != 0)) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "parameter %u: state without square_avg (only "
                          "step 0 and no buffers clear a state)", index);
    }
    if (square_avg != NULL && (numel == 0 || numel > (uint64_t)INT64_MAX / sizeof(float))) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "parameter %u: invalid numel %llu", index,
                          (unsigned long long)numel);
    }
    if (index == UINT32_MAX) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "parameter index %u out of range", index);
    }
    netcl_rmsprop *opt = optimizer;
    netcl_status status = grow_slots(opt, index + 1);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    param_slot *slot = &opt->slots[index];
    if (square_avg == NULL) {
        memset(slot->has, 0, sizeof slot->has);
        slot->step = 0;
        return NETCL_SUCCESS;
    }
    const float *in[POOL_COUNT] = {square_avg, momentum_buffer, grad_avg};
    unsigned wanted = 0;
    for (int p = 0; p < POOL_COUNT; ++p) {
        wanted |= in[p] != NULL ? 1u << p : 0u;
    }
    const int moves = slot_needs_region(slot, numel);
    status = reserve_pools(opt, moves ? slot_floats(numel) : 0, wanted);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    if (moves) {
        place_slot(opt, slot, numel);
        memset(slot->has, 0, sizeof slot->has);
        opt->plan.valid = 0;
    }
    for (int p = 0; p < POOL_COUNT; ++p) {
        if (in[p] != NULL) {
            cl_int err = clEnqueueWriteBuffer(opt->ctx->queue, opt->pool[p], CL_TRUE,
                                              slot->offset * sizeof(float), numel * sizeof(float),
                                              in[p], 0, NULL, NULL);
            if (err != CL_SUCCESS) {
                return netcl_fail(err, "writing state of parameter %u failed", index);
            }
        }
        slot->has[p] = in[p] != NULL;
    }
    slot->step = step;
    return NETCL_SUCCESS;
}
