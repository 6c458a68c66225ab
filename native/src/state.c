/* State pools: per-parameter slots at one offset in each pool, grown by doubling. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer.h"

/* ---- state pools -------------------------------------------------------------------------- */

netcl_status netcl_state_grow_slots(netcl_rmsprop *opt, uint32_t count)
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
netcl_status netcl_state_reserve_pools(netcl_rmsprop *opt, uint64_t needed, unsigned wanted)
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

uint64_t netcl_slot_floats(uint64_t numel)
{
    return (numel + SLOT_ALIGN_FLOATS - 1) / SLOT_ALIGN_FLOATS * SLOT_ALIGN_FLOATS;
}

/* Whether the slot must move to a new pool region before holding `numel` floats. */
int netcl_slot_needs_region(const param_slot *slot, uint64_t numel)
{
    return !slot->allocated || slot->numel != numel;
}

void netcl_state_place_slot(netcl_rmsprop *opt, param_slot *slot, uint64_t numel)
{
    slot->offset = opt->pool_used;
    slot->numel = numel;
    slot->allocated = 1;
    opt->pool_used += netcl_slot_floats(numel);
}


netcl_status netcl_state_zero(netcl_context *ctx, cl_mem pool, const param_slot *slot)
{
    const cl_float zero = 0.0f;
    cl_int err = clEnqueueFillBuffer(ctx->queue, pool, &zero, sizeof zero,
                                     slot->offset * sizeof(float), slot->numel * sizeof(float), 0,
                                     NULL, NULL);
    return err == CL_SUCCESS ? NETCL_SUCCESS : netcl_fail(err, "clearing new state failed");
}

