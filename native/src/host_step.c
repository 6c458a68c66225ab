/*
 * The host path: the same fused update as native/kernels/rmsprop.cl, compiled into the library
 * and run on the calling thread over host tensors and host-visible state. A small step then
 * costs no OpenCL dispatch at all (15-60 us on PoCL, more than the whole update below ~2^18
 * floats).
 *
 * Exactness: every operation rounds as in the kernel (and in PyTorch 1.13's CPU kernels):
 * contraction is off for this file (-ffp-contract=off) and each fma is written out; sqrtf and
 * the divisions are IEEE-exact in every vector width. The loops are compiled for AVX-512,
 * AVX2+FMA and baseline x86-64 (target_clones picks at load time), so fmaf is one instruction
 * wherever the CPU has one, and libm's exact fmaf elsewhere.
 */
#include <math.h>
#include <stdint.h>

#include "optimizer.h"
#include "worker_pool.h"

#ifndef HOST_PARALLEL_MIN_ELEMENTS
#define HOST_PARALLEL_MIN_ELEMENTS (1u << 16)
#endif

static inline __attribute__((always_inline)) void update(
    const kernel_hyper h, float *restrict p, const float *restrict g, float *restrict v,
    float *restrict mb, float *restrict ga, uint64_t n, const int weight_decay, const int maximize,
    const int momentum, const int centered)
{
    for (uint64_t i = 0; i < n; ++i) {
        const float param = p[i];
        float grad = maximize ? -g[i] : g[i];
        if (weight_decay) {
            grad = fmaf(h.weight_decay, param, grad);
        }
        const float square_avg = fmaf(h.one_minus_alpha * grad, grad, v[i] * h.alpha);
        v[i] = square_avg;
        float avg;
        if (centered) {
            const float grad_avg = fmaf(h.one_minus_alpha, grad, ga[i] * h.alpha);
            ga[i] = grad_avg;
            avg = sqrtf(fmaf(-grad_avg, grad_avg, square_avg)) + h.eps;
        } else {
            avg = sqrtf(square_avg) + h.eps;
        }
        if (momentum) {
            const float buf = mb[i] * h.momentum + grad / avg;
            mb[i] = buf;
            p[i] = fmaf(h.neg_lr, buf, param);
        } else {
            p[i] = param + (h.neg_lr * grad) / avg;
        }
    }
}

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static void update_variant(unsigned variant, const kernel_hyper h, float *p, const float *g,
                           float *v, float *mb, float *ga, uint64_t n)
{
    /* One specialized loop per variant (bits: weight decay, maximize, momentum, centered). */
#define NETCL_VARIANT(V) \
    case V: update(h, p, g, v, mb, ga, n, (V >> 3) & 1, (V >> 2) & 1, (V >> 1) & 1, V & 1); break;
    switch (variant) {
        NETCL_VARIANT(0) NETCL_VARIANT(1) NETCL_VARIANT(2) NETCL_VARIANT(3)
        NETCL_VARIANT(4) NETCL_VARIANT(5) NETCL_VARIANT(6) NETCL_VARIANT(7)
        NETCL_VARIANT(8) NETCL_VARIANT(9) NETCL_VARIANT(10) NETCL_VARIANT(11)
        NETCL_VARIANT(12) NETCL_VARIANT(13) NETCL_VARIANT(14) NETCL_VARIANT(15)
    default: break;
    }
#undef NETCL_VARIANT
}

/* A host step split into parts of about equal element counts over all its tensors. */
typedef struct host_job {
    const netcl_rmsprop *opt;
    const netcl_param_group *groups;
    uint32_t group_count;
    const netcl_tensor *tensors;
    uint64_t elements;
} host_job;

/* Parts start at multiples of 16 floats (64 bytes): no two threads write one cache line. */
static uint64_t part_start(uint64_t elements, unsigned part, unsigned parts)
{
    const uint64_t at = (uint64_t)((unsigned __int128)elements * part / parts);
    return part == parts ? elements : at / 16 * 16;
}

static void run_part(void *arg, unsigned part, unsigned parts)
{
    const host_job *job = arg;
    const state_store *st = &job->opt->state;
    const uint64_t begin = part_start(job->elements, part, parts);
    const uint64_t end = part_start(job->elements, part + 1, parts);
    uint64_t at = 0;  /* the first element of the current tensor in the step's element order */
    for (uint32_t g = 0; g < job->group_count && at < end; ++g) {
        const netcl_param_group *group = &job->groups[g];
        const kernel_hyper h = group_hyper(group);
        const unsigned variant = group_variant(group);
        for (uint32_t i = group->first; i < group->first + group->count && at < end; ++i) {
            const netcl_tensor *t = &job->tensors[i];
            if (!has_grad(t)) {
                continue;
            }
            const uint64_t from = begin > at ? begin - at : 0;
            const uint64_t to = end - at < t->numel ? end - at : t->numel;
            at += t->numel;
            if (from >= to) {
                continue;
            }
            const param_slot *slot = &st->slots[i];
            float *v = netcl_state_host(st, slot, STATE_SQUARE_AVG);
            float *mb = (variant & 2u) ? netcl_state_host(st, slot, STATE_MOMENTUM) : v;
            float *ga = (variant & 1u) ? netcl_state_host(st, slot, STATE_GRAD_AVG) : v;
            update_variant(variant, h, t->data + from, t->grad + from, v + from, mb + from,
                           ga + from, to - from);
        }
    }
}

void netcl_host_step(netcl_rmsprop *opt, const netcl_param_group *groups, uint32_t group_count,
                     const netcl_tensor *tensors, uint64_t elements)
{
    host_job job = {opt, groups, group_count, tensors, elements};
    /* Below this many elements one thread is faster than waking others. TODO(measure) */
    const unsigned parts = elements >= HOST_PARALLEL_MIN_ELEMENTS ? netcl_pool_threads() : 1;
    if (parts > 1) {
        netcl_pool_run(run_part, &job, parts);
    } else {
        run_part(&job, 0, 1);
    }
}
