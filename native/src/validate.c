/* Argument checks of a step, before anything is enqueued. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "optimizer.h"

/* ---- validation --------------------------------------------------------------------------- */

static netcl_status check_hyper(const char *name, double value, uint32_t group)
{
    if (!(value >= 0.0) || isinf(value)) {
        return netcl_fail(NETCL_INVALID_ARGUMENT,
                          "group %u: invalid %s %g (must be finite and >= 0)", group, name, value);
    }
    return NETCL_SUCCESS;
}

netcl_status netcl_check_groups(const netcl_param_group *groups, uint32_t group_count,
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

netcl_status netcl_check_buffer(const netcl_context *ctx, cl_mem mem, const char *what,
                                uint64_t *floats)
{
    size_t size = 0;
    cl_context owner = NULL;
    cl_mem_object_type type = 0;
    cl_int err = clGetMemObjectInfo(mem, CL_MEM_TYPE, sizeof type, &type, NULL);
    if (err == CL_SUCCESS) {
        err = clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof size, &size, NULL);
    }
    if (err == CL_SUCCESS) {
        err = clGetMemObjectInfo(mem, CL_MEM_CONTEXT, sizeof owner, &owner, NULL);
    }
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "%s is not a valid cl_mem", what);
    }
    if (type != CL_MEM_OBJECT_BUFFER) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is an image, not a buffer", what);
    }
    if (owner != ctx->context) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s belongs to another cl_context than the "
                          "netcl context's", what);
    }
    *floats = size / sizeof(float);
    return NETCL_SUCCESS;
}

netcl_status netcl_check_buffer_range(const netcl_context *ctx, cl_mem mem, uint64_t offset,
                                      uint64_t numel, const char *what)
{
    uint64_t floats = 0;
    netcl_status status = netcl_check_buffer(ctx, mem, what, &floats);
    if (status == NETCL_SUCCESS && (offset > floats || numel > floats - offset)) {
        status = netcl_fail(NETCL_INVALID_ARGUMENT, "%s holds %llu floats, too few for offset %llu "
                            "+ numel %llu", what, (unsigned long long)floats,
                            (unsigned long long)offset, (unsigned long long)numel);
    }
    return status;
}

/* Whether [a, a + bytes) and [b, b + bytes) share a byte; neither wraps the address space. */
static int ranges_overlap(uint64_t a, uint64_t b, uint64_t bytes)
{
    return a < b + bytes && b < a + bytes;
}

/* A host array of tensor i (its data or gradient): aligned to its elements, and its `bytes`
 * within the address space. */
static netcl_status check_host_array(const netcl_tensor *t, uint32_t i, uintptr_t at, size_t size,
                                     uint64_t bytes)
{
    if (at % size != 0) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: data and grad must be aligned to %zu "
                          "bytes", i, size);
    }
    if (at > UINTPTR_MAX - bytes) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: %llu elements at 0x%llx run past the "
                          "end of the address space", i, (unsigned long long)t->numel,
                          (unsigned long long)at);
    }
    return NETCL_SUCCESS;
}

netcl_status netcl_check_host_grad(const netcl_tensor *t, uint32_t i)
{
    const size_t size = tensor_element_size(t);
    const uint64_t bytes = t->numel * size;
    const uintptr_t grad = (uintptr_t)t->grad;
    const netcl_status status = check_host_array(t, i, grad, size, bytes);
    if (status == NETCL_SUCCESS && t->grad != NULL && ranges_overlap((uintptr_t)t->data, grad, bytes)) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: data and grad overlap", i);
    }
    return status;
}

netcl_status netcl_check_tensor_memory(const netcl_rmsprop *opt, const netcl_tensor *t, uint32_t i)
{
    const netcl_context *ctx = opt->ctx;
    if (t->dtype != NETCL_FP32 && t->dtype != NETCL_BF16 && t->dtype != NETCL_FP16) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: unknown dtype %d (NETCL_FP32, "
                          "NETCL_BF16 or NETCL_FP16)", i, t->dtype);
    }
    const size_t size = tensor_element_size(t);
    /* No tensor is larger than the device's memory; that also keeps every byte count below. */
    if (t->numel == 0) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: invalid numel 0", i);
    }
    if (t->numel > ctx->info.global_mem_bytes / sizeof(float)) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: numel %llu is more floats than the "
                          "device's memory holds (%llu bytes)", i, (unsigned long long)t->numel,
                          (unsigned long long)ctx->info.global_mem_bytes);
    }
    const uint64_t bytes = t->numel * size;
    if ((t->data == NULL) == (t->data_mem == NULL)) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: exactly one of data and data_mem "
                          "must be set", i);
    }
    if (t->data != NULL) {
        const uintptr_t data = (uintptr_t)t->data;
        if (t->grad_mem != NULL) {
            return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: host data with a device "
                              "gradient (grad_mem); use grad", i);
        }
        netcl_status status = check_host_array(t, i, data, size, bytes);
        if (status == NETCL_SUCCESS) {
            status = netcl_check_host_grad(t, i);
        }
        if (status != NETCL_SUCCESS) {
            return status;
        }
    } else {
        if (t->dtype != NETCL_FP32) {
            return netcl_fail(NETCL_UNSUPPORTED, "tensor %u: device buffers hold FP32 tensors "
                              "only", i);
        }
        if (t->grad != NULL) {
            return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: device data (data_mem) with a "
                              "host gradient; use grad_mem", i);
        }
        char what[48];
        snprintf(what, sizeof what, "tensor %u: data_mem", i);
        netcl_status status = netcl_check_buffer_range(ctx, t->data_mem, t->data_offset, t->numel,
                                                       what);
        if (status == NETCL_SUCCESS && t->grad_mem != NULL) {
            snprintf(what, sizeof what, "tensor %u: grad_mem", i);
            status = netcl_check_buffer_range(ctx, t->grad_mem, t->grad_offset, t->numel, what);
        }
        if (status != NETCL_SUCCESS) {
            return status;
        }
        if (t->grad_mem == t->data_mem &&
            ranges_overlap(t->data_offset * sizeof(float), t->grad_offset * sizeof(float), bytes)) {
            return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: data and grad overlap in the "
                              "same cl_mem", i);
        }
    }
    return NETCL_SUCCESS;
}

netcl_status netcl_check_tensor(const netcl_rmsprop *opt, const netcl_tensor *t, uint32_t i)
{
    netcl_status status = netcl_check_tensor_memory(opt, t, i);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    const state_store *st = &opt->state;
    if (i < st->slot_count && has_grad(t)) {
        const param_slot *slot = &st->slots[i];
        if (slot->has[STATE_SQUARE_AVG] && slot->numel != t->numel) {
            return netcl_fail(NETCL_STATE_MISMATCH, "tensor %u has %llu elements but its state "
                              "has %llu", i, (unsigned long long)t->numel,
                              (unsigned long long)slot->numel);
        }
        if (slot->has[STATE_MASTER] && t->dtype == NETCL_FP32) {
            return netcl_fail(NETCL_STATE_MISMATCH, "tensor %u is FP32 but its state holds a "
                              "master copy for a BF16/FP16 parameter", i);
        }
        if (slot->step >= (uint64_t)INT64_MAX) {
            return netcl_fail(NETCL_INVALID_ARGUMENT, "tensor %u: its step count is at the "
                              "largest netcl keeps (2^63 - 1)", i);
        }
    }
    return NETCL_SUCCESS;
}
