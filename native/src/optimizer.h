/* The optimizer's private types, shared by the files that implement it: rmsprop.c (public API
 * and the step), state.c (state blocks and slots), plan.c (the kernel path's launch plans),
 * host_step.c (the host path) and validate.c (argument checks). */
#ifndef NETCL_OPTIMIZER_H
#define NETCL_OPTIMIZER_H

#include <stdint.h>

#include "host_run.h"
#include "internal.h"
#include "kernel_hyper.h"

/* Tensors whose data (and grads) are at most this far apart still share one span. */
#define SPAN_MAX_GAP_BYTES 256u
/* Slot offsets are rounded to this many floats. 1: the state of tensors placed together lies
 * back to back like the tensors themselves, so the host path updates slices of one allocation
 * in one loop (1,000 tensors of 100 floats: 60 us with 128-byte aligned slots, one tensor of
 * the same total 36 us); the vector loops and the kernels load unaligned state at no measurable
 * cost on CPUs. */
#define SLOT_ALIGN_FLOATS 1u
/* The first state block holds at least this many floats; later ones at least double. */
#define FIRST_BLOCK_FLOATS (1u << 16)

/* Kinds of per-parameter state; MASTER is the float32 copy of a BF16/FP16 parameter. */
enum { STATE_SQUARE_AVG, STATE_MOMENTUM, STATE_GRAD_AVG, STATE_MASTER, STATE_KINDS };

/*
 * State lives in blocks, each at most one device allocation, never moved once made (so growing
 * copies nothing). A block holds one buffer per kind of state, created when a slot first needs
 * that kind; a parameter's state of every kind sits at the same offset of one block. On a CPU
 * device that shares host memory the buffers wrap netcl's own host memory (zero-copy, checked by
 * mapping), which the host path then updates directly; they stay mapped except while a kernel
 * uses them, as OpenCL requires for host access to CL_MEM_USE_HOST_PTR memory.
 */
typedef struct state_block {
    uint64_t capacity;             /* floats */
    uint64_t used;
    cl_mem mem[STATE_KINDS];
    float *host[STATE_KINDS];      /* host-visible state: the memory `mem` wraps, else NULL */
    int mapped[STATE_KINDS];
} state_block;

typedef struct param_slot {
    uint64_t step;
    uint64_t numel;
    uint64_t offset;               /* in floats, within its block, the same for every kind */
    uint32_t block;
    int allocated;
    int has[STATE_KINDS];
} param_slot;

typedef enum span_kind { SPAN_ZERO_COPY, SPAN_STAGED, SPAN_DEVICE } span_kind;

typedef struct span {
    span_kind kind;
    uint32_t group;
    uint32_t block;                /* the state block of all its tensors */
    int32_t dtype;                 /* the element type of all its tensors */
    uint32_t first_tensor;         /* tensors [first_tensor, end_tensor) with a gradient */
    uint32_t end_tensor;
    void *host_data;               /* host spans: the base the chunk offsets count from */
    const void *host_grad;
    cl_mem data;                   /* owned for host spans, retained for device spans */
    cl_mem grad;
    size_t data_bytes;             /* host spans: the memory from the first to the last tensor */
    size_t grad_bytes;
    int mapped[2];                 /* zero-copy spans: data, grad mapped for the host */
    cl_mem spare_grad;             /* zero-copy spans: the gradients' buffer at their place */
    const void *spare_host_grad;   /* before they moved, still mapped, for their return */
    uint32_t chunk_first, chunk_count;  /* the span's entries in the chunk table */
    cl_kernel kernel;
} span;

/*
 * A step's tensor list and groups as they were at one step (step_key.c), to recognise the same
 * list later: the same bytes of every netcl_tensor (addresses, lengths, types, gradient
 * presence) and per group the same first tensor, count and variant (group_variant).
 */
typedef struct step_key {
    uint32_t tensor_count;
    uint32_t group_count;
    netcl_tensor *tensors;         /* NULL: matches nothing */
    uint32_t *groups;              /* per group: first, count, variant */
} step_key;

typedef struct plan {
    int valid;
    int32_t memory_mode;
    step_key key;                  /* the step the plan was made for */
    kernel_hyper *hyper;           /* per group, the values last set on its kernels */
    int *hyper_set;
    span *spans;
    uint32_t span_count;
    cl_mem chunks;
} plan;

/*
 * The tensor list of the last step, once its checks passed and its state was in place
 * (checked_list.c). A step over the same list (step_key) skips the per-tensor checks and state
 * bookkeeping while `reusable`: its tensors are host memory (a device buffer's handle may name
 * another buffer by then), no state was loaded since, and no step count is at its limit. For
 * 1,000 tensors of 100 floats those took about a third of the step.
 */
typedef struct checked_list {
    step_key key;
    int reusable;
    int device_tensors;            /* any tensor in device buffers */
    uint64_t elements;             /* elements with a gradient */
    host_run *runs;                /* host tensors and host-visible state only, else NULL */
    uint32_t run_count;
} checked_list;

typedef struct state_store {
    netcl_context *ctx;
    int host_visible;              /* state wraps host memory (CPU devices); see state_block */
    uint64_t block_limit_bytes;    /* the device's largest allocation (or a test's lower limit) */
    state_block *blocks;
    uint32_t block_count;
    param_slot *slots;
    uint32_t slot_count;
    uint32_t slot_capacity;
} state_store;

struct netcl_rmsprop {
    netcl_context *ctx;
    state_store state;
    plan plan;
    checked_list checked;
    /* The list checked before it, while its gradients are elsewhere now: gradients used in turn
     * from two buffers find their list here (checked_list.c). */
    checked_list spare_checked;
    /* Steps over the checked list (or the spare: the same tensors) not yet added to its stepped
     * tensors' slots (param_slot.step), and the largest of those slots' counts: a reused list's
     * steps count once, when it is forgotten (checked_list.c). */
    uint64_t uncounted_steps;
    uint64_t most_steps;
    int32_t path;                  /* enum netcl_path: which path steps take */
    int32_t last_path;
    uint32_t last_launches;
    /* The end of the last step enqueued and not yet waited for (events.c), else NULL. */
    cl_event pending;
    /* A device failure after a step's work was enqueued left parameters or state partly
     * updated; every later call then fails with NETCL_BROKEN and this message. */
    netcl_status broken;
    char broken_message[512];
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

/* The kernel's hyperparameters of a group: -lr, and 1 - alpha computed in double like PyTorch;
 * the step's gradient scaling (netcl_step_options). */
static inline kernel_hyper group_hyper(const netcl_param_group *g, const netcl_step_options *o)
{
    const kernel_hyper h = {(cl_float)(-g->lr), (cl_float)g->alpha, (cl_float)(1.0 - g->alpha),
                            (cl_float)g->eps, (cl_float)g->weight_decay, (cl_float)g->momentum,
                            o->inv_scale, o->clip_coef};
    return h;
}

/* Bytes of one element of a tensor's data and gradient. */
static inline size_t tensor_element_size(const netcl_tensor *t)
{
    return t->dtype == NETCL_FP32 ? 4u : 2u;
}

/* rmsprop.c: records a failure that left the optimizer partly updated; returns `status`. */
netcl_status netcl_mark_broken(netcl_rmsprop *opt, netcl_status status);

/* plan.c: the kernel path. Enqueues a step after the caller's wait list and sets `*done` to an
 * event that completes with it; nothing waits. */
void netcl_plan_release(netcl_context *ctx, plan *pl);
netcl_status netcl_kernel_enqueue(netcl_rmsprop *opt, const netcl_param_group *groups,
                                  uint32_t group_count, const netcl_tensor *tensors,
                                  uint32_t tensor_count, const netcl_step_options *options,
                                  uint32_t wait_count,
                                  const cl_event *wait_events, cl_event *done, uint32_t *launches);

/* events.c */
/* Checks a caller's wait list: see netcl_rmsprop_enqueue_step. */
netcl_status netcl_check_wait_list(const netcl_context *ctx, uint32_t count, const cl_event *events);
/* Makes `done` the optimizer's pending step, replacing (and releasing) an older one. */
void netcl_set_pending(netcl_rmsprop *opt, cl_event done);
/* Waits for the pending step, if any, before the host touches state; its failure marks the
 * optimizer broken. */
netcl_status netcl_settle(netcl_rmsprop *opt);

/* step_key.c: whether a step's list is the key's (its groups and tensor count alone: _groups;
 * all but where its host gradients are: _but_grads); setting it replaces the list it held. */
int netcl_step_key_matches_groups(const step_key *key, const netcl_param_group *groups,
                                  uint32_t group_count, uint32_t tensor_count);
int netcl_step_key_matches(const step_key *key, const netcl_param_group *groups,
                           uint32_t group_count, const netcl_tensor *tensors, uint32_t tensor_count);
int netcl_step_key_matches_but_grads(const step_key *key, const netcl_param_group *groups,
                                     uint32_t group_count, const netcl_tensor *tensors,
                                     uint32_t tensor_count);
netcl_status netcl_step_key_set(step_key *key, const netcl_param_group *groups,
                                uint32_t group_count, const netcl_tensor *tensors,
                                uint32_t tensor_count);
void netcl_step_key_release(step_key *key);

/* host_step.c: the host path (host tensors and host-visible state only). The runs of a step
 * (malloc'ed into *runs, or NULL when there are none), the same runs pointed at gradients that
 * moved (0 where they must be built again), then the step over them. */
netcl_status netcl_host_runs(const netcl_rmsprop *opt, const netcl_param_group *groups,
                             uint32_t group_count, const netcl_tensor *tensors, host_run **runs,
                             uint32_t *run_count);
int netcl_host_runs_move_grads(const netcl_param_group *groups, uint32_t group_count,
                               const netcl_tensor *tensors, host_run *runs);
void netcl_host_step(const netcl_param_group *groups, const host_run *runs, uint32_t run_count,
                     const netcl_step_options *options, uint64_t elements);
/* Gradient statistics and in-place scaling (netcl_rmsprop_grad_stats, _scale_grads) of the
 * host tensors of a list; the entries of device gradients (grad_mem) in `stats` are left as
 * they are. */
netcl_status netcl_host_grad_stats(const netcl_tensor *tensors, uint32_t count, float inv_scale,
                                   netcl_grad_stats *stats);
netcl_status netcl_host_scale_grads(const netcl_tensor *tensors, uint32_t count, float factor,
                                    netcl_grad_stats *stats);
/* A gradient's statistics from its sum of squares (of the elements times `factor`) and the
 * largest magnitude of its elements as given, as float bits (host and device passes alike). */
void netcl_grad_stats_result(double sum, uint32_t largest_bits, float factor,
                             netcl_grad_stats *out);
/* Fills a master copy with a BF16/FP16 parameter's values, converted to float32. */
void netcl_host_to_float(const netcl_tensor *t, float *out);

/* device_grads.c: the same passes over the device gradients (grad_mem) of a list, one kernel
 * launch per gradient buffer; the entries of the other tensors in `stats` (which may be NULL)
 * are left as they are. A failure after scaled values may have been written marks the optimizer
 * broken. */
netcl_status netcl_device_grad_pass(netcl_rmsprop *opt, const netcl_tensor *tensors,
                                    uint32_t count, float factor, int write,
                                    netcl_grad_stats *stats);

/* state.c */
extern const char *const netcl_state_kind_names[STATE_KINDS];
netcl_status netcl_state_init(state_store *st, netcl_context *ctx);
void netcl_state_release(state_store *st);
netcl_status netcl_state_grow_slots(state_store *st, uint32_t count);
/* Places a region for every tensor i with need[i] != 0 floats of state whose slot lacks one of
 * that size, and creates every buffer kind in kinds[i] (bits) in its block. All or nothing. */
netcl_status netcl_state_reserve(state_store *st, const uint64_t *numel, const unsigned *kinds,
                                 uint32_t count);
/* Host-visible state: the host address of a slot's state of `kind`. */
float *netcl_state_host(const state_store *st, const param_slot *slot, int kind);
/* Zeroes a slot's state of `kind` (new state starts at zero, like torch.zeros_like). */
netcl_status netcl_state_zero(state_store *st, const param_slot *slot, int kind);
/* Copies elements first .. first+count-1 of a slot's state of `kind` out (in == NULL) or in. */
netcl_status netcl_state_copy(state_store *st, const param_slot *slot, int kind, uint64_t first,
                              uint64_t count, float *out, const float *in);
/* Makes a BF16/FP16 tensor's master copy from its (host) values. */
netcl_status netcl_state_fill_master(state_store *st, const param_slot *slot,
                                     const netcl_tensor *t);
/* Unmaps (before kernels) or maps (after them) every host-visible state buffer. */
netcl_status netcl_state_set_mapped(state_store *st, int mapped);

/* checked_list.c: the list a step just checked and prepared becomes the checked list (_record);
 * whether a step may reuse it (or the spare, or it with moved gradients, whose checks' failure
 * is *status) instead of checking its tensors (_reuse); after a step that counted its tensors'
 * steps (the largest count now `most_steps`) or one that reused the list, whether the lists
 * stay reusable (_stepped, _stepped_again); the steps a slot has beyond param_slot.step
 * (_uncounted); nothing reusable and every step counted (_forget), as when state may move or
 * be loaded; freeing both. */
netcl_status netcl_checked_record(netcl_rmsprop *opt, const netcl_param_group *groups,
                                  uint32_t group_count, const netcl_tensor *tensors,
                                  uint32_t tensor_count);
int netcl_checked_reuse(netcl_rmsprop *opt, const netcl_param_group *groups,
                        uint32_t group_count, const netcl_tensor *tensors, uint32_t tensor_count,
                        netcl_status *status);
void netcl_checked_stepped(netcl_rmsprop *opt, uint64_t most_steps);
void netcl_checked_stepped_again(netcl_rmsprop *opt);
uint64_t netcl_checked_uncounted(const netcl_rmsprop *opt, uint32_t index);
void netcl_checked_forget(netcl_rmsprop *opt);
void netcl_checked_release(netcl_rmsprop *opt);

/* validate.c */
netcl_status netcl_check_groups(const netcl_param_group *groups, uint32_t group_count,
                                uint32_t tensor_count);
netcl_status netcl_check_tensor(const netcl_rmsprop *opt, const netcl_tensor *t, uint32_t i);
/* The part of netcl_check_tensor about a host tensor's type and memory, without its state. */
netcl_status netcl_check_tensor_memory(const netcl_rmsprop *opt, const netcl_tensor *t, uint32_t i);
/* Its part about a host gradient (whose data passed the rest): alignment, range, overlap. */
netcl_status netcl_check_host_grad(const netcl_tensor *t, uint32_t i);

#endif
