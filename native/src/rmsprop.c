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

#include "optimizer.h"

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
    netcl_context_retain(context);
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
    netcl_plan_release(&optimizer->plan);
    for (int p = 0; p < POOL_COUNT; ++p) {
        if (optimizer->pool[p] != NULL) clReleaseMemObject(optimizer->pool[p]);
    }
    free(optimizer->slots);
    netcl_context_release(optimizer->ctx);
    free(optimizer);
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
    netcl_status status = netcl_check_groups(groups, group_count, tensor_count);
    for (uint32_t i = 0; i < tensor_count && status == NETCL_SUCCESS; ++i) {
        status = netcl_check_tensor(opt, &tensors[i], i);
    }
    if (status != NETCL_SUCCESS) {
        return status;
    }

    /* New state regions for tensors stepped for the first time; pools grow before anything runs. */
    status = netcl_state_grow_slots(opt, tensor_count);
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
            if (has_grad(&tensors[i]) && netcl_slot_needs_region(&opt->slots[i], tensors[i].numel)) {
                needed += netcl_slot_floats(tensors[i].numel);
            }
        }
    }
    status = netcl_state_reserve_pools(opt, needed, wanted);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    for (uint32_t i = 0; i < tensor_count; ++i) {
        if (has_grad(&tensors[i]) && netcl_slot_needs_region(&opt->slots[i], tensors[i].numel)) {
            netcl_state_place_slot(opt, &opt->slots[i], tensors[i].numel);
            opt->plan.valid = 0;
        }
    }
    if (!netcl_plan_matches(&opt->plan, ctx, groups, group_count, tensors, tensor_count)) {
        status = netcl_plan_build(opt, groups, group_count, tensors, tensor_count);
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
                    status = netcl_state_zero(ctx, opt->pool[p], slot);
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
            status = netcl_enqueue_staging(ctx, sp, tensors, 1);
        }
        if (status == NETCL_SUCCESS) {
            status = netcl_enqueue_launch(ctx, sp->kernel, sp->chunk_count);
            launches++;
        }
        if (status == NETCL_SUCCESS && sp->kind == SPAN_STAGED) {
            status = netcl_enqueue_staging(ctx, sp, tensors, 0);
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
    netcl_status status = netcl_state_grow_slots(opt, index + 1);
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
    const int moves = netcl_slot_needs_region(slot, numel);
    status = netcl_state_reserve_pools(opt, moves ? netcl_slot_floats(numel) : 0, wanted);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    if (moves) {
        netcl_state_place_slot(opt, slot, numel);
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

