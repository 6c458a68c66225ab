/* The optimizer's private types, shared by the files that implement it: rmsprop.c (public API
 * and the step), state.c (state pools), plan.c (launch plans) and validate.c (argument checks). */
#ifndef NETCL_OPTIMIZER_H
#define NETCL_OPTIMIZER_H

#include <stdint.h>

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


static inline unsigned group_variant(const netcl_param_group *g)
{
    return (g->weight_decay != 0.0 ? 8u : 0u) | (g->maximize ? 4u : 0u) |
           (g->momentum > 0.0 ? 2u : 0u) | (g->centered ? 1u : 0u);
}

static inline int has_grad(const netcl_tensor *t)
{
    return t->grad != NULL || t->grad_mem != NULL;
}


/* plan.c */
void netcl_plan_release(plan *pl);
int netcl_plan_matches(const plan *pl, const netcl_context *ctx, const netcl_param_group *groups,
                       uint32_t group_count, const netcl_tensor *tensors, uint32_t tensor_count);
netcl_status netcl_plan_build(netcl_rmsprop *opt, const netcl_param_group *groups,
                              uint32_t group_count, const netcl_tensor *tensors,
                              uint32_t tensor_count);
netcl_status netcl_enqueue_staging(netcl_context *ctx, const span *sp, const netcl_tensor *tensors,
                                   int to_device);
netcl_status netcl_enqueue_launch(netcl_context *ctx, cl_kernel kernel, uint32_t chunks);

/* state.c */
netcl_status netcl_state_grow_slots(netcl_rmsprop *opt, uint32_t count);
netcl_status netcl_state_reserve_pools(netcl_rmsprop *opt, uint64_t needed, unsigned wanted);
uint64_t netcl_slot_floats(uint64_t numel);
int netcl_slot_needs_region(const param_slot *slot, uint64_t numel);
void netcl_state_place_slot(netcl_rmsprop *opt, param_slot *slot, uint64_t numel);
netcl_status netcl_state_zero(netcl_context *ctx, cl_mem pool, const param_slot *slot);

/* validate.c */
netcl_status netcl_check_groups(const netcl_param_group *groups, uint32_t group_count,
                                uint32_t tensor_count);
netcl_status netcl_check_tensor(const netcl_rmsprop *opt, const netcl_tensor *t, uint32_t i);

#endif
