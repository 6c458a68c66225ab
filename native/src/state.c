/* State blocks and per-parameter slots (see state_block in optimizer.h). */
#include <stdlib.h>
#include <string.h>

#include "optimizer.h"

/* Host-visible blocks are page aligned: beyond any device's base-address alignment. */
#define HOST_BLOCK_ALIGN 4096u

const char *const netcl_state_kind_names[STATE_KINDS] = {"square_avg", "momentum_buffer",
                                                         "grad_avg", "master"};

static uint64_t slot_floats(uint64_t numel)
{
    return (numel + SLOT_ALIGN_FLOATS - 1) / SLOT_ALIGN_FLOATS * SLOT_ALIGN_FLOATS;
}

/* Whether a slot needs a new region to hold `numel` floats (0: it needs none). */
static int needs_region(const param_slot *slot, uint64_t numel)
{
    return numel != 0 && !(slot->allocated && slot->numel == numel);
}

/* The largest block: the device's largest allocation, or the lower NETCL_MAX_ALLOC_BYTES that
 * tests set to reach several blocks with small models. */
static uint64_t block_limit_bytes(const netcl_context *ctx)
{
    uint64_t limit = ctx->info.max_alloc_bytes;
    const char *env = getenv("NETCL_MAX_ALLOC_BYTES");
    if (env != NULL && *env != '\0') {
        char *end = NULL;
        const unsigned long long value = strtoull(env, &end, 10);
        if (end != NULL && *end == '\0' && value >= 4096 && value < limit) {
            limit = value;
        }
    }
    return limit;
}

netcl_status netcl_state_init(state_store *st, netcl_context *ctx)
{
    memset(st, 0, sizeof *st);
    st->ctx = ctx;
    st->host_visible = ctx->info.is_cpu && ctx->info.host_unified_memory;
    st->block_limit_bytes = block_limit_bytes(ctx);
    return NETCL_SUCCESS;
}

static void block_release(netcl_context *ctx, state_block *b)
{
    for (int k = 0; k < STATE_KINDS; ++k) {
        if (b->mem[k] != NULL) {
            if (b->mapped[k]) {
                clEnqueueUnmapMemObject(ctx->queue, b->mem[k], b->host[k], 0, NULL, NULL);
                clFinish(ctx->queue);
            }
            clReleaseMemObject(b->mem[k]);
        }
        free(b->host[k]);
    }
    memset(b, 0, sizeof *b);
}

void netcl_state_release(state_store *st)
{
    for (uint32_t b = 0; b < st->block_count; ++b) {
        block_release(st->ctx, &st->blocks[b]);
    }
    free(st->blocks);
    free(st->slots);
    memset(st, 0, sizeof *st);
}

netcl_status netcl_state_grow_slots(state_store *st, uint32_t count)
{
    if (count <= st->slot_count) {
        return NETCL_SUCCESS;
    }
    if (count > st->slot_capacity) {
        uint32_t capacity = st->slot_capacity ? st->slot_capacity : 16;
        while (capacity < count) {
            capacity = capacity > UINT32_MAX / 2 ? UINT32_MAX : capacity * 2;
        }
        param_slot *slots = realloc(st->slots, (size_t)capacity * sizeof *slots);
        if (slots == NULL) {
            return netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating %u state slots failed", count);
        }
        st->slots = slots;
        st->slot_capacity = capacity;
    }
    memset(st->slots + st->slot_count, 0, (size_t)(count - st->slot_count) * sizeof *st->slots);
    st->slot_count = count;
    return NETCL_SUCCESS;
}

/* Creates the buffer of `kind` for a block. Host-visible state wraps netcl's own memory and is
 * mapped right away (host access needs a mapping); mapping must return that very memory, else
 * the device keeps a copy and the state is not host-visible after all. */
static netcl_status block_create_kind(state_store *st, state_block *b, int kind)
{
    netcl_context *ctx = st->ctx;
    const size_t bytes = (size_t)b->capacity * sizeof(float);
    cl_int err;
    if (!st->host_visible) {
        b->mem[kind] = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
        if (err != CL_SUCCESS) {
            b->mem[kind] = NULL;
            return netcl_fail(err, "allocating %zu bytes of %s state failed", bytes,
                              netcl_state_kind_names[kind]);
        }
        return NETCL_SUCCESS;
    }
    void *host = NULL;
    if (posix_memalign(&host, HOST_BLOCK_ALIGN, bytes) != 0) {
        return netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating %zu bytes of %s state failed",
                          bytes, netcl_state_kind_names[kind]);
    }
    cl_mem mem = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, bytes, host,
                                &err);
    if (err != CL_SUCCESS) {
        free(host);
        return netcl_fail(err, "allocating %zu bytes of %s state failed", bytes, netcl_state_kind_names[kind]);
    }
    void *mapped = clEnqueueMapBuffer(ctx->queue, mem, CL_TRUE, CL_MAP_READ | CL_MAP_WRITE, 0,
                                      bytes, 0, NULL, NULL, &err);
    if (err != CL_SUCCESS || mapped != host) {
        if (err == CL_SUCCESS) {
            clEnqueueUnmapMemObject(ctx->queue, mem, mapped, 0, NULL, NULL);
            clFinish(ctx->queue);
        }
        clReleaseMemObject(mem);
        free(host);
        return err != CL_SUCCESS
                   ? netcl_fail(err, "mapping %s state failed", netcl_state_kind_names[kind])
                   : netcl_fail(NETCL_UNSUPPORTED, "device '%s' copies host memory it wraps",
                                ctx->info.name);
    }
    b->mem[kind] = mem;
    b->host[kind] = host;
    b->mapped[kind] = 1;
    return NETCL_SUCCESS;
}

/*
 * Plans the placement of every new region first (new blocks as needed, each the larger of the
 * remaining need and twice the last block, at most one device allocation), then creates the
 * blocks and buffers, and only when all of it succeeded assigns the slots: a failure leaves the
 * store as it was.
 */
netcl_status netcl_state_reserve(state_store *st, const uint64_t *numel, const unsigned *kinds,
                                 uint32_t count)
{
    const uint64_t limit = st->block_limit_bytes / sizeof(float);
    uint64_t remaining = 0;
    uint32_t new_regions = 0;
    for (uint32_t i = 0; i < count; ++i) {
        if (!needs_region(&st->slots[i], numel[i])) {
            continue;
        }
        if (slot_floats(numel[i]) > limit) {
            return netcl_fail(CL_MEM_OBJECT_ALLOCATION_FAILURE,
                              "parameter %u: its state of %llu floats exceeds the device's "
                              "largest allocation (%llu bytes)", i,
                              (unsigned long long)numel[i], (unsigned long long)st->block_limit_bytes);
        }
        remaining += slot_floats(numel[i]);
        new_regions++;
    }
    /* Dry run: where each new region goes, and how many new blocks of which sizes. */
    uint64_t *offsets = malloc(((size_t)new_regions + 1) * sizeof *offsets);
    uint32_t *block_of = malloc(((size_t)new_regions + 1) * sizeof *block_of);
    state_block *blocks = NULL;
    uint32_t block_count = st->block_count;
    netcl_status status = NETCL_SUCCESS;
    if (offsets == NULL || block_of == NULL) {
        status = netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating the state plan failed");
        goto cleanup;
    }
    blocks = malloc(((size_t)st->block_count + new_regions + 1) * sizeof *blocks);
    if (blocks == NULL) {
        status = netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating the state plan failed");
        goto cleanup;
    }
    if (st->block_count > 0) {
        memcpy(blocks, st->blocks, (size_t)st->block_count * sizeof *blocks);
    }
    uint32_t r = 0;
    for (uint32_t i = 0; i < count; ++i) {
        if (!needs_region(&st->slots[i], numel[i])) {
            continue;
        }
        const uint64_t floats = slot_floats(numel[i]);
        state_block *last = block_count > 0 ? &blocks[block_count - 1] : NULL;
        if (last == NULL || last->capacity - last->used < floats) {
            uint64_t capacity = remaining;
            if (last != NULL && capacity < 2 * last->capacity) capacity = 2 * last->capacity;
            if (capacity < FIRST_BLOCK_FLOATS) capacity = FIRST_BLOCK_FLOATS;
            if (capacity > limit) capacity = limit / SLOT_ALIGN_FLOATS * SLOT_ALIGN_FLOATS;
            last = &blocks[block_count++];
            memset(last, 0, sizeof *last);
            last->capacity = capacity;
        }
        offsets[r] = last->used;
        block_of[r++] = (uint32_t)(last - blocks);
        last->used += floats;
        remaining -= floats;
    }
    /* Buffers: every kind a slot needs, in the block its (new or current) region is in. */
    r = 0;
    for (uint32_t i = 0; i < count && status == NETCL_SUCCESS; ++i) {
        const param_slot *slot = &st->slots[i];
        if (numel[i] == 0) {
            continue;
        }
        state_block *b = &blocks[needs_region(slot, numel[i]) ? block_of[r++] : slot->block];
        for (int k = 0; k < STATE_KINDS && status == NETCL_SUCCESS; ++k) {
            if ((kinds[i] & (1u << k)) && b->mem[k] == NULL) {
                status = block_create_kind(st, b, k);
            }
        }
    }
    if (status != NETCL_SUCCESS) {
        /* Undo: buffers created in existing blocks and every new block go again. */
        for (uint32_t b = 0; b < block_count; ++b) {
            for (int k = 0; k < STATE_KINDS; ++k) {
                const int is_new = b >= st->block_count || st->blocks[b].mem[k] == NULL;
                if (is_new && blocks[b].mem[k] != NULL) {
                    state_block one = {0};
                    one.mem[k] = blocks[b].mem[k];
                    one.host[k] = blocks[b].host[k];
                    one.mapped[k] = blocks[b].mapped[k];
                    block_release(st->ctx, &one);
                }
            }
        }
        goto cleanup;
    }
    r = 0;
    for (uint32_t i = 0; i < count; ++i) {
        param_slot *slot = &st->slots[i];
        if (!needs_region(slot, numel[i])) {
            continue;
        }
        slot->block = block_of[r];
        slot->offset = offsets[r++];
        slot->numel = numel[i];
        slot->allocated = 1;
        memset(slot->has, 0, sizeof slot->has);
        slot->step = 0;
    }
    free(st->blocks);
    st->blocks = blocks;
    st->block_count = block_count;
    blocks = NULL;
cleanup:
    free(blocks);
    free(offsets);
    free(block_of);
    return status;
}

float *netcl_state_host(const state_store *st, const param_slot *slot, int kind)
{
    return st->blocks[slot->block].host[kind] + slot->offset;
}

netcl_status netcl_state_zero(state_store *st, const param_slot *slot, int kind)
{
    if (st->host_visible) {
        memset(netcl_state_host(st, slot, kind), 0, slot->numel * sizeof(float));
        return NETCL_SUCCESS;
    }
    const cl_float zero = 0.0f;
    cl_int err = clEnqueueFillBuffer(st->ctx->queue, st->blocks[slot->block].mem[kind], &zero,
                                     sizeof zero, slot->offset * sizeof(float),
                                     slot->numel * sizeof(float), 0, NULL, NULL);
    return err == CL_SUCCESS ? NETCL_SUCCESS
                             : netcl_fail(err, "clearing new %s state failed", netcl_state_kind_names[kind]);
}

/* Copies elements first .. first+count-1 of a slot's state of `kind` out (in == NULL) or in
 * (out == NULL). */
netcl_status netcl_state_copy(state_store *st, const param_slot *slot, int kind, uint64_t first,
                              uint64_t count, float *out, const float *in)
{
    const size_t bytes = count * sizeof(float);
    if (st->host_visible) {
        float *state = netcl_state_host(st, slot, kind) + first;
        memcpy(in != NULL ? state : out, in != NULL ? in : state, bytes);
        return NETCL_SUCCESS;
    }
    cl_mem mem = st->blocks[slot->block].mem[kind];
    const size_t at = (slot->offset + first) * sizeof(float);
    cl_int err = in != NULL
                     ? clEnqueueWriteBuffer(st->ctx->queue, mem, CL_TRUE, at, bytes, in, 0, NULL, NULL)
                     : clEnqueueReadBuffer(st->ctx->queue, mem, CL_TRUE, at, bytes, out, 0, NULL, NULL);
    return err == CL_SUCCESS ? NETCL_SUCCESS
                             : netcl_fail(err, "%s %s state failed", in != NULL ? "writing" : "reading",
                                          netcl_state_kind_names[kind]);
}

netcl_status netcl_state_set_mapped(state_store *st, int mapped)
{
    netcl_context *ctx = st->ctx;
    for (uint32_t b = 0; b < st->block_count; ++b) {
        state_block *block = &st->blocks[b];
        for (int k = 0; k < STATE_KINDS; ++k) {
            if (block->host[k] == NULL || block->mapped[k] == mapped) {
                continue;
            }
            cl_int err;
            if (mapped) {
                void *at = clEnqueueMapBuffer(ctx->queue, block->mem[k], CL_FALSE,
                                              CL_MAP_READ | CL_MAP_WRITE, 0,
                                              block->capacity * sizeof(float), 0, NULL, NULL, &err);
                /* Zero-copy was checked when the buffer was made: the same memory comes back. */
                (void)at;
            } else {
                err = clEnqueueUnmapMemObject(ctx->queue, block->mem[k], block->host[k], 0, NULL,
                                              NULL);
            }
            if (err != CL_SUCCESS) {
                return netcl_fail(err, "%s %s state failed", mapped ? "mapping" : "unmapping",
                                  netcl_state_kind_names[k]);
            }
            block->mapped[k] = mapped;
        }
    }
    return NETCL_SUCCESS;
}

netcl_status netcl_state_fill_master(state_store *st, const param_slot *slot,
                                     const netcl_tensor *t)
{
    if (st->host_visible) {
        netcl_host_to_float(t, netcl_state_host(st, slot, STATE_MASTER));
        return NETCL_SUCCESS;
    }
    float *values = malloc(slot->numel * sizeof(float));
    if (values == NULL) {
        return netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating a master copy of %llu floats failed",
                          (unsigned long long)slot->numel);
    }
    netcl_host_to_float(t, values);
    const netcl_status status =
        netcl_state_copy(st, slot, STATE_MASTER, 0, slot->numel, NULL, values);
    free(values);
    return status;
}
