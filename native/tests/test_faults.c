/*
 * OpenCL failing: every OpenCL call netcl makes in a scenario is made to fail in turn, and what
 * netcl does about it is checked against its contract. `test_faults SRC_DIR` (native/src).
 *
 * For each scenario (context creation; first, steady and growing steps on the kernel path and
 * the host path; several spans; staged copies; enqueued steps after a wait list; read_state,
 * write_state, load_state; gradient statistics and scaling over host and device gradients; on a
 * context like a CPU device's and on one like a discrete GPU's) a clean run first counts the
 * calls per function; then, for every function and every n up to its count, the scenario runs
 * again with the nth call failing (fault/fault_inject.h). Each such injection point ends in one
 * of:
 *   ok          the call succeeded anyway (netcl has a fallback) and every result, then and over
 *               the following steps, equals the clean run's bit for bit;
 *   clean       the call failed with the injected status (or netcl's documented name for it),
 *               nothing changed (the caller's tensors, every parameter's state, the counts), and
 *               the optimizer stayed usable: the same call then succeeds and the trajectory
 *               equals the clean run's bit for bit;
 *   broken      the call failed with the injected status after some of its work had been
 *               enqueued (a kernel launch, or a buffer write, read or fill) or while waiting
 *               for it (clFinish, clWaitForEvents),
 *               and every later call on the optimizer returns NETCL_BROKEN with a message naming
 *               that status, without touching the tensors; netcl_rmsprop_destroy frees it all;
 *   unexpected  anything else: a change without a reported failure (half-updated), another
 *               status than the one injected, a fault that could not be reached again, a failed
 *               retry, a leaked OpenCL object. The test fails on any.
 * Every point also checks that no OpenCL object outlives the optimizer or context involved;
 * under the sanitized build LeakSanitizer checks host memory at exit.
 * Before any of that, the cl* functions called in SRC_DIR must be exactly the ones the harness
 * interposes, so that a function netcl starts calling cannot go untested.
 */
#define _POSIX_C_SOURCE 200809L /* opendir, unsetenv */
#include <ctype.h>
#include <dirent.h>

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "fault_inject.h"
#include "test_util.h"

/* What each function fails with (a status the OpenCL spec lists for it) and what netcl may
 * report instead: its own documented status for the same failure. */
typedef struct injection {
    const char *function;
    cl_int code;
    netcl_status reported;
} injection;

static const injection injections[] = {
    {"clGetPlatformIDs", CL_OUT_OF_HOST_MEMORY, CL_OUT_OF_HOST_MEMORY},
    {"clGetDeviceIDs", CL_OUT_OF_HOST_MEMORY, CL_OUT_OF_HOST_MEMORY},
    {"clGetDeviceInfo", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clCreateContext", CL_OUT_OF_HOST_MEMORY, CL_OUT_OF_HOST_MEMORY},
    {"clCreateCommandQueue", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clGetCommandQueueInfo", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clCreateProgramWithSource", CL_OUT_OF_HOST_MEMORY, CL_OUT_OF_HOST_MEMORY},
    {"clBuildProgram", CL_BUILD_PROGRAM_FAILURE, NETCL_BUILD_FAILED},
    {"clGetProgramBuildInfo", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clCreateKernel", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clSetKernelArg", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clCreateBuffer", CL_MEM_OBJECT_ALLOCATION_FAILURE, CL_MEM_OBJECT_ALLOCATION_FAILURE},
    {"clGetMemObjectInfo", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clEnqueueMapBuffer", CL_MAP_FAILURE, CL_MAP_FAILURE},
    {"clEnqueueUnmapMemObject", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clEnqueueFillBuffer", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clEnqueueWriteBuffer", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clEnqueueReadBuffer", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clEnqueueNDRangeKernel", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clEnqueueBarrierWithWaitList", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clEnqueueMarkerWithWaitList", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clFlush", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clFinish", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clWaitForEvents", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
    {"clGetEventInfo", CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES},
};
enum { INJECTION_COUNT = sizeof injections / sizeof injections[0] };

/* ---- the caller's memory ------------------------------------------------------------------ */

enum {
    A_FLOATS = 2048,     /* one host allocation: tensors that share a span (and its BF16 twin) */
    B_FLOATS = 128,      /* another: a span of its own */
    C_FLOATS = 70000,    /* a tensor whose state needs a block of its own (the first holds 2^16) */
    DEVICE_FLOATS = 1000,
    SMALL_FLOATS = 64,   /* the tensor a new context is tried on */
    STEPS_AFTER = 2      /* steps taken after the call under test */
};

typedef struct world {
    cl_device_id device;
    cl_context cl_ctx;
    cl_command_queue queue;
    /* On the three above, shared by the optimizer scenarios: one as the device is (zero-copy,
     * host-visible state), one told the device shares no memory with the host (state in device
     * buffers, tensors staged), as on a discrete GPU. */
    netcl_context *ctx, *discrete_ctx;
    float *a_data, *a_grad, *b_data, *b_grad, *c_data, *c_grad, *small_data, *small_grad;
    float *moved_grad;               /* a_grad's values elsewhere: a fresh gradient buffer */
    float *moved_again_grad;         /* and in a third place */
    const float *moving_grad;        /* where ONE_SPAN_MOVING's gradients lie at this step */
    uint16_t *bf16_data, *bf16_grad; /* A_FLOATS BF16 elements each */
    cl_mem device_data, device_grad;
    cl_event ready;                                 /* a completed user event: a wait list */
    float *square_avg, *momentum_buffer, *grad_avg; /* state write_state writes */
    float *out[3];                                  /* state read_state reads */
} world;

static void fill(uint64_t seed, float *out, size_t n)
{
    test_rng rng = {seed};
    test_rng_fill(&rng, out, n);
}

/* BF16 values: the upper halves of random floats. */
static void fill_bf16(uint64_t seed, uint16_t *out, size_t n)
{
    test_rng rng = {seed};
    for (size_t i = 0; i < n; ++i) {
        const float f = test_rng_float(&rng);
        uint32_t bits;
        memcpy(&bits, &f, sizeof bits);
        out[i] = (uint16_t)(bits >> 16);
    }
}

static void write_device(world *w, cl_mem buffer, uint64_t seed)
{
    float values[DEVICE_FLOATS];
    fill(seed, values, DEVICE_FLOATS);
    const cl_int err = clEnqueueWriteBuffer(w->queue, buffer, CL_TRUE, 0, sizeof values, values, 0,
                                            NULL, NULL);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "writing a test buffer failed: %d\n", err);
        exit(1);
    }
}

/* Parameters as at the start of every case. */
static void reset_parameters(world *w)
{
    fill(1, w->a_data, A_FLOATS);
    fill(2, w->b_data, B_FLOATS);
    fill(3, w->c_data, C_FLOATS);
    fill(4, w->small_data, SMALL_FLOATS);
    fill_bf16(6, w->bf16_data, A_FLOATS);
    write_device(w, w->device_data, 5);
}

/* The gradients of step k (written outside the armed window: they are the test's calls). */
static void set_gradients(world *w, int k)
{
    fill(100 + 8 * (uint64_t)k, w->a_grad, A_FLOATS);
    memcpy(w->moved_grad, w->a_grad, A_FLOATS * sizeof(float));
    memcpy(w->moved_again_grad, w->a_grad, A_FLOATS * sizeof(float));
    const float *const places[] = {w->a_grad, w->moved_grad, w->moved_again_grad};
    w->moving_grad = places[k % 3];
    fill(101 + 8 * (uint64_t)k, w->b_grad, B_FLOATS);
    fill(102 + 8 * (uint64_t)k, w->c_grad, C_FLOATS);
    fill(103 + 8 * (uint64_t)k, w->small_grad, SMALL_FLOATS);
    write_device(w, w->device_grad, 104 + 8 * (uint64_t)k);
    fill_bf16(105 + 8 * (uint64_t)k, w->bf16_grad, A_FLOATS);
}

/* ---- step layouts ------------------------------------------------------------------------- */

typedef enum layout {
    ONE_SPAN,         /* one group (momentum, centered): two tensors side by side in A */
    ONE_SPAN_MOVED,   /* ONE_SPAN with its gradients in another buffer (a plan's grads move) */
    ONE_SPAN_MOVING,  /* ONE_SPAN with its gradients in three buffers in turn, step by step: from
                         the third step on, a place new to the plan's current and spare buffers */
    GROWN,            /* ONE_SPAN plus a third tensor of C_FLOATS: the state needs a new block */
    THREE_SPANS,      /* group 0: two tensors in A, one in B; group 1: two in one cl_mem */
    TWO_STAGED_SPANS, /* group 0: two tensors in A; group 1 (momentum): one in B */
    BF16_SPAN,        /* one group (momentum): two BF16 tensors side by side, with masters */
    TWO_GRAD_BUFFERS  /* one group: two device tensors whose gradients lie in two cl_mems */
} layout;

typedef struct step_args {
    netcl_param_group groups[2];
    uint32_t group_count;
    netcl_tensor tensors[5];
    uint32_t tensor_count;
} step_args;

static netcl_tensor device_tensor(const world *w, uint64_t offset, uint64_t numel)
{
    netcl_tensor t = {0};
    t.data_mem = w->device_data;
    t.grad_mem = w->device_grad;
    t.data_offset = t.grad_offset = offset;
    t.numel = numel;
    return t;
}

static netcl_tensor bf16_tensor(uint16_t *data, const uint16_t *grad, uint64_t numel)
{
    netcl_tensor t = {0};
    t.data = data;
    t.grad = grad;
    t.numel = numel;
    t.dtype = NETCL_BF16;
    return t;
}

static step_args make_step(const world *w, layout l)
{
    step_args a = {0};
    if (l == ONE_SPAN || l == GROWN) {
        a.groups[0] = test_default_group(0, l == GROWN ? 3 : 2);
        a.groups[0].momentum = 0.9;
        a.groups[0].centered = 1;
        a.group_count = 1;
        a.tensors[0] = test_host_tensor(w->a_data, w->a_grad, 1000);
        a.tensors[1] = test_host_tensor(w->a_data + 1000, w->a_grad + 1000, 300);
        a.tensors[2] = test_host_tensor(w->c_data, w->c_grad, C_FLOATS);
        a.tensor_count = l == GROWN ? 3 : 2;
    } else if (l == ONE_SPAN_MOVED || l == ONE_SPAN_MOVING) {
        const float *grad = l == ONE_SPAN_MOVED ? w->moved_grad : w->moving_grad;
        a = make_step(w, ONE_SPAN);
        a.tensors[0].grad = grad;
        a.tensors[1].grad = grad + 1000;
    } else if (l == THREE_SPANS) {
        a.groups[0] = test_default_group(0, 3);
        a.groups[1] = test_default_group(3, 2);
        a.groups[1].momentum = 0.5;
        a.groups[1].centered = 1;
        a.groups[1].maximize = 1;
        a.groups[1].weight_decay = 0.01;
        a.group_count = 2;
        a.tensors[0] = test_host_tensor(w->a_data, w->a_grad, 500);
        a.tensors[1] = test_host_tensor(w->a_data + 500, w->a_grad + 500, 700);
        a.tensors[2] = test_host_tensor(w->b_data, w->b_grad, 100);
        a.tensors[3] = device_tensor(w, 0, 600);
        a.tensors[4] = device_tensor(w, 600, 400);
        a.tensor_count = 5;
    } else if (l == TWO_GRAD_BUFFERS) {
        /* The second tensor's data and gradient swap buffers: a gradient pass launches twice. */
        a.groups[0] = test_default_group(0, 2);
        a.group_count = 1;
        a.tensors[0] = device_tensor(w, 0, 400);
        a.tensors[1] = device_tensor(w, 600, 400);
        a.tensors[1].data_mem = w->device_grad;
        a.tensors[1].grad_mem = w->device_data;
        a.tensor_count = 2;
    } else if (l == BF16_SPAN) {
        a.groups[0] = test_default_group(0, 2);
        a.groups[0].momentum = 0.9;
        a.group_count = 1;
        a.tensors[0] = bf16_tensor(w->bf16_data, w->bf16_grad, 1000);
        a.tensors[1] = bf16_tensor(w->bf16_data + 1000, w->bf16_grad + 1000, 300);
        a.tensor_count = 2;
    } else {
        a.groups[0] = test_default_group(0, 2);
        a.groups[1] = test_default_group(2, 1);
        a.groups[1].momentum = 0.9;
        a.group_count = 2;
        a.tensors[0] = test_host_tensor(w->a_data, w->a_grad, 500);
        a.tensors[1] = test_host_tensor(w->a_data + 500, w->a_grad + 500, 700);
        a.tensors[2] = test_host_tensor(w->b_data, w->b_grad, 100);
        a.tensor_count = 3;
    }
    return a;
}

static netcl_status step(world *w, netcl_rmsprop *opt, layout l, int k)
{
    set_gradients(w, k);
    const step_args a = make_step(w, l);
    return netcl_rmsprop_step(opt, a.groups, a.group_count, a.tensors, a.tensor_count);
}

/* ---- scenarios ---------------------------------------------------------------------------- */

typedef enum operation {
    CREATE_CONTEXT,          /* the first context on the device */
    CREATE_SHARED_CONTEXT,   /* another while one lives: it shares the first one's kernels */
    CREATE_CONTEXT_FROM_CL,
    STEP,
    STEP_WITH,               /* a step with its gradients unscaled and clipped on the fly */
    ENQUEUE_STEP,            /* a step enqueued after a wait list (its event is let go) */
    READ_STATE,
    WRITE_STATE,
    LOAD_STATE,              /* parameters 0, 1 and a new 2 of C_FLOATS at once */
    GRAD_STATS,              /* the gradient statistics of the step's tensors */
    SCALE_GRADS              /* their gradients scaled in place, with statistics */
} operation;

typedef struct scenario {
    const char *name;
    operation op;
    int discrete;         /* on world.discrete_ctx */
    int32_t memory_mode;
    int32_t path;
    layout before;        /* the steps taken before the call under test */
    int steps_before;
    layout after;         /* the step under test (STEP) and the steps after the call */
    uint32_t state_index; /* READ_STATE, WRITE_STATE */
    uint64_t state_numel;
} scenario;

static const scenario scenarios[] = {
    {.name = "context_create", .op = CREATE_CONTEXT},
    {.name = "context_create_shared", .op = CREATE_SHARED_CONTEXT},
    {.name = "context_create_from_cl", .op = CREATE_CONTEXT_FROM_CL},
    {.name = "kernel_first_step", .op = STEP, .path = NETCL_PATH_KERNEL, .before = ONE_SPAN,
     .after = ONE_SPAN},
    {.name = "kernel_steady_step", .op = STEP, .path = NETCL_PATH_KERNEL, .before = ONE_SPAN,
     .steps_before = 1, .after = ONE_SPAN},
    {.name = "kernel_growing_step", .op = STEP, .path = NETCL_PATH_KERNEL, .before = ONE_SPAN,
     .steps_before = 1, .after = GROWN},
    {.name = "kernel_moved_grads", .op = STEP, .path = NETCL_PATH_KERNEL, .before = ONE_SPAN,
     .steps_before = 1, .after = ONE_SPAN_MOVED},
    {.name = "kernel_grads_new_each_step", .op = STEP, .path = NETCL_PATH_KERNEL,
     .before = ONE_SPAN_MOVING, .steps_before = 2, .after = ONE_SPAN_MOVING},
    {.name = "staged_moved_grads", .op = STEP, .path = NETCL_PATH_KERNEL,
     .memory_mode = NETCL_MEMORY_STAGED, .before = ONE_SPAN, .steps_before = 1,
     .after = ONE_SPAN_MOVED},
    {.name = "three_spans_first", .op = STEP, .before = THREE_SPANS, .after = THREE_SPANS},
    {.name = "three_spans_steady", .op = STEP, .before = THREE_SPANS, .steps_before = 1,
     .after = THREE_SPANS},
    {.name = "staged_first", .op = STEP, .path = NETCL_PATH_KERNEL,
     .memory_mode = NETCL_MEMORY_STAGED, .before = TWO_STAGED_SPANS, .after = TWO_STAGED_SPANS},
    {.name = "staged_steady", .op = STEP, .path = NETCL_PATH_KERNEL,
     .memory_mode = NETCL_MEMORY_STAGED, .before = TWO_STAGED_SPANS, .steps_before = 1,
     .after = TWO_STAGED_SPANS},
    {.name = "kernel_step_with", .op = STEP_WITH, .path = NETCL_PATH_KERNEL, .before = ONE_SPAN,
     .steps_before = 1, .after = ONE_SPAN},
    {.name = "enqueue_first", .op = ENQUEUE_STEP, .before = THREE_SPANS, .after = THREE_SPANS},
    {.name = "enqueue_steady", .op = ENQUEUE_STEP, .before = THREE_SPANS, .steps_before = 1,
     .after = THREE_SPANS},
    {.name = "bf16_kernel_first_step", .op = STEP, .path = NETCL_PATH_KERNEL, .before = BF16_SPAN,
     .after = BF16_SPAN},
    {.name = "host_first_step", .op = STEP, .before = ONE_SPAN, .after = ONE_SPAN},
    {.name = "host_growing_step", .op = STEP, .before = ONE_SPAN, .steps_before = 1,
     .after = GROWN},
    {.name = "read_state", .op = READ_STATE, .before = ONE_SPAN, .steps_before = 2,
     .after = ONE_SPAN, .state_index = 0, .state_numel = 1000},
    {.name = "write_state_new", .op = WRITE_STATE, .before = ONE_SPAN, .steps_before = 1,
     .after = GROWN, .state_index = 2, .state_numel = C_FLOATS},
    {.name = "write_state_existing", .op = WRITE_STATE, .before = ONE_SPAN, .steps_before = 1,
     .after = ONE_SPAN, .state_index = 0, .state_numel = 1000},
    {.name = "load_state", .op = LOAD_STATE, .before = ONE_SPAN, .steps_before = 1,
     .after = GROWN},
    {.name = "grad_stats_mixed", .op = GRAD_STATS, .before = THREE_SPANS, .steps_before = 1,
     .after = THREE_SPANS},
    {.name = "scale_grads_mixed", .op = SCALE_GRADS, .before = THREE_SPANS, .steps_before = 1,
     .after = THREE_SPANS},
    {.name = "grad_stats_two_buffers", .op = GRAD_STATS, .before = TWO_GRAD_BUFFERS,
     .after = TWO_GRAD_BUFFERS},
    {.name = "scale_grads_two_buffers", .op = SCALE_GRADS, .before = TWO_GRAD_BUFFERS,
     .steps_before = 1, .after = TWO_GRAD_BUFFERS},
    {.name = "discrete_first_step", .op = STEP, .discrete = 1, .before = ONE_SPAN,
     .after = ONE_SPAN},
    {.name = "discrete_steady_step", .op = STEP, .discrete = 1, .before = ONE_SPAN,
     .steps_before = 1, .after = ONE_SPAN},
    {.name = "discrete_bf16_first_step", .op = STEP, .discrete = 1, .before = BF16_SPAN,
     .after = BF16_SPAN},
    {.name = "discrete_three_spans", .op = STEP, .discrete = 1, .before = THREE_SPANS,
     .steps_before = 1, .after = THREE_SPANS},
    {.name = "discrete_enqueue", .op = ENQUEUE_STEP, .discrete = 1, .before = THREE_SPANS,
     .steps_before = 1, .after = THREE_SPANS},
    {.name = "discrete_read_state", .op = READ_STATE, .discrete = 1, .before = ONE_SPAN,
     .steps_before = 2, .after = ONE_SPAN, .state_index = 0, .state_numel = 1000},
    {.name = "discrete_write_state", .op = WRITE_STATE, .discrete = 1, .before = ONE_SPAN,
     .steps_before = 1, .after = ONE_SPAN, .state_index = 0, .state_numel = 1000},
    {.name = "discrete_load_state", .op = LOAD_STATE, .discrete = 1, .before = ONE_SPAN,
     .steps_before = 1, .after = GROWN},
    {.name = "discrete_scale_grads", .op = SCALE_GRADS, .discrete = 1, .before = THREE_SPANS,
     .steps_before = 1, .after = THREE_SPANS},
};
enum { SCENARIO_COUNT = sizeof scenarios / sizeof scenarios[0] };

static int creates_context(const scenario *s)
{
    return s->op == CREATE_CONTEXT || s->op == CREATE_SHARED_CONTEXT ||
           s->op == CREATE_CONTEXT_FROM_CL;
}

/* ---- snapshots ---------------------------------------------------------------------------- */

typedef struct bytes {
    unsigned char *data;
    size_t size, capacity;
} bytes;

static void append(bytes *b, const void *data, size_t size)
{
    if (b->size + size > b->capacity) {
        b->capacity = (b->size + size) * 2;
        b->data = realloc(b->data, b->capacity);
        if (b->data == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    }
    memcpy(b->data + b->size, data, size);
    b->size += size;
}

static int same(const bytes *a, const bytes *b)
{
    return a->size == b->size && (a->size == 0 || memcmp(a->data, b->data, a->size) == 0);
}

static void append_device(world *w, bytes *b, cl_mem buffer)
{
    float values[DEVICE_FLOATS];
    const cl_int err = clEnqueueReadBuffer(w->queue, buffer, CL_TRUE, 0, sizeof values, values, 0,
                                           NULL, NULL);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "reading a test buffer failed: %d\n", err);
        exit(1);
    }
    append(b, values, sizeof values);
}

/* The caller's memory: every parameter and gradient, host and device. */
static bytes snapshot_memory(world *w)
{
    bytes b = {0};
    append(&b, w->a_data, A_FLOATS * sizeof(float));
    append(&b, w->a_grad, A_FLOATS * sizeof(float));
    append(&b, w->b_data, B_FLOATS * sizeof(float));
    append(&b, w->b_grad, B_FLOATS * sizeof(float));
    append(&b, w->c_data, C_FLOATS * sizeof(float));
    append(&b, w->c_grad, C_FLOATS * sizeof(float));
    append(&b, w->bf16_data, A_FLOATS * sizeof(uint16_t));
    append(&b, w->bf16_grad, A_FLOATS * sizeof(uint16_t));
    append_device(w, &b, w->device_data);
    append_device(w, &b, w->device_grad);
    return b;
}

/*
 * What the optimizer tells about itself: the parameter count, the last step's launches and path
 * (only with `how_stepped`: a fallback may take another path to the same results), then each
 * parameter's state, master copies included. A failing query is returned.
 */
static netcl_status snapshot_state(netcl_rmsprop *opt, int how_stepped, bytes *b)
{
    uint32_t count = 0, launches = 0;
    int32_t path = 0;
    netcl_status status = netcl_rmsprop_get_param_count(opt, &count);
    if (status == NETCL_SUCCESS) status = netcl_rmsprop_get_last_launch_count(opt, &launches);
    if (status == NETCL_SUCCESS) status = netcl_rmsprop_get_last_path(opt, &path);
    append(b, &count, sizeof count);
    if (how_stepped) {
        append(b, &launches, sizeof launches);
        append(b, &path, sizeof path);
    }
    for (uint32_t i = 0; i < count && status == NETCL_SUCCESS; ++i) {
        netcl_param_state st;
        status = netcl_rmsprop_get_state(opt, i, &st);
        if (status != NETCL_SUCCESS || !st.has_square_avg) {
            continue;
        }
        const int32_t has[4] = {st.has_square_avg, st.has_momentum_buffer, st.has_grad_avg,
                                st.has_master};
        append(b, &st.step, sizeof st.step);
        append(b, &st.numel, sizeof st.numel);
        append(b, has, sizeof has);
        float *buffers[4] = {NULL, NULL, NULL, NULL};
        for (int p = 0; p < 4; ++p) {
            buffers[p] = has[p] ? test_alloc_floats(st.numel) : NULL;
        }
        status = netcl_rmsprop_read_state(opt, i, st.numel, buffers[0], buffers[1], buffers[2]);
        if (status == NETCL_SUCCESS && has[3]) {
            status = netcl_rmsprop_read_master(opt, i, st.numel, buffers[3]);
        }
        for (int p = 0; p < 4; ++p) {
            if (buffers[p] != NULL) {
                append(b, buffers[p], st.numel * sizeof(float));
                free(buffers[p]);
            }
        }
    }
    return status;
}

/* The call under test; read_state's outputs go to `output`. */
static netcl_status call(world *w, const scenario *s, netcl_rmsprop *opt, netcl_context **ctx,
                         bytes *output)
{
    switch (s->op) {
    case CREATE_CONTEXT:
    case CREATE_SHARED_CONTEXT:
        return netcl_context_create(NULL, ctx);
    case CREATE_CONTEXT_FROM_CL:
        return netcl_context_create_from_cl(w->cl_ctx, w->device, w->queue, ctx);
    case STEP: {
        const step_args a = make_step(w, s->after);
        return netcl_rmsprop_step(opt, a.groups, a.group_count, a.tensors, a.tensor_count);
    }
    case STEP_WITH: {
        const step_args a = make_step(w, s->after);
        const netcl_step_options options = {sizeof options, 0.5f, 0.75f};
        return netcl_rmsprop_step_with(opt, a.groups, a.group_count, a.tensors, a.tensor_count,
                                       &options);
    }
    case ENQUEUE_STEP: {
        const step_args a = make_step(w, s->after);
        cl_event done = NULL;
        const netcl_status status = netcl_rmsprop_enqueue_step(opt, a.groups, a.group_count,
                                                               a.tensors, a.tensor_count, NULL, 1,
                                                               &w->ready, &done);
        netcl_event_release(done);
        return status;
    }
    case READ_STATE: {
        const netcl_status status = netcl_rmsprop_read_state(opt, s->state_index, s->state_numel,
                                                             w->out[0], w->out[1], w->out[2]);
        for (int p = 0; p < 3 && status == NETCL_SUCCESS; ++p) {
            append(output, w->out[p], s->state_numel * sizeof(float));
        }
        return status;
    }
    case WRITE_STATE:
        return netcl_rmsprop_write_state(opt, s->state_index, 5, s->state_numel, w->square_avg,
                                         w->momentum_buffer, w->grad_avg);
    case LOAD_STATE: {
        const netcl_state_values states[3] = {
            {.step = 7, .numel = 1000, .square_avg = w->square_avg,
             .momentum_buffer = w->momentum_buffer, .grad_avg = w->grad_avg},
            {.step = 7, .numel = 300, .square_avg = w->square_avg,
             .momentum_buffer = w->momentum_buffer, .grad_avg = w->grad_avg},
            {.step = 3, .numel = C_FLOATS, .square_avg = w->square_avg,
             .momentum_buffer = w->momentum_buffer, .grad_avg = w->grad_avg}};
        return netcl_rmsprop_load_state(opt, 3, states);
    }
    case GRAD_STATS:
    case SCALE_GRADS: {
        const step_args a = make_step(w, s->after);
        netcl_grad_stats stats[5];
        memset(stats, 0, sizeof stats);  /* padding too: the output is compared byte for byte */
        const netcl_status status =
            s->op == GRAD_STATS
                ? netcl_rmsprop_grad_stats(opt, a.tensors, a.tensor_count, 0.5f, stats)
                : netcl_rmsprop_scale_grads(opt, a.tensors, a.tensor_count, 0.5f, stats);
        if (status == NETCL_SUCCESS) {
            append(output, stats, a.tensor_count * sizeof *stats);
        }
        return status;
    }
    }
    return NETCL_INVALID_ARGUMENT;
}

/* ---- one run of a scenario ---------------------------------------------------------------- */

typedef enum outcome { OK, CLEAN, BROKEN, UNEXPECTED, OUTCOME_COUNT } outcome;
static const char *const outcome_names[OUTCOME_COUNT] = {"ok", "clean", "broken", "unexpected"};

/* What a run leaves: memory and state right after the call, and after the steps that follow. */
typedef struct result {
    bytes output, memory_after, state_after, memory_end, state_end;
} result;

static void result_free(result *r)
{
    free(r->output.data);
    free(r->memory_after.data);
    free(r->state_after.data);
    free(r->memory_end.data);
    free(r->state_end.data);
    memset(r, 0, sizeof *r);
}

typedef struct run {
    world *w;
    const scenario *s;
    netcl_rmsprop *opt;   /* optimizer scenarios */
    netcl_context *ctx;   /* context scenarios: the context created */
    netcl_context *holder; /* CREATE_SHARED_CONTEXT: the context alive while another is made */
    netcl_status status;  /* of the call under test */
} run;

/* A fresh optimizer brought to the state before the call, and the call's gradients set. */
static void prepare(run *r)
{
    reset_parameters(r->w);
    if (creates_context(r->s)) {
        r->ctx = NULL;
        if (r->s->op == CREATE_SHARED_CONTEXT) {
            REQUIRE_OK(netcl_context_create(NULL, &r->holder));
        }
        return;
    }
    netcl_context *ctx = r->s->discrete ? r->w->discrete_ctx : r->w->ctx;
    REQUIRE_OK(netcl_context_set_memory_mode(ctx, r->s->memory_mode));
    REQUIRE_OK(netcl_rmsprop_create(ctx, &r->opt));
    REQUIRE_OK(netcl_rmsprop_set_path(r->opt, r->s->path));
    for (int k = 0; k < r->s->steps_before; ++k) {
        REQUIRE_OK(step(r->w, r->opt, r->s->before, k));
    }
    set_gradients(r->w, r->s->steps_before);
}

/* A new context is tried with one step on a tensor of its own; otherwise the optimizer takes
 * the steps that follow the call. Returns the first failure. */
static netcl_status finish(run *r, result *out)
{
    world *w = r->w;
    if (creates_context(r->s)) {
        netcl_rmsprop *opt = NULL;
        netcl_param_group group = test_default_group(0, 1);
        const netcl_tensor tensor = test_host_tensor(w->small_data, w->small_grad, SMALL_FLOATS);
        set_gradients(w, 0);
        netcl_status status = netcl_rmsprop_create(r->ctx, &opt);
        if (status == NETCL_SUCCESS) status = netcl_rmsprop_step(opt, &group, 1, &tensor, 1);
        if (status == NETCL_SUCCESS) status = snapshot_state(opt, 0, &out->state_end);
        append(&out->memory_end, w->small_data, SMALL_FLOATS * sizeof(float));
        netcl_rmsprop_destroy(opt);
        return status;
    }
    /* An enqueued step may still be running: the host reads the memory after it. */
    if (clFinish(w->queue) != CL_SUCCESS) {
        fprintf(stderr, "waiting for the test's queue failed\n");
        exit(1);
    }
    out->memory_after = snapshot_memory(w);
    netcl_status status = snapshot_state(r->opt, 0, &out->state_after);
    for (int j = 0; j < STEPS_AFTER && status == NETCL_SUCCESS; ++j) {
        status = step(w, r->opt, r->s->after, r->s->steps_before + 1 + j);
    }
    out->memory_end = snapshot_memory(w);
    if (status == NETCL_SUCCESS) status = snapshot_state(r->opt, 0, &out->state_end);
    return status;
}

static void release(run *r)
{
    netcl_rmsprop_destroy(r->opt);
    r->opt = NULL;
    netcl_context_destroy(r->ctx);
    netcl_context_destroy(r->holder);
    r->ctx = r->holder = NULL;
}

/* The clean run: the calls per function, and the results every injected run is held to. */
static void reference_run(world *w, const scenario *s, result *reference, unsigned *calls)
{
    run r = {w, s, NULL, NULL, NULL, 0};
    prepare(&r);
    netcl_fault_arm(NULL, 0, 0);
    r.status = call(w, s, r.opt, &r.ctx, &reference->output);
    netcl_fault_disarm();
    REQUIRE_OK(r.status);
    for (size_t i = 0; i < INJECTION_COUNT; ++i) {
        calls[i] = netcl_fault_calls(injections[i].function);
    }
    REQUIRE_OK(finish(&r, reference));
    release(&r);
}

static int results_match(const result *got, const result *want, char *why, size_t size)
{
    const struct {
        const char *what;
        const bytes *got, *want;
    } parts[] = {
        {"the call's output", &got->output, &want->output},
        {"the parameters after the call", &got->memory_after, &want->memory_after},
        {"the state after the call", &got->state_after, &want->state_after},
        {"the parameters after the later steps", &got->memory_end, &want->memory_end},
        {"the state after the later steps", &got->state_end, &want->state_end},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; ++i) {
        if (!same(parts[i].got, parts[i].want)) {
            snprintf(why, size, "%s differ from the clean run's", parts[i].what);
            return 0;
        }
    }
    return 1;
}

/* Names what differs between two snapshots (snapshot_state with how_stepped starts with three
 * numbers). */
static void describe_changes(const bytes *memory_before, const bytes *memory_now,
                             const bytes *state_before, const bytes *state_now, char *out,
                             size_t size)
{
    uint32_t before[3], now[3];
    memcpy(before, state_before->data, sizeof before);
    memcpy(now, state_now->data, sizeof now);
    const size_t rest = sizeof before;
    const int states_differ = state_before->size != state_now->size ||
                              memcmp(state_before->data + rest, state_now->data + rest,
                                     state_before->size - rest) != 0;
    size_t used = 0;
    out[0] = '\0';
#define CHANGE(...) used += (size_t)snprintf(out + used, used < size ? size - used : 0, __VA_ARGS__)
    if (!same(memory_before, memory_now)) CHANGE("the parameters, ");
    if (before[0] != now[0]) CHANGE("the parameter count (%u -> %u), ", before[0], now[0]);
    if (before[1] != now[1]) CHANGE("the launch count (%u -> %u), ", before[1], now[1]);
    if (before[2] != now[2]) CHANGE("the last path (%u -> %u), ", before[2], now[2]);
    if (states_differ) CHANGE("the parameters' state, ");
#undef CHANGE
    if (used >= 2 && used < size) {
        out[used - 2] = '\0';
    }
}

/* Every call on a broken optimizer fails with NETCL_BROKEN, names the original failure, and
 * leaves the caller's memory alone. */
static int check_broken(run *r, netcl_status original, char *why, size_t size)
{
    world *w = r->w;
    const char *name = netcl_status_name(original);
    bytes before = snapshot_memory(w);
    /* Arguments that would be valid on a working optimizer. */
    const step_args a = make_step(w, r->s->after);
    const uint64_t numel = a.tensors[0].numel;
    uint32_t value;
    int32_t path;
    netcl_param_state st;
    const netcl_state_values state = {.step = 5, .numel = numel, .square_avg = w->square_avg};
    const netcl_step_options options = {sizeof options, 0.5f, 1.0f};
    netcl_grad_stats stats[5];
    struct {
        const char *call;
        netcl_status status;
        char message[256];
    } calls[14];
    int n = 0;
#define BROKEN_CALL(expression)                                                            \
    calls[n].call = #expression;                                                           \
    calls[n].status = (expression);                                                        \
    snprintf(calls[n].message, sizeof calls[n].message, "%s", netcl_last_error());         \
    n++
    BROKEN_CALL(netcl_rmsprop_step(r->opt, a.groups, a.group_count, a.tensors, a.tensor_count));
    BROKEN_CALL(netcl_rmsprop_get_param_count(r->opt, &value));
    BROKEN_CALL(netcl_rmsprop_get_last_launch_count(r->opt, &value));
    BROKEN_CALL(netcl_rmsprop_get_state(r->opt, 0, &st));
    BROKEN_CALL(netcl_rmsprop_read_state(r->opt, 0, numel, w->out[0], w->out[1], w->out[2]));
    BROKEN_CALL(netcl_rmsprop_write_state(r->opt, 0, 5, numel, w->square_avg, w->momentum_buffer,
                                          w->grad_avg));
    BROKEN_CALL(netcl_rmsprop_load_state(r->opt, 1, &state));
    BROKEN_CALL(netcl_rmsprop_set_path(r->opt, NETCL_PATH_KERNEL));
    BROKEN_CALL(netcl_rmsprop_get_last_path(r->opt, &path));
    BROKEN_CALL(netcl_rmsprop_step_with(r->opt, a.groups, a.group_count, a.tensors, a.tensor_count,
                                        &options));
    BROKEN_CALL(netcl_rmsprop_read_master(r->opt, 0, numel, w->out[0]));
    BROKEN_CALL(netcl_rmsprop_grad_stats(r->opt, a.tensors, a.tensor_count, 1.0f, stats));
    BROKEN_CALL(netcl_rmsprop_scale_grads(r->opt, a.tensors, a.tensor_count, 0.5f, stats));
    BROKEN_CALL(netcl_rmsprop_enqueue_step(r->opt, a.groups, a.group_count, a.tensors,
                                           a.tensor_count, NULL, 0, NULL, NULL));
#undef BROKEN_CALL
    bytes after = snapshot_memory(w);
    const int untouched = same(&before, &after);
    free(before.data);
    free(after.data);
    for (int i = 0; i < n; ++i) {
        if (calls[i].status != NETCL_BROKEN || strstr(calls[i].message, name) == NULL) {
            snprintf(why, size, "broken, but %s returned %s with message '%s' (should name %s)",
                     calls[i].call, netcl_status_name(calls[i].status), calls[i].message, name);
            return 0;
        }
    }
    if (!untouched) {
        snprintf(why, size, "a step on the broken optimizer changed the caller's memory");
    }
    return untouched;
}

/* The nth call of injections[f].function fails: what happens. */
static outcome injected_run(world *w, const scenario *s, const result *reference, size_t f,
                            unsigned nth, char *why, size_t size)
{
    const injection *inj = &injections[f];
    const netcl_fault_objects objects_before = netcl_fault_live_objects();
    const int creates = creates_context(s);
    run r = {w, s, NULL, NULL, NULL, 0};
    netcl_context *const unset = (netcl_context *)&r; /* a create must overwrite it */
    prepare(&r);
    if (creates) {
        r.ctx = unset;
    }
    bytes memory_before = {0}, state_before = {0};
    if (r.opt != NULL) {
        memory_before = snapshot_memory(w);
        REQUIRE_OK(snapshot_state(r.opt, 1, &state_before));
    }
    result got = {0};
    netcl_fault_arm(inj->function, nth, inj->code);
    r.status = call(w, s, r.opt, &r.ctx, &got.output);
    netcl_fault_disarm();
    const int after_work = netcl_fault_work_before_fault() || strcmp(inj->function, "clFinish") == 0 ||
                           strcmp(inj->function, "clWaitForEvents") == 0;
    const int context_written = r.ctx != unset;
    if (!context_written) {
        r.ctx = NULL;
    }
    outcome o = UNEXPECTED;
    why[0] = '\0';
    if (!netcl_fault_fired()) {
        snprintf(why, size, "the fault was not reached (the clean run made %u calls)", nth);
    } else if (r.status == NETCL_SUCCESS) {
        /* A fallback absorbed the fault: the results must be the clean run's all the same. */
        const netcl_status later = finish(&r, &got);
        if (later != NETCL_SUCCESS) {
            snprintf(why, size, "succeeded, then a later call failed: %s: %s",
                     netcl_status_name(later), netcl_last_error());
        } else if (results_match(&got, reference, why, size)) {
            o = OK;
        }
    } else if (r.status != inj->code && r.status != inj->reported) {
        snprintf(why, size, "returned %s (%s) for an injected %s", netcl_status_name(r.status),
                 netcl_last_error(), netcl_status_name(inj->code));
    } else if (netcl_last_error()[0] == '\0') {
        snprintf(why, size, "failed with %s but left no message", netcl_status_name(r.status));
    } else if (creates && (!context_written || r.ctx != NULL)) {
        snprintf(why, size, "failed but did not set the context to NULL");
    } else if (creates) {
        /* Nothing to break: the leak check below and a clean retry say it all. */
        const netcl_status retry = call(w, s, NULL, &r.ctx, &got.output);
        if (retry != NETCL_SUCCESS) {
            snprintf(why, size, "the retry without a fault failed: %s: %s",
                     netcl_status_name(retry), netcl_last_error());
            r.ctx = NULL;
        } else if (finish(&r, &got) == NETCL_SUCCESS && results_match(&got, reference, why, size)) {
            o = CLEAN;
        }
    } else {
        const netcl_status failure = r.status;
        uint32_t count = 0;
        if (netcl_rmsprop_get_param_count(r.opt, &count) == NETCL_BROKEN) {
            if (!after_work) {
                snprintf(why, size, "broken although nothing had been enqueued");
            } else if (check_broken(&r, failure, why, size)) {
                o = BROKEN;
            }
        } else {
            bytes memory_now = snapshot_memory(w), state_now = {0};
            const netcl_status queried = snapshot_state(r.opt, 1, &state_now);
            if (queried != NETCL_SUCCESS) {
                snprintf(why, size, "after the failure a state query returned %s",
                         netcl_status_name(queried));
            } else if (!same(&memory_now, &memory_before) || !same(&state_now, &state_before)) {
                char changes[128];
                describe_changes(&memory_before, &memory_now, &state_before, &state_now, changes,
                                 sizeof changes);
                snprintf(why, size, "failed with %s but changed %s and still accepts calls "
                         "(half-updated%s)", netcl_status_name(failure), changes,
                         after_work ? ", after work was enqueued" : "");
            } else {
                /* Usable: the same call now succeeds and the run ends like the clean one. */
                result retry = {0};
                const netcl_status again = call(w, s, r.opt, &r.ctx, &retry.output);
                const netcl_status later = again == NETCL_SUCCESS ? finish(&r, &retry) : again;
                if (later != NETCL_SUCCESS) {
                    snprintf(why, size, "nothing changed, but the retry failed: %s: %s",
                             netcl_status_name(later), netcl_last_error());
                } else if (results_match(&retry, reference, why, size)) {
                    o = CLEAN;
                }
                result_free(&retry);
            }
            free(memory_now.data);
            free(state_now.data);
        }
    }
    release(&r);
    const netcl_fault_objects objects_after = netcl_fault_live_objects();
    if (memcmp(&objects_before, &objects_after, sizeof objects_after) != 0) {
        const size_t used = strlen(why);
        snprintf(why + used, size - used, "%s%s OpenCL objects leaked (contexts %+ld, queues "
                 "%+ld, programs %+ld, kernels %+ld, buffers %+ld, events %+ld)",
                 o == UNEXPECTED ? "; also" : outcome_names[o], o == UNEXPECTED ? "" : ", but",
                 objects_after.contexts - objects_before.contexts,
                 objects_after.queues - objects_before.queues,
                 objects_after.programs - objects_before.programs,
                 objects_after.kernels - objects_before.kernels,
                 objects_after.buffers - objects_before.buffers,
                 objects_after.events - objects_before.events);
        o = UNEXPECTED;
    }
    free(memory_before.data);
    free(state_before.data);
    result_free(&got);
    return o;
}

/* ---- coverage of netcl's call sites ------------------------------------------------------- */

/* The cl* functions called in `source_dir` are exactly those interposed, and every injectable
 * one has an entry in injections[]. */
static void check_coverage(const char *source_dir)
{
    int called[64] = {0};
    if (netcl_fault_function_count() > sizeof called / sizeof called[0]) {
        CHECK(0, "raise called[] to %zu", netcl_fault_function_count());
        return;
    }
    DIR *dir = opendir(source_dir);
    CHECK(dir != NULL, "cannot open %s", source_dir);
    if (dir == NULL) {
        return;
    }
    int files = 0;
    for (struct dirent *e = readdir(dir); e != NULL; e = readdir(dir)) {
        const size_t length = strlen(e->d_name);
        if (length < 3 || (strcmp(e->d_name + length - 2, ".c") != 0 &&
                           strcmp(e->d_name + length - 2, ".h") != 0)) {
            continue;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", source_dir, e->d_name);
        FILE *file = fopen(path, "rb");
        CHECK(file != NULL, "cannot read %s", path);
        if (file == NULL) {
            continue;
        }
        files++;
        bytes text = {0};
        char chunk[4096];
        for (size_t got; (got = fread(chunk, 1, sizeof chunk, file)) > 0;) {
            append(&text, chunk, got);
        }
        fclose(file);
        append(&text, "", 1);
        const char *t = (const char *)text.data;
        for (size_t i = 0; t[i] != '\0'; ++i) {
            const int starts = t[i] == 'c' && t[i + 1] == 'l' && isupper((unsigned char)t[i + 2]) &&
                               (i == 0 || !(isalnum((unsigned char)t[i - 1]) || t[i - 1] == '_'));
            if (!starts) {
                continue;
            }
            size_t end = i;
            while (isalnum((unsigned char)t[end]) || t[end] == '_') end++;
            if (t[end] != '(') {
                continue;
            }
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(end - i), t + i);
            const long f = netcl_fault_function_index(name);
            CHECK(f >= 0, "%s calls %s, which fault/fault_inject.c does not interpose", e->d_name,
                  name);
            if (f >= 0) {
                called[f] = 1;
            }
        }
        free(text.data);
    }
    closedir(dir);
    CHECK(files > 0, "no C sources in %s", source_dir);
    for (size_t f = 0; f < netcl_fault_function_count(); ++f) {
        CHECK(called[f], "fault/fault_inject.c interposes %s, which netcl no longer calls",
              netcl_fault_function_name(f));
        int listed = !netcl_fault_function_injectable(f);
        for (size_t i = 0; i < INJECTION_COUNT; ++i) {
            listed |= strcmp(injections[i].function, netcl_fault_function_name(f)) == 0;
        }
        CHECK(listed, "%s can be injected but has no entry in injections[]",
              netcl_fault_function_name(f));
    }
}

/* ---- the whole matrix --------------------------------------------------------------------- */

static void world_create(world *w)
{
    cl_platform_id platform;
    cl_int err = clGetPlatformIDs(1, &platform, NULL);
    if (err == CL_SUCCESS) err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &w->device, NULL);
    if (err == CL_SUCCESS) w->cl_ctx = clCreateContext(NULL, 1, &w->device, NULL, NULL, &err);
    if (err == CL_SUCCESS) w->queue = clCreateCommandQueue(w->cl_ctx, w->device, 0, &err);
    if (err == CL_SUCCESS) {
        w->device_data = clCreateBuffer(w->cl_ctx, CL_MEM_READ_WRITE, DEVICE_FLOATS * sizeof(float),
                                        NULL, &err);
    }
    if (err == CL_SUCCESS) {
        w->device_grad = clCreateBuffer(w->cl_ctx, CL_MEM_READ_WRITE, DEVICE_FLOATS * sizeof(float),
                                        NULL, &err);
    }
    if (err == CL_SUCCESS) w->ready = clCreateUserEvent(w->cl_ctx, &err);
    if (err == CL_SUCCESS) err = clSetUserEventStatus(w->ready, CL_COMPLETE);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "setting up OpenCL for the test failed: %d\n", err);
        exit(1);
    }
    REQUIRE_OK(netcl_context_create_from_cl(w->cl_ctx, w->device, w->queue, &w->ctx));
    netcl_fault_hide_unified_memory(1);
    REQUIRE_OK(netcl_context_create_from_cl(w->cl_ctx, w->device, w->queue, &w->discrete_ctx));
    netcl_fault_hide_unified_memory(0);
    netcl_device_info info;
    REQUIRE_OK(netcl_context_get_info(w->discrete_ctx, &info));
    if (info.host_unified_memory) {
        fprintf(stderr, "the fault harness did not hide the device's unified memory\n");
        exit(1);
    }
    w->a_data = test_alloc_floats(A_FLOATS);
    w->a_grad = test_alloc_floats(A_FLOATS);
    w->moved_grad = test_alloc_floats(A_FLOATS);
    w->moved_again_grad = test_alloc_floats(A_FLOATS);
    w->b_data = test_alloc_floats(B_FLOATS);
    w->b_grad = test_alloc_floats(B_FLOATS);
    w->c_data = test_alloc_floats(C_FLOATS);
    w->c_grad = test_alloc_floats(C_FLOATS);
    w->small_data = test_alloc_floats(SMALL_FLOATS);
    w->small_grad = test_alloc_floats(SMALL_FLOATS);
    w->bf16_data = (uint16_t *)test_alloc_floats(A_FLOATS / 2);
    w->bf16_grad = (uint16_t *)test_alloc_floats(A_FLOATS / 2);
    w->square_avg = test_alloc_floats(C_FLOATS);
    w->momentum_buffer = test_alloc_floats(C_FLOATS);
    w->grad_avg = test_alloc_floats(C_FLOATS);
    fill(6, w->momentum_buffer, C_FLOATS);
    fill(7, w->grad_avg, C_FLOATS);
    for (size_t i = 0; i < C_FLOATS; ++i) {
        w->square_avg[i] = 1.0f + w->grad_avg[i] * w->grad_avg[i]; /* > grad_avg^2: centered */
    }
    for (int p = 0; p < 3; ++p) {
        w->out[p] = test_alloc_floats(C_FLOATS);
    }
}

static void world_destroy(world *w)
{
    netcl_context_destroy(w->ctx);
    netcl_context_destroy(w->discrete_ctx);
    clReleaseMemObject(w->device_data);
    clReleaseMemObject(w->device_grad);
    clReleaseEvent(w->ready);
    clReleaseCommandQueue(w->queue);
    clReleaseContext(w->cl_ctx);
    void *host[] = {w->a_data, w->a_grad, w->moved_grad, w->moved_again_grad, w->b_data, w->b_grad,
                    w->c_data, w->c_grad, w->small_data, w->small_grad, w->bf16_data, w->bf16_grad,
                    w->square_avg, w->momentum_buffer, w->grad_avg, w->out[0], w->out[1], w->out[2]};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; ++i) {
        free(host[i]);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_faults NETCL_SOURCE_DIR\n");
        return 2;
    }
    unsetenv("NETCL_DEVICE");
    check_coverage(argv[1]);

    world w = {0};
    world_create(&w);
    static unsigned tally[SCENARIO_COUNT][INJECTION_COUNT][OUTCOME_COUNT];
    static unsigned points[SCENARIO_COUNT][INJECTION_COUNT];
    unsigned totals[OUTCOME_COUNT] = {0}, total_points = 0;
    for (size_t s = 0; s < SCENARIO_COUNT; ++s) {
        result reference = {0};
        reference_run(&w, &scenarios[s], &reference, points[s]);
        for (size_t f = 0; f < INJECTION_COUNT; ++f) {
            for (unsigned n = 1; n <= points[s][f]; ++n) {
                char why[1024];
                const outcome o = injected_run(&w, &scenarios[s], &reference, f, n, why, sizeof why);
                tally[s][f][o]++;
                totals[o]++;
                total_points++;
                CHECK(o != UNEXPECTED, "%s: %s call %u failing with %s: %s", scenarios[s].name,
                      injections[f].function, n, netcl_status_name(injections[f].code), why);
            }
        }
        result_free(&reference);
    }
    world_destroy(&w);

    printf("%-24s %-26s %6s %4s %6s %6s %10s\n", "scenario", "function", "points", "ok", "clean",
           "broken", "unexpected");
    for (size_t s = 0; s < SCENARIO_COUNT; ++s) {
        for (size_t f = 0; f < INJECTION_COUNT; ++f) {
            if (points[s][f] > 0) {
                printf("%-24s %-26s %6u %4u %6u %6u %10u\n", scenarios[s].name,
                       injections[f].function, points[s][f], tally[s][f][OK], tally[s][f][CLEAN],
                       tally[s][f][BROKEN], tally[s][f][UNEXPECTED]);
            }
        }
    }
    printf("%-24s %-26s %6u %4u %6u %6u %10u\n", "all", "", total_points, totals[OK],
           totals[CLEAN], totals[BROKEN], totals[UNEXPECTED]);
    CHECK(total_points > 0, "no injection points: is the harness linked ahead of libOpenCL?");
    return test_finish("test_faults");
}
