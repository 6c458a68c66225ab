/*
 * RMSProp's public API: creation, the step (validation, lazy state, then one of two paths),
 * and state access.
 *
 * Paths: the kernel path (plan.c) launches the fused OpenCL kernel; the host path (host_step.c)
 * runs the same update on the calling thread and a worker pool, with no OpenCL call at all,
 * where the tensors are host memory and the state is host-visible (CPU devices).
 * NETCL_PATH_AUTO takes the host path wherever it can. Measured on PoCL 3.1, 2-core Xeon VM
 * (forced paths, one float32 tensor, median step): the host path took 0.43 us at 2^10 and 6 us
 * at 2^14 where the kernel path took 19 and 26 us (OpenCL dispatch and worker wake-up); from
 * 2^17 the host pool and the kernel both use every core and the host path was as fast or
 * faster (2^22: 1.9 against 2.0 ms; 2^24: 13.9 against 14.3 ms, memory-bound). So the kernel
 * path serves device-resident tensors, devices that do not share host memory, and callers who
 * force it.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "optimizer.h"

netcl_status netcl_mark_broken(netcl_rmsprop *opt, netcl_status status)
{
    opt->broken = status;
    snprintf(opt->broken_message, sizeof opt->broken_message, "%s (%s): %s",
             netcl_status_name(status), netcl_last_error(),
             "parameters or state may be partly updated; destroy the optimizer and load saved "
             "state into a new one");
    return status;
}

/* Every call on a broken optimizer fails with NETCL_BROKEN and the first failure's message. */
static netcl_status check_usable(const netcl_rmsprop *opt)
{
    if (opt->broken != NETCL_SUCCESS) {
        return netcl_fail(NETCL_BROKEN, "the optimizer is broken: an earlier step failed on the "
                          "device after it started: %s", opt->broken_message);
    }
    return NETCL_SUCCESS;
}

/* The path under NETCL_PATH_AUTO unless NETCL_PATH (auto, kernel or host) says otherwise. */
static int32_t default_path(void)
{
    const char *env = getenv("NETCL_PATH");
    if (env != NULL && strcasecmp(env, "kernel") == 0) return NETCL_PATH_KERNEL;
    if (env != NULL && strcasecmp(env, "host") == 0) return NETCL_PATH_HOST;
    return NETCL_PATH_AUTO;
}

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
    netcl_state_init(&opt->state, context);
    opt->path = default_path();
    if (opt->path == NETCL_PATH_HOST && !opt->state.host_visible) {
        opt->path = NETCL_PATH_AUTO;  /* the environment's wish, where it cannot be met */
    }
    *optimizer = opt;
    return NETCL_SUCCESS;
}

void netcl_rmsprop_destroy(netcl_rmsprop *optimizer)
{
    if (optimizer == NULL) {
        return;
    }
    clFinish(optimizer->ctx->queue);
    netcl_set_pending(optimizer, NULL);
    netcl_plan_release(optimizer->ctx, &optimizer->plan);
    netcl_checked_release(optimizer);
    netcl_state_release(&optimizer->state);
    netcl_context_release(optimizer->ctx);
    free(optimizer);
}

netcl_status netcl_rmsprop_set_path(netcl_rmsprop *optimizer, int32_t path)
{
    netcl_clear_error();
    if (optimizer == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "optimizer is NULL");
    }
    netcl_status status = check_usable(optimizer);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    if (path != NETCL_PATH_AUTO && path != NETCL_PATH_KERNEL && path != NETCL_PATH_HOST) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "unknown path %d (NETCL_PATH_AUTO, _KERNEL or "
                          "_HOST)", path);
    }
    if (path == NETCL_PATH_HOST && !optimizer->state.host_visible) {
        return netcl_fail(NETCL_UNSUPPORTED, "the host path needs a CPU device that shares host "
                          "memory; '%s' does not", optimizer->ctx->info.name);
    }
    optimizer->path = path;
    return NETCL_SUCCESS;
}

/*
 * A call that failed without changing any parameter's state gives back the slots it added, so
 * that the optimizer's parameter count is as before (a region the call reserved for them stays
 * unused in its block). A broken optimizer keeps everything as it is.
 */
static netcl_status undo_growth(netcl_rmsprop *opt, uint32_t slots_before, netcl_status status)
{
    if (opt->broken == NETCL_SUCCESS && opt->state.slot_count > slots_before) {
        opt->state.slot_count = slots_before;
    }
    return status;
}

/* Which state kinds (bits) a tensor's step needs in its group. */
static unsigned tensor_kinds(const netcl_param_group *g, const netcl_tensor *t)
{
    return (1u << STATE_SQUARE_AVG) | (g->momentum > 0.0 ? 1u << STATE_MOMENTUM : 0u) |
           (g->centered ? 1u << STATE_GRAD_AVG : 0u) |
           (t->dtype != NETCL_FP32 ? 1u << STATE_MASTER : 0u);
}

/* Whether a tensor's slot lacks a region of its size or a buffer of a kind it needs. */
static int needs_reserve(const state_store *st, uint32_t i, uint64_t numel, unsigned kinds)
{
    const param_slot *slot = &st->slots[i];
    if (!slot->allocated || slot->numel != numel) {
        return 1;
    }
    for (int k = 0; k < STATE_KINDS; ++k) {
        if ((kinds & (1u << k)) && st->blocks[slot->block].mem[k] == NULL) {
            return 1;
        }
    }
    return 0;
}

/* Gives every tensor with a gradient a state region and the buffers its group needs. Only a
 * step that brings new tensors or new kinds of state allocates. */
static netcl_status reserve_step_state(netcl_rmsprop *opt, const netcl_param_group *groups,
                                       uint32_t group_count, const netcl_tensor *tensors,
                                       uint32_t tensor_count)
{
    state_store *st = &opt->state;
    int any = 0;
    for (uint32_t g = 0; g < group_count && !any; ++g) {
        for (uint32_t i = groups[g].first; i < groups[g].first + groups[g].count && !any; ++i) {
            any = has_grad(&tensors[i]) &&
                  needs_reserve(st, i, tensors[i].numel, tensor_kinds(&groups[g], &tensors[i]));
        }
    }
    if (!any) {
        return NETCL_SUCCESS;
    }
    uint64_t *numel = calloc(tensor_count, sizeof *numel);
    unsigned *kinds = calloc(tensor_count, sizeof *kinds);
    netcl_status status = NETCL_SUCCESS;
    if (numel == NULL || kinds == NULL) {
        status = netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating the state plan failed");
    } else {
        for (uint32_t g = 0; g < group_count; ++g) {
            for (uint32_t i = groups[g].first; i < groups[g].first + groups[g].count; ++i) {
                if (has_grad(&tensors[i])) {
                    numel[i] = tensors[i].numel;
                    kinds[i] = tensor_kinds(&groups[g], &tensors[i]);
                }
            }
        }
        status = netcl_state_reserve(st, numel, kinds, tensor_count);
        opt->plan.valid &= status != NETCL_SUCCESS;  /* its kernels may use other buffers now */
    }
    free(numel);
    free(kinds);
    return status;
}

/* The path the step over the checked list takes (the host path needs host tensors and
 * host-visible state). */
static int32_t choose_path(const netcl_rmsprop *opt)
{
    return opt->path == NETCL_PATH_KERNEL || !opt->state.host_visible ||
                   opt->checked.device_tensors
               ? NETCL_PATH_KERNEL
               : NETCL_PATH_HOST;
}

/*
 * Everything a step does before its update: argument checks (nothing changes when they fail),
 * state slots and regions for new tensors, and new state: zeroed, like PyTorch's
 * torch.zeros_like, and a master copy made from the parameter's values. Host-visible state is
 * written on the host, after an enqueued step that may still use it. `*slots_before` receives
 * the slot count to give back to (undo_growth) if the step fails later. The tensor list then
 * becomes the checked list; when it is the checked list already (and reusable), or that list
 * with gradients elsewhere, only the groups' options and any moved gradient are checked: the
 * rest was done for that list and still holds, and `*reused` says so.
 */
static netcl_status prepare_step(netcl_rmsprop *opt, const netcl_param_group *groups,
                                 uint32_t group_count, const netcl_tensor *tensors,
                                 uint32_t tensor_count, uint32_t *slots_before, int *reused)
{
    *reused = 0;
    if ((groups == NULL && group_count > 0) || (tensors == NULL && tensor_count > 0)) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL", groups == NULL ? "groups" : "tensors");
    }
    if (tensor_count > NETCL_MAX_PARAMETERS) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%u tensors in one step, more than netcl's "
                          "limit of %u parameters", tensor_count, NETCL_MAX_PARAMETERS);
    }
    netcl_status status = netcl_check_groups(groups, group_count, tensor_count);
    state_store *st = &opt->state;
    *slots_before = st->slot_count;
    if (status == NETCL_SUCCESS &&
        netcl_checked_reuse(opt, groups, group_count, tensors, tensor_count, &status)) {
        *reused = status == NETCL_SUCCESS;
        return status;
    }
    netcl_checked_forget(opt);  /* the state may grow or move now */
    for (uint32_t i = 0; i < tensor_count && status == NETCL_SUCCESS; ++i) {
        status = netcl_check_tensor(opt, &tensors[i], i);
    }
    if (status != NETCL_SUCCESS) {
        return status;
    }
    status = netcl_state_grow_slots(st, tensor_count);
    if (status == NETCL_SUCCESS) {
        status = reserve_step_state(opt, groups, group_count, tensors, tensor_count);
    }
    for (uint32_t g = 0; g < group_count && status == NETCL_SUCCESS; ++g) {
        for (uint32_t i = groups[g].first; i < groups[g].first + groups[g].count; ++i) {
            const param_slot *slot = &st->slots[i];
            const unsigned kinds = tensor_kinds(&groups[g], &tensors[i]);
            for (int k = 0; k < STATE_KINDS && status == NETCL_SUCCESS; ++k) {
                if (has_grad(&tensors[i]) && (kinds & (1u << k)) && !slot->has[k]) {
                    status = st->host_visible ? netcl_settle(opt) : NETCL_SUCCESS;
                    if (status == NETCL_SUCCESS) {
                        status = k == STATE_MASTER ? netcl_state_fill_master(st, slot, &tensors[i])
                                                   : netcl_state_zero(st, slot, k);
                    }
                }
            }
        }
    }
    if (status == NETCL_SUCCESS) {
        status = netcl_checked_record(opt, groups, group_count, tensors, tensor_count);
    }
    return status == NETCL_SUCCESS ? status : undo_growth(opt, *slots_before, status);
}

/* After a step's update: each stepped tensor has the state its group used (a reused list's
 * tensors have it since the step that checked the list), one step more (a reused list's counted
 * by netcl_checked_stepped_again). The next step over the same list may skip its checks unless
 * a step count reached the limit that netcl_check_tensor refuses. */
static void count_step(netcl_rmsprop *opt, const netcl_param_group *groups, uint32_t group_count,
                       const netcl_tensor *tensors, int32_t path, uint32_t launches, int reused)
{
    if (reused) {
        netcl_checked_stepped_again(opt);
    } else {
        uint64_t most_steps = 0;
        for (uint32_t g = 0; g < group_count; ++g) {
            for (uint32_t i = groups[g].first; i < groups[g].first + groups[g].count; ++i) {
                if (has_grad(&tensors[i])) {
                    param_slot *slot = &opt->state.slots[i];
                    for (int k = 0; k < STATE_KINDS; ++k) {
                        slot->has[k] |= (tensor_kinds(&groups[g], &tensors[i]) & (1u << k)) != 0;
                    }
                    slot->step++;
                    most_steps = slot->step > most_steps ? slot->step : most_steps;
                }
            }
        }
        netcl_checked_stepped(opt, most_steps);
    }
    opt->last_launches = launches;
    opt->last_path = path;
}

/* Checks a step's options (see netcl_step_options). */
static netcl_status check_options(const netcl_step_options *options)
{
    if (options == NULL || options->struct_size != sizeof *options) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "options %s (struct_size must be %zu)",
                          options == NULL ? "is NULL" : "has the wrong struct_size", sizeof *options);
    }
    /* A NaN clip_coef is what clip_grad_norm_ computes from a non-finite norm: PyTorch then
     * steps with NaN gradients, and so does netcl. */
    if (!isfinite(options->inv_scale) ||
        !((options->clip_coef >= 0.0f && options->clip_coef <= 1.0f) || isnan(options->clip_coef))) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "inv_scale %g must be finite and clip_coef %g "
                          "in [0, 1] (or NaN)", options->inv_scale, options->clip_coef);
    }
    return NETCL_SUCCESS;
}

static const netcl_step_options plain_step = {sizeof plain_step, 1.0f, 1.0f};

/* The blocking step: an enqueued step first, then this one, on the host or enqueued and waited
 * for. */
static netcl_status step(netcl_rmsprop *opt, const netcl_param_group *groups,
                         uint32_t group_count, const netcl_tensor *tensors,
                         uint32_t tensor_count, const netcl_step_options *options)
{
    netcl_status status = check_usable(opt);
    if (status == NETCL_SUCCESS) {
        status = netcl_settle(opt);
    }
    uint32_t slots_before = 0;
    int reused = 0;
    if (status == NETCL_SUCCESS) {
        status = prepare_step(opt, groups, group_count, tensors, tensor_count, &slots_before,
                              &reused);
    }
    if (status != NETCL_SUCCESS) {
        return status;
    }
    const int32_t path = choose_path(opt);
    uint32_t launches = 0;
    if (path == NETCL_PATH_HOST) {
        netcl_host_step(groups, opt->checked.runs, opt->checked.run_count, options,
                        opt->checked.elements);
    } else {
        cl_event done = NULL;
        netcl_signal_guard guard;
        netcl_signal_guard_begin(&guard);  /* the launch may compile */
        status = netcl_kernel_enqueue(opt, groups, group_count, tensors, tensor_count, options, 0,
                                      NULL, &done, &launches);
        if (status == NETCL_SUCCESS) {
            netcl_set_pending(opt, done);
            status = netcl_settle(opt);
        }
        netcl_signal_guard_end(&guard);
        if (status != NETCL_SUCCESS) {
            return undo_growth(opt, slots_before, status);
        }
    }
    count_step(opt, groups, group_count, tensors, path, launches, reused);
    return NETCL_SUCCESS;
}

netcl_status netcl_rmsprop_step(netcl_rmsprop *optimizer, const netcl_param_group *groups,
                                uint32_t group_count, const netcl_tensor *tensors,
                                uint32_t tensor_count)
{
    netcl_clear_error();
    if (optimizer == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "optimizer is NULL");
    }
    return step(optimizer, groups, group_count, tensors, tensor_count, &plain_step);
}

netcl_status netcl_rmsprop_step_with(netcl_rmsprop *optimizer, const netcl_param_group *groups,
                                     uint32_t group_count, const netcl_tensor *tensors,
                                     uint32_t tensor_count, const netcl_step_options *options)
{
    netcl_clear_error();
    if (optimizer == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "optimizer is NULL");
    }
    netcl_status status = check_options(options);
    return status == NETCL_SUCCESS
               ? step(optimizer, groups, group_count, tensors, tensor_count, options)
               : status;
}

netcl_status netcl_rmsprop_enqueue_step(netcl_rmsprop *optimizer, const netcl_param_group *groups,
                                        uint32_t group_count, const netcl_tensor *tensors,
                                        uint32_t tensor_count, const netcl_step_options *options,
                                        uint32_t wait_count, struct _cl_event *const *wait_events,
                                        struct _cl_event **event)
{
    netcl_clear_error();
    if (optimizer == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "optimizer is NULL");
    }
    if (event != NULL) {
        *event = NULL;
    }
    netcl_rmsprop *opt = optimizer;
    netcl_status status = check_usable(opt);
    if (status == NETCL_SUCCESS && options != NULL) {
        status = check_options(options);
    }
    if (status == NETCL_SUCCESS) {
        status = netcl_check_wait_list(opt->ctx, wait_count, wait_events);
    }
    uint32_t slots_before = 0;
    int reused = 0;
    if (status == NETCL_SUCCESS) {
        status = prepare_step(opt, groups, group_count, tensors, tensor_count, &slots_before,
                              &reused);
    }
    if (status != NETCL_SUCCESS) {
        return status;
    }
    cl_event done = NULL;
    uint32_t launches = 0;
    netcl_signal_guard guard;
    netcl_signal_guard_begin(&guard);  /* the launch may compile */
    status = netcl_kernel_enqueue(opt, groups, group_count, tensors, tensor_count,
                                  options != NULL ? options : &plain_step, wait_count, wait_events,
                                  &done, &launches);
    netcl_signal_guard_end(&guard);
    if (status != NETCL_SUCCESS) {
        return undo_growth(opt, slots_before, status);
    }
    netcl_set_pending(opt, done);
    count_step(opt, groups, group_count, tensors, NETCL_PATH_KERNEL, launches, reused);
    if (event != NULL) {
        /* The caller's reference; the optimizer keeps its own as the pending step. */
        const cl_int err = clRetainEvent(done);
        if (err != CL_SUCCESS) {
            return netcl_mark_broken(opt, netcl_fail(err, "retaining the step's event failed"));
        }
        *event = done;
    }
    return NETCL_SUCCESS;
}

/* Checks the tensors of a gradient pass: valid types, lengths, memory and buffers. */
static netcl_status check_grad_tensors(const netcl_rmsprop *opt, const netcl_tensor *tensors,
                                       uint32_t count)
{
    if (tensors == NULL && count > 0) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "tensors is NULL");
    }
    for (uint32_t i = 0; i < count; ++i) {
        netcl_status status = netcl_check_tensor_memory(opt, &tensors[i], i);
        if (status != NETCL_SUCCESS) {
            return status;
        }
    }
    return NETCL_SUCCESS;
}

static int lists_device_grads(const netcl_tensor *tensors, uint32_t count)
{
    for (uint32_t i = 0; i < count; ++i) {
        if (tensors[i].grad_mem != NULL) {
            return 1;
        }
    }
    return 0;
}

netcl_status netcl_rmsprop_grad_stats(netcl_rmsprop *optimizer, const netcl_tensor *tensors,
                                      uint32_t tensor_count, float inv_scale,
                                      netcl_grad_stats *stats)
{
    netcl_clear_error();
    if (optimizer == NULL || (stats == NULL && tensor_count > 0)) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL", optimizer == NULL ? "optimizer" : "stats");
    }
    netcl_status status = check_usable(optimizer);
    if (status == NETCL_SUCCESS && !isfinite(inv_scale)) {
        status = netcl_fail(NETCL_INVALID_ARGUMENT, "inv_scale %g is not finite", inv_scale);
    }
    if (status == NETCL_SUCCESS) {
        status = check_grad_tensors(optimizer, tensors, tensor_count);
    }
    if (status == NETCL_SUCCESS) {
        status = netcl_device_grad_pass(optimizer, tensors, tensor_count, inv_scale, 0, stats);
    }
    if (status == NETCL_SUCCESS) {
        status = netcl_host_grad_stats(tensors, tensor_count, inv_scale, stats);
    }
    return status;
}

netcl_status netcl_rmsprop_scale_grads(netcl_rmsprop *optimizer, const netcl_tensor *tensors,
                                       uint32_t tensor_count, float factor,
                                       netcl_grad_stats *stats)
{
    netcl_clear_error();
    if (optimizer == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "optimizer is NULL");
    }
    netcl_status status = check_usable(optimizer);
    if (status == NETCL_SUCCESS && !isfinite(factor)) {
        status = netcl_fail(NETCL_INVALID_ARGUMENT, "factor %g is not finite", factor);
    }
    if (status == NETCL_SUCCESS) {
        status = check_grad_tensors(optimizer, tensors, tensor_count);
    }
    /* Device gradients first: their pass can fail without having written anything, the host
     * pass only before it writes. */
    const int any_device = status == NETCL_SUCCESS && lists_device_grads(tensors, tensor_count);
    if (status == NETCL_SUCCESS) {
        status = netcl_device_grad_pass(optimizer, tensors, tensor_count, factor, 1, stats);
    }
    if (status == NETCL_SUCCESS) {
        status = netcl_host_scale_grads(tensors, tensor_count, factor, stats);
        if (status != NETCL_SUCCESS && any_device) {
            netcl_mark_broken(optimizer, status);  /* the device gradients are scaled already */
        }
    }
    return status;
}

netcl_status netcl_rmsprop_get_param_count(const netcl_rmsprop *optimizer, uint32_t *count)
{
    netcl_clear_error();
    if (optimizer == NULL || count == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL", optimizer == NULL ? "optimizer" : "count");
    }
    netcl_status status = check_usable(optimizer);
    if (status == NETCL_SUCCESS) {
        *count = optimizer->state.slot_count;
    }
    return status;
}

netcl_status netcl_rmsprop_get_last_launch_count(const netcl_rmsprop *optimizer, uint32_t *launches)
{
    netcl_clear_error();
    if (optimizer == NULL || launches == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL",
                          optimizer == NULL ? "optimizer" : "launches");
    }
    netcl_status status = check_usable(optimizer);
    if (status == NETCL_SUCCESS) {
        *launches = optimizer->last_launches;
    }
    return status;
}

netcl_status netcl_rmsprop_get_last_path(const netcl_rmsprop *optimizer, int32_t *path)
{
    netcl_clear_error();
    if (optimizer == NULL || path == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL", optimizer == NULL ? "optimizer" : "path");
    }
    netcl_status status = check_usable(optimizer);
    if (status == NETCL_SUCCESS) {
        *path = optimizer->last_path;
    }
    return status;
}

netcl_status netcl_rmsprop_get_state(const netcl_rmsprop *optimizer, uint32_t index,
                                     netcl_param_state *state)
{
    netcl_clear_error();
    if (optimizer == NULL || state == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL", optimizer == NULL ? "optimizer" : "state");
    }
    netcl_status status = check_usable(optimizer);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    memset(state, 0, sizeof *state);
    const state_store *st = &optimizer->state;
    if (index < st->slot_count && st->slots[index].has[STATE_SQUARE_AVG]) {
        const param_slot *slot = &st->slots[index];
        state->step = slot->step + netcl_checked_uncounted(optimizer, index);
        state->numel = slot->numel;
        state->has_square_avg = 1;
        state->has_momentum_buffer = slot->has[STATE_MOMENTUM];
        state->has_grad_avg = slot->has[STATE_GRAD_AVG];
        state->has_master = slot->has[STATE_MASTER];
    }
    return NETCL_SUCCESS;
}

/* The parameter's slot when it has state; fails otherwise. */
static netcl_status readable_slot(const netcl_rmsprop *optimizer, uint32_t index,
                                  const param_slot **slot)
{
    netcl_clear_error();
    if (optimizer == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "optimizer is NULL");
    }
    netcl_status status = check_usable(optimizer);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    /* Reading waits for an enqueued step; the optimizer is only const for the caller. */
    status = netcl_settle((netcl_rmsprop *)optimizer);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    const state_store *st = &optimizer->state;
    if (index >= st->slot_count || !st->slots[index].has[STATE_SQUARE_AVG]) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "parameter %u has no state", index);
    }
    *slot = &st->slots[index];
    return NETCL_SUCCESS;
}

/* The parameter's slot when it has state of `numel` elements; fails otherwise. */
static netcl_status readable_slot_of(const netcl_rmsprop *optimizer, uint32_t index,
                                     uint64_t numel, const param_slot **slot)
{
    netcl_status status = readable_slot(optimizer, index, slot);
    if (status == NETCL_SUCCESS && numel != (*slot)->numel) {
        return netcl_fail(NETCL_STATE_MISMATCH, "parameter %u: state has %llu elements, %llu "
                          "requested", index, (unsigned long long)(*slot)->numel,
                          (unsigned long long)numel);
    }
    return status;
}

netcl_status netcl_rmsprop_read_state(const netcl_rmsprop *optimizer, uint32_t index,
                                      uint64_t numel, float *square_avg, float *momentum_buffer,
                                      float *grad_avg)
{
    const param_slot *slot = NULL;
    netcl_status status = readable_slot_of(optimizer, index, numel, &slot);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    /* Reading copies out; the store is only const for the caller. */
    state_store *st = (state_store *)&optimizer->state;
    float *out[STATE_MASTER] = {square_avg, momentum_buffer, grad_avg};
    for (int k = 0; k < STATE_MASTER; ++k) {
        if (slot->has[k] && out[k] == NULL) {
            return netcl_fail(NETCL_INVALID_ARGUMENT, "parameter %u has a %s but its output is NULL",
                              index, netcl_state_kind_names[k]);
        }
    }
    for (int k = 0; k < STATE_MASTER && status == NETCL_SUCCESS; ++k) {
        if (slot->has[k]) {
            status = netcl_state_copy(st, slot, k, 0, numel, out[k], NULL);
        }
    }
    return status;
}

netcl_status netcl_rmsprop_read_master(const netcl_rmsprop *optimizer, uint32_t index,
                                       uint64_t numel, float *master)
{
    const param_slot *slot = NULL;
    netcl_status status = readable_slot_of(optimizer, index, numel, &slot);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    if (!slot->has[STATE_MASTER] || master == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "parameter %u: %s", index,
                          master == NULL ? "master is NULL" : "no master copy (not BF16/FP16)");
    }
    return netcl_state_copy((state_store *)&optimizer->state, slot, STATE_MASTER, 0, numel, master,
                            NULL);
}

/* The public buffer numbers are the internal kinds. */
_Static_assert((int)NETCL_STATE_SQUARE_AVG == (int)STATE_SQUARE_AVG &&
                   (int)NETCL_STATE_MOMENTUM_BUFFER == (int)STATE_MOMENTUM &&
                   (int)NETCL_STATE_GRAD_AVG == (int)STATE_GRAD_AVG &&
                   (int)NETCL_STATE_MASTER == (int)STATE_MASTER,
               "netcl_state_buffer and the state kinds differ");

netcl_status netcl_rmsprop_read_state_range(const netcl_rmsprop *optimizer, uint32_t index,
                                            int32_t buffer, uint64_t first, uint64_t count,
                                            float *out)
{
    const param_slot *slot = NULL;
    netcl_status status = readable_slot(optimizer, index, &slot);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    if (buffer < 0 || buffer >= STATE_KINDS || !slot->has[buffer]) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "parameter %u has no state buffer %d", index,
                          (int)buffer);
    }
    if (first > slot->numel || count > slot->numel - first) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "parameter %u: %llu elements from %llu go beyond "
                          "its %llu", index, (unsigned long long)count, (unsigned long long)first,
                          (unsigned long long)slot->numel);
    }
    if (out == NULL && count > 0) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "out is NULL");
    }
    state_store *st = (state_store *)&optimizer->state;  /* only const for the caller */
    return count == 0 ? NETCL_SUCCESS
                      : netcl_state_copy(st, slot, buffer, first, count, out, NULL);
}

/* Checks one parameter's incoming state; nothing is changed. */
static netcl_status check_state_values(uint32_t index, const netcl_state_values *in)
{
    if (in->square_avg == NULL && (in->momentum_buffer != NULL || in->grad_avg != NULL ||
                                   in->master != NULL || in->step != 0)) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "parameter %u: state without square_avg (only "
                          "step 0 and no buffers clear a state)", index);
    }
    if (in->square_avg != NULL && (in->numel == 0 || in->numel > (uint64_t)INT64_MAX / sizeof(float))) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "parameter %u: invalid numel %llu", index,
                          (unsigned long long)in->numel);
    }
    if (in->step > (uint64_t)INT64_MAX) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "parameter %u: step %llu is beyond the largest "
                          "step count (2^63 - 1)", index, (unsigned long long)in->step);
    }
    return NETCL_SUCCESS;
}

/*
 * Replaces the state of parameters [0, count): everything is checked, then every new region
 * and buffer is reserved, and only then is anything written, so that a failure (a bad value,
 * the device out of memory) leaves every parameter's state as it was. On a device whose state
 * is not host memory a write can still fail half-way; the optimizer then says it is broken.
 */
static netcl_status load_state(netcl_rmsprop *opt, uint32_t first, uint32_t count,
                               const netcl_state_values *states)
{
    netcl_checked_forget(opt);  /* the next step checks its tensors against the new state */
    netcl_status status = netcl_settle(opt);
    for (uint32_t i = 0; i < count && status == NETCL_SUCCESS; ++i) {
        status = check_state_values(first + i, &states[i]);
    }
    const uint32_t slots_before = opt->state.slot_count;
    if (status == NETCL_SUCCESS) {
        status = netcl_state_grow_slots(&opt->state, first + count);
    }
    uint64_t *numel = NULL;
    unsigned *kinds = NULL;
    if (status == NETCL_SUCCESS) {
        numel = calloc((size_t)first + count + 1, sizeof *numel);
        kinds = calloc((size_t)first + count + 1, sizeof *kinds);
        if (numel == NULL || kinds == NULL) {
            status = netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating the state plan failed");
        }
    }
    if (status == NETCL_SUCCESS) {
        for (uint32_t i = 0; i < count; ++i) {
            const netcl_state_values *in = &states[i];
            if (in->square_avg != NULL) {
                numel[first + i] = in->numel;
                kinds[first + i] = (1u << STATE_SQUARE_AVG) |
                                   (in->momentum_buffer ? 1u << STATE_MOMENTUM : 0u) |
                                   (in->grad_avg ? 1u << STATE_GRAD_AVG : 0u) |
                                   (in->master ? 1u << STATE_MASTER : 0u);
            }
        }
        status = netcl_state_reserve(&opt->state, numel, kinds, first + count);
        opt->plan.valid &= status != NETCL_SUCCESS;
    }
    free(numel);
    free(kinds);
    if (status != NETCL_SUCCESS) {
        return undo_growth(opt, slots_before, status);
    }
    int written = 0;  /* once a value is written, a failure cannot be undone */
    for (uint32_t i = 0; i < count; ++i) {
        const netcl_state_values *in = &states[i];
        param_slot *slot = &opt->state.slots[first + i];
        const float *values[STATE_KINDS] = {in->square_avg, in->momentum_buffer, in->grad_avg,
                                            in->master};
        for (int k = 0; k < STATE_KINDS && status == NETCL_SUCCESS; ++k) {
            if (values[k] != NULL) {
                status = netcl_state_copy(&opt->state, slot, k, 0, in->numel, NULL, values[k]);
                written |= status == NETCL_SUCCESS;
            }
        }
        if (status != NETCL_SUCCESS) {
            return written ? netcl_mark_broken(opt, status) : undo_growth(opt, slots_before, status);
        }
        for (int k = 0; k < STATE_KINDS; ++k) {
            slot->has[k] = values[k] != NULL;
        }
        slot->step = in->step;
    }
    return status;
}

netcl_status netcl_rmsprop_load_state(netcl_rmsprop *optimizer, uint32_t count,
                                      const netcl_state_values *states)
{
    netcl_clear_error();
    if (optimizer == NULL || (states == NULL && count > 0)) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL", optimizer == NULL ? "optimizer" : "states");
    }
    netcl_status status = check_usable(optimizer);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    if (count > NETCL_MAX_PARAMETERS) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "state for %u parameters, more than netcl's "
                          "limit of %u", count, NETCL_MAX_PARAMETERS);
    }
    return load_state(optimizer, 0, count, states);
}

netcl_status netcl_rmsprop_write_state(netcl_rmsprop *optimizer, uint32_t index, uint64_t step,
                                       uint64_t numel, const float *square_avg,
                                       const float *momentum_buffer, const float *grad_avg)
{
    netcl_clear_error();
    if (optimizer == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "optimizer is NULL");
    }
    netcl_status status = check_usable(optimizer);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    if (index >= NETCL_MAX_PARAMETERS) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "parameter index %u out of range (netcl's limit "
                          "is %u parameters)", index, NETCL_MAX_PARAMETERS);
    }
    const netcl_state_values in = {step, numel, square_avg, momentum_buffer, grad_avg, NULL};
    return load_state(optimizer, index, 1, &in);
}
