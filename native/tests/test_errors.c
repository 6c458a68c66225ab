/*
 * Every bad input: the status, the message naming the problem, and that neither the caller's
 * memory nor the optimizer state changed.
 */
#include <math.h>

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "test_util.h"

enum { N = 37 };

typedef struct fixture {
    netcl_context *ctx;
    netcl_rmsprop *opt;
    float *data, *grad, *data_before, *v_before;
    netcl_tensor tensor;
    netcl_param_group group;
} fixture;

static void expect(fixture *f, netcl_status got, netcl_status want, const char *fragment,
                   const char *what)
{
    CHECK(got == want, "%s: status %s, expected %s", what, netcl_status_name(got),
          netcl_status_name(want));
    CHECK(strstr(netcl_last_error(), fragment) != NULL, "%s: message '%s' lacks '%s'", what,
          netcl_last_error(), fragment);
    CHECK(memcmp(f->data, f->data_before, N * sizeof(float)) == 0, "%s: parameters changed", what);
    netcl_param_state st;
    REQUIRE_OK(netcl_rmsprop_get_state(f->opt, 0, &st));
    float v[N];
    REQUIRE_OK(netcl_rmsprop_read_state(f->opt, 0, N, v, NULL, NULL));
    CHECK(st.step == 1 && !st.has_momentum_buffer && memcmp(v, f->v_before, sizeof v) == 0,
          "%s: state changed", what);
}

static netcl_status step_with(fixture *f, netcl_param_group g, netcl_tensor t)
{
    return netcl_rmsprop_step(f->opt, &g, 1, &t, 1);
}

static void check_step_arguments(fixture *f)
{
    netcl_param_group g;
    netcl_tensor t;
#define BAD_TENSOR(field, value, fragment)                                                     \
    t = f->tensor;                                                                             \
    t.field = value;                                                                           \
    expect(f, step_with(f, f->group, t), NETCL_INVALID_ARGUMENT, fragment, #field " = " #value)
    /* First, while the fixture's good step is the one the optimizer checked last: a step that
     * differs only in its gradient's address keeps that check (rmsprop.c move_checked_grads)
     * and checks the moved gradient alone, as strictly as a new tensor's. */
    BAD_TENSOR(grad, f->data + 1, "data and grad overlap");
    BAD_TENSOR(grad, (float *)((char *)f->tensor.grad + 2), "aligned to 4 bytes");
    BAD_TENSOR(grad, (float *)(UINTPTR_MAX - 63), "run past the end of the address space");
#define BAD_GROUP(field, value, fragment)                                                      \
    g = f->group;                                                                              \
    g.field = value;                                                                           \
    expect(f, step_with(f, g, f->tensor), NETCL_INVALID_ARGUMENT, fragment, #field " = " #value)
    BAD_GROUP(lr, -1e-3, "invalid lr");
    BAD_GROUP(lr, NAN, "invalid lr");
    BAD_GROUP(lr, INFINITY, "invalid lr");
    BAD_GROUP(eps, -1.0, "invalid eps");
    BAD_GROUP(eps, NAN, "invalid eps");
    BAD_GROUP(weight_decay, -0.1, "invalid weight_decay");
    BAD_GROUP(weight_decay, NAN, "invalid weight_decay");
    BAD_GROUP(momentum, -0.9, "invalid momentum");
    BAD_GROUP(momentum, NAN, "invalid momentum");
    BAD_GROUP(alpha, 1.5, "invalid alpha");
    BAD_GROUP(alpha, -0.01, "invalid alpha");
    BAD_GROUP(alpha, NAN, "invalid alpha");
    BAD_GROUP(first, 1, "group 0 starts at tensor 1");
    BAD_GROUP(count, 0, "the groups cover 0 tensors but 1 were given");
#undef BAD_GROUP
    BAD_TENSOR(numel, 0, "invalid numel 0");
    BAD_TENSOR(data, NULL, "exactly one of data and data_mem");
    BAD_TENSOR(data, (float *)((char *)f->data + 2), "aligned to 4 bytes");
    /* 2^40 floats: more than any device's memory here, with or without a gradient. */
    BAD_TENSOR(numel, 1ull << 40, "more floats than the device's memory holds");
    t = f->tensor;
    t.numel = 1ull << 40;
    t.grad = NULL;
    expect(f, step_with(f, f->group, t), NETCL_INVALID_ARGUMENT,
           "more floats than the device's memory holds", "numel 2^40 without a gradient");
    /* A range that runs past the end of the address space. */
    BAD_TENSOR(data, (float *)(UINTPTR_MAX - 63), "run past the end of the address space");
#undef BAD_TENSOR
    t = f->tensor;
    t.numel = N - 1;
    expect(f, step_with(f, f->group, t), NETCL_STATE_MISMATCH, "has 36 elements but its state has 37",
           "numel differs from the state");

    expect(f, netcl_rmsprop_step(NULL, &f->group, 1, &f->tensor, 1), NETCL_INVALID_ARGUMENT,
           "optimizer is NULL", "NULL optimizer");
    expect(f, netcl_rmsprop_step(f->opt, NULL, 1, &f->tensor, 1), NETCL_INVALID_ARGUMENT,
           "groups is NULL", "NULL groups");
    expect(f, netcl_rmsprop_step(f->opt, &f->group, 1, NULL, 1), NETCL_INVALID_ARGUMENT,
           "tensors is NULL", "NULL tensors");

    /* A bad tensor after a good one: the good one is not stepped either. */
    netcl_tensor two[2] = {f->tensor, f->tensor};
    two[1].numel = 0;
    netcl_param_group g2 = f->group;
    g2.count = 2;
    expect(f, netcl_rmsprop_step(f->opt, &g2, 1, two, 2), NETCL_INVALID_ARGUMENT,
           "tensor 1: invalid numel 0", "bad second tensor");
}

static void check_device_arguments(fixture *f)
{
    cl_context cl_ctx = NULL;
    cl_int err = 0;
    netcl_context *other = test_context();
    netcl_device_info info;
    REQUIRE_OK(netcl_context_get_info(other, &info));
    /* A cl_mem of another context, and one too small for offset + numel. */
    cl_device_id device;
    cl_platform_id platform;
    clGetPlatformIDs(1, &platform, NULL);
    clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, NULL);
    cl_ctx = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    cl_mem foreign = clCreateBuffer(cl_ctx, CL_MEM_READ_WRITE, N * sizeof(float), NULL, &err);
    netcl_tensor t = {0};
    t.data_mem = foreign;
    t.grad_mem = foreign;
    t.numel = N;
    expect(f, step_with(f, f->group, t), NETCL_INVALID_ARGUMENT, "belongs to another cl_context",
           "foreign cl_mem");
    clReleaseMemObject(foreign);

    /* Data and gradient in one cl_mem of netcl's context: overlapping ranges are refused. */
    cl_command_queue queue = clCreateCommandQueue(cl_ctx, device, 0, &err);
    netcl_context *on_cl = NULL;
    netcl_rmsprop *opt_cl = NULL;
    REQUIRE_OK(netcl_context_create_from_cl(cl_ctx, device, queue, &on_cl));
    REQUIRE_OK(netcl_rmsprop_create(on_cl, &opt_cl));
    cl_mem shared = clCreateBuffer(cl_ctx, CL_MEM_READ_WRITE, 3 * N * sizeof(float), NULL, &err);
    t = (netcl_tensor){0};
    t.data_mem = shared;
    t.grad_mem = shared;
    t.numel = N;
    t.grad_offset = N - 1;
    expect(f, netcl_rmsprop_step(opt_cl, &f->group, 1, &t, 1), NETCL_INVALID_ARGUMENT,
           "data and grad overlap in the same cl_mem", "grad_mem over data_mem, overlapping");
    t.grad_offset = 0;
    expect(f, netcl_rmsprop_step(opt_cl, &f->group, 1, &t, 1), NETCL_INVALID_ARGUMENT,
           "data and grad overlap in the same cl_mem", "grad_mem == data_mem, same range");
    t.grad_offset = N;
    REQUIRE_OK(netcl_rmsprop_step(opt_cl, &f->group, 1, &t, 1));
    netcl_param_state st;
    REQUIRE_OK(netcl_rmsprop_get_state(opt_cl, 0, &st));
    CHECK(st.step == 1, "adjacent data and grad in one cl_mem: step count %llu",
          (unsigned long long)st.step);
    netcl_rmsprop_destroy(opt_cl);
    netcl_context_destroy(on_cl);
    clReleaseMemObject(shared);
    clReleaseCommandQueue(queue);
    clReleaseContext(cl_ctx);
    netcl_context_destroy(other);

    t = f->tensor;
    t.grad_mem = (struct _cl_mem *)f->data;  /* never dereferenced: rejected first */
    expect(f, step_with(f, f->group, t), NETCL_INVALID_ARGUMENT, "host data with a device gradient",
           "host data with grad_mem");
}

static void check_state_arguments(fixture *f)
{
    float out[N];
    expect(f, netcl_rmsprop_read_state(f->opt, 5, N, out, NULL, NULL), NETCL_INVALID_ARGUMENT,
           "parameter 5 has no state", "read absent state");
    expect(f, netcl_rmsprop_read_state(f->opt, 0, N + 1, out, NULL, NULL), NETCL_STATE_MISMATCH,
           "state has 37 elements, 38 requested", "read with wrong numel");
    expect(f, netcl_rmsprop_read_state(f->opt, 0, N, NULL, NULL, NULL), NETCL_INVALID_ARGUMENT,
           "has a square_avg but its output is NULL", "read into NULL");
    /* A refused range read writes nothing to its output either. */
    float sentinel[N];
    memset(out, 0x7f, sizeof out);
    memcpy(sentinel, out, sizeof out);
    expect(f, netcl_rmsprop_read_state_range(f->opt, 5, NETCL_STATE_SQUARE_AVG, 0, 1, out),
           NETCL_INVALID_ARGUMENT, "parameter 5 has no state", "range of absent state");
    expect(f, netcl_rmsprop_read_state_range(f->opt, 0, NETCL_STATE_MOMENTUM_BUFFER, 0, 1, out),
           NETCL_INVALID_ARGUMENT, "parameter 0 has no state buffer 1", "range of absent buffer");
    expect(f, netcl_rmsprop_read_state_range(f->opt, 0, 4, 0, 1, out), NETCL_INVALID_ARGUMENT,
           "parameter 0 has no state buffer 4", "range of buffer 4");
    expect(f, netcl_rmsprop_read_state_range(f->opt, 0, -1, 0, 1, out), NETCL_INVALID_ARGUMENT,
           "parameter 0 has no state buffer -1", "range of buffer -1");
    expect(f, netcl_rmsprop_read_state_range(f->opt, 0, NETCL_STATE_SQUARE_AVG, 30, 8, out),
           NETCL_INVALID_ARGUMENT, "8 elements from 30 go beyond its 37", "range past the end");
    expect(f, netcl_rmsprop_read_state_range(f->opt, 0, NETCL_STATE_SQUARE_AVG, 38, 0, out),
           NETCL_INVALID_ARGUMENT, "0 elements from 38 go beyond its 37", "empty range past the end");
    expect(f, netcl_rmsprop_read_state_range(f->opt, 0, NETCL_STATE_SQUARE_AVG, 1, UINT64_MAX, out),
           NETCL_INVALID_ARGUMENT, "go beyond its 37", "range whose end overflows");
    expect(f, netcl_rmsprop_read_state_range(f->opt, 0, NETCL_STATE_SQUARE_AVG, 0, 1, NULL),
           NETCL_INVALID_ARGUMENT, "out is NULL", "range into NULL");
    expect(f, netcl_rmsprop_read_state_range(NULL, 0, NETCL_STATE_SQUARE_AVG, 0, 1, out),
           NETCL_INVALID_ARGUMENT, "optimizer is NULL", "range of a NULL optimizer");
    CHECK(memcmp(out, sentinel, sizeof out) == 0, "a refused range read wrote its output");
    expect(f, netcl_rmsprop_write_state(f->opt, 0, 3, N, NULL, out, NULL), NETCL_INVALID_ARGUMENT,
           "state without square_avg", "write momentum without square_avg");
    expect(f, netcl_rmsprop_write_state(f->opt, 0, 3, 0, out, NULL, NULL), NETCL_INVALID_ARGUMENT,
           "invalid numel 0", "write numel 0");
    expect(f, netcl_rmsprop_write_state(NULL, 0, 3, N, out, NULL, NULL), NETCL_INVALID_ARGUMENT,
           "optimizer is NULL", "write to NULL optimizer");
    /* Indices past netcl's parameter limit are refused before any bookkeeping is allocated. */
    expect(f, netcl_rmsprop_write_state(f->opt, 1u << 24, 3, N, out, NULL, NULL),
           NETCL_INVALID_ARGUMENT, "out of range", "write at index 2^24");
    uint32_t params = 0;
    REQUIRE_OK(netcl_rmsprop_get_param_count(f->opt, &params));
    CHECK(params == 1, "a refused write grew the optimizer to %u parameters", params);
    expect(f, netcl_rmsprop_write_state(f->opt, 0, (uint64_t)INT64_MAX + 1, N, out, NULL, NULL),
           NETCL_INVALID_ARGUMENT, "beyond the largest step count", "write step 2^63");
}

/* A step count at its largest (2^63 - 1, Java's Long.MAX_VALUE) refuses another step instead of
 * wrapping, also where the list was reused for the last steps (counted once, when the list is
 * checked again); the state stays loadable. */
static void check_step_count_limit(void)
{
    netcl_context *ctx = test_context();
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    float data[4] = {1, 2, 3, 4}, grad[4] = {1, 1, 1, 1}, v[4] = {1, 1, 1, 1}, before[4];
    REQUIRE_OK(netcl_rmsprop_write_state(opt, 0, (uint64_t)INT64_MAX - 3, 4, v, NULL, NULL));
    const netcl_param_group g = test_default_group(0, 1);
    const netcl_tensor t = test_host_tensor(data, grad, 4);
    for (int step = 0; step < 3; ++step) {
        REQUIRE_OK(netcl_rmsprop_step(opt, &g, 1, &t, 1));
    }
    memcpy(before, data, sizeof data);
    const netcl_status status = netcl_rmsprop_step(opt, &g, 1, &t, 1);
    CHECK(status == NETCL_INVALID_ARGUMENT && strstr(netcl_last_error(), "step count") != NULL,
          "a step past 2^63 - 1: %s: %s", netcl_status_name(status), netcl_last_error());
    netcl_param_state st;
    REQUIRE_OK(netcl_rmsprop_get_state(opt, 0, &st));
    CHECK(st.step == (uint64_t)INT64_MAX && memcmp(data, before, sizeof data) == 0,
          "the refused step changed something (step %llu)", (unsigned long long)st.step);
    REQUIRE_OK(netcl_rmsprop_read_state(opt, 0, 4, v, NULL, NULL));
    REQUIRE_OK(netcl_rmsprop_write_state(opt, 0, st.step, 4, v, NULL, NULL));
    netcl_rmsprop_destroy(opt);
    netcl_context_destroy(ctx);
}

/*
 * A step over the same tensor list as the step before skips the per-tensor checks: any change
 * to the list (here in its 500th of 1,000 tensors) and any state loaded since must be checked
 * again, and refused with nothing changed.
 */
static void check_changed_list_is_rechecked(void)
{
    enum { COUNT = 1000, EACH = 4 };
    netcl_context *ctx = test_context();
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    float *data = test_alloc_floats(COUNT * EACH), *grad = test_alloc_floats(COUNT * EACH);
    float *before = test_alloc_floats(COUNT * EACH);
    test_rng rng = {11};
    test_rng_fill(&rng, data, COUNT * EACH);
    test_rng_fill(&rng, grad, COUNT * EACH);
    static netcl_tensor tensors[COUNT];
    for (int i = 0; i < COUNT; ++i) {
        tensors[i] = test_host_tensor(data + i * EACH, grad + i * EACH, EACH);
    }
    netcl_param_group g = test_default_group(0, COUNT);
    for (int step = 0; step < 2; ++step) {  /* the second step reuses the first one's checks */
        REQUIRE_OK(netcl_rmsprop_step(opt, &g, 1, tensors, COUNT));
    }
    memcpy(before, data, COUNT * EACH * sizeof(float));
    netcl_tensor *t = &tensors[500];
    const netcl_tensor good = *t;
    struct {
        netcl_tensor changed;
        netcl_status status;
        const char *fragment;
    } cases[] = {
        {good, NETCL_STATE_MISMATCH, "tensor 500 has 3 elements but its state has 4"},
        {good, NETCL_INVALID_ARGUMENT, "tensor 500: data and grad overlap"},
        {good, NETCL_INVALID_ARGUMENT, "tensor 500: data and grad must be aligned"},
        {good, NETCL_INVALID_ARGUMENT, "tensor 500: unknown dtype 7"},
    };
    cases[0].changed.numel = EACH - 1;
    cases[1].changed.grad = data + 500 * EACH + 1;
    cases[2].changed.data = (char *)good.data + 1;
    cases[3].changed.dtype = 7;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        *t = cases[c].changed;
        const netcl_status status = netcl_rmsprop_step(opt, &g, 1, tensors, COUNT);
        CHECK(status == cases[c].status && strstr(netcl_last_error(), cases[c].fragment) != NULL,
              "changed list %zu: %s: %s", c, netcl_status_name(status), netcl_last_error());
        CHECK(memcmp(data, before, COUNT * EACH * sizeof(float)) == 0, "changed list %zu: "
              "parameters changed", c);
        *t = good;
    }
    g.lr = NAN;
    CHECK(netcl_rmsprop_step(opt, &g, 1, tensors, COUNT) == NETCL_INVALID_ARGUMENT,
          "the same list with a bad lr");
    g.lr = 1e-2;
    REQUIRE_OK(netcl_rmsprop_step(opt, &g, 1, tensors, COUNT));  /* reusable again */
    memcpy(before, data, COUNT * EACH * sizeof(float));
    /* State loaded for tensor 500 with 5 elements: the unchanged list no longer fits it. */
    float v[EACH + 1] = {0};
    REQUIRE_OK(netcl_rmsprop_write_state(opt, 500, 2, EACH + 1, v, NULL, NULL));
    const netcl_status status = netcl_rmsprop_step(opt, &g, 1, tensors, COUNT);
    CHECK(status == NETCL_STATE_MISMATCH && strstr(netcl_last_error(), "tensor 500 has 4 "
          "elements but its state has 5") != NULL, "after loading state: %s: %s",
          netcl_status_name(status), netcl_last_error());
    CHECK(memcmp(data, before, COUNT * EACH * sizeof(float)) == 0, "after loading state: "
          "parameters changed");
    netcl_param_state st;
    REQUIRE_OK(netcl_rmsprop_get_state(opt, 499, &st));
    CHECK(st.step == 3, "the refused steps counted: step %llu", (unsigned long long)st.step);
    REQUIRE_OK(netcl_rmsprop_write_state(opt, 500, 2, EACH, v, NULL, NULL));
    REQUIRE_OK(netcl_rmsprop_step(opt, &g, 1, tensors, COUNT));
    CHECK(memcmp(data, before, COUNT * EACH * sizeof(float)) != 0, "the restored list steps");
    netcl_rmsprop_destroy(opt);
    free(data);
    free(grad);
    free(before);
    netcl_context_destroy(ctx);
}

/* A step over no tensors at all does nothing and succeeds (it used to memcpy from NULL). */
static void check_empty_step(void)
{
    netcl_context *ctx = test_context();
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    REQUIRE_OK(netcl_rmsprop_step(opt, NULL, 0, NULL, 0));
    REQUIRE_OK(netcl_rmsprop_set_path(opt, NETCL_PATH_KERNEL));
    REQUIRE_OK(netcl_rmsprop_step(opt, NULL, 0, NULL, 0));
    REQUIRE_OK(netcl_rmsprop_load_state(opt, 0, NULL));
    netcl_rmsprop_destroy(opt);
    netcl_context_destroy(ctx);
}

static void check_context_arguments(fixture *f)
{
    netcl_context *ctx = (netcl_context *)1;
    expect(f, netcl_context_create("no-such-device-anywhere", &ctx), NETCL_NO_DEVICE,
           "no OpenCL device whose name contains 'no-such-device-anywhere'", "unknown device name");
    CHECK(ctx == NULL, "context set on failure");
    expect(f, netcl_context_create("99", &ctx), NETCL_NO_DEVICE, "no OpenCL device '99'",
           "device index out of range");
    expect(f, netcl_context_create("0:7", &ctx), NETCL_NO_DEVICE, "no OpenCL device '0:7'",
           "platform:device out of range");
    expect(f, netcl_context_create(NULL, NULL), NETCL_INVALID_ARGUMENT, "context is NULL",
           "NULL out-parameter");
    expect(f, netcl_context_set_memory_mode(f->ctx, 7), NETCL_INVALID_ARGUMENT,
           "unknown memory mode 7", "bad memory mode");
    expect(f, netcl_context_create_from_cl(NULL, NULL, NULL, &ctx), NETCL_INVALID_ARGUMENT,
           "cl_context is NULL", "NULL cl objects");
    expect(f, netcl_rmsprop_create(NULL, &f->opt), NETCL_INVALID_ARGUMENT, "context is NULL",
           "optimizer on NULL context");
    expect(f, netcl_rmsprop_set_path(f->opt, 9), NETCL_INVALID_ARGUMENT, "unknown path 9",
           "bad path");
    netcl_device_info info;
    expect(f, netcl_device_get_info(1000, &info), NETCL_NO_DEVICE, "device index 1000 out of range",
           "device info out of range");
}

static void check_status_names(void)
{
    CHECK(strcmp(netcl_status_name(NETCL_SUCCESS), "NETCL_SUCCESS") == 0, "success name");
    CHECK(strcmp(netcl_status_name(NETCL_STATE_MISMATCH), "NETCL_STATE_MISMATCH") == 0, "mismatch");
    CHECK(strcmp(netcl_status_name(CL_OUT_OF_RESOURCES), "CL_OUT_OF_RESOURCES") == 0, "cl code");
    CHECK(strcmp(netcl_status_name(12345), "NETCL_UNKNOWN_STATUS") == 0, "unknown code");
    CHECK(strlen(netcl_version()) > 0, "version string");
}

/*
 * The gradient passes over device buffers refuse a bad tensor anywhere in the list before any
 * tensor is read or scaled: the status and message, the device gradients (a good tensor's
 * ahead of the bad one too), the host gradient, the statistics' output, parameters and state
 * all as before.
 */
static void check_device_grad_pass_arguments(fixture *f)
{
    struct _cl_mem *data, *grad;
    REQUIRE_OK(netcl_buffer_create(f->ctx, N, &data));
    REQUIRE_OK(netcl_buffer_create(f->ctx, N, &grad));
    REQUIRE_OK(netcl_buffer_write(f->ctx, grad, 0, N, f->grad));
    float host_grad_before[N];
    memcpy(host_grad_before, f->grad, sizeof host_grad_before);
    netcl_tensor good = {0};
    good.data_mem = data;
    good.grad_mem = grad;
    good.numel = N;

    cl_platform_id platform;
    cl_device_id device;
    cl_int err = 0;
    clGetPlatformIDs(1, &platform, NULL);
    clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, NULL);
    cl_context cl_ctx = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    cl_mem foreign = clCreateBuffer(cl_ctx, CL_MEM_READ_WRITE, N * sizeof(float), NULL, &err);

    struct {
        const char *what, *fragment;
        netcl_status status;
        netcl_tensor bad;
        float factor;
    } cases[6];
    for (int c = 0; c < 6; ++c) {
        cases[c].bad = good;
        cases[c].factor = 0.5f;
    }
    cases[0].what = "grad_mem too small for offset + numel";
    cases[0].fragment = "too few for offset 1";
    cases[0].status = NETCL_INVALID_ARGUMENT;
    cases[0].bad.grad_offset = 1;
    cases[1].what = "grad_mem of another cl_context";
    cases[1].fragment = "belongs to another cl_context";
    cases[1].status = NETCL_INVALID_ARGUMENT;
    cases[1].bad.grad_mem = foreign;
    cases[2].what = "an FP16 device tensor";
    cases[2].fragment = "FP32 tensors only";
    cases[2].status = NETCL_UNSUPPORTED;
    cases[2].bad.dtype = NETCL_FP16;
    cases[3].what = "device data with a host gradient";
    cases[3].fragment = "with a host gradient";
    cases[3].status = NETCL_INVALID_ARGUMENT;
    cases[3].bad.grad = f->grad;
    cases[4].what = "host data with a device gradient";
    cases[4].fragment = "host data with a device gradient";
    cases[4].status = NETCL_INVALID_ARGUMENT;
    cases[4].bad.data_mem = NULL;
    cases[4].bad.data = f->data;
    cases[5].what = "a non-finite factor";
    cases[5].fragment = "not finite";
    cases[5].status = NETCL_INVALID_ARGUMENT;
    cases[5].factor = INFINITY;
    for (int c = 0; c < 6; ++c) {
        for (int write = 0; write < 2; ++write) {
            const netcl_tensor list[3] = {good, f->tensor, cases[c].bad};
            netcl_grad_stats stats[3], stats_before[3];
            memset(stats, 0x5A, sizeof stats);
            memcpy(stats_before, stats, sizeof stats);
            const netcl_status got =
                write ? netcl_rmsprop_scale_grads(f->opt, list, 3, cases[c].factor, stats)
                      : netcl_rmsprop_grad_stats(f->opt, list, 3, cases[c].factor, stats);
            char what[128];
            snprintf(what, sizeof what, "%s: %s", write ? "scale_grads" : "grad_stats",
                     cases[c].what);
            expect(f, got, cases[c].status, cases[c].fragment, what);
            float device_grad[N];
            REQUIRE_OK(netcl_buffer_read(f->ctx, grad, 0, N, device_grad));
            CHECK(memcmp(device_grad, host_grad_before, sizeof device_grad) == 0 &&
                      memcmp(f->grad, host_grad_before, sizeof host_grad_before) == 0 &&
                      memcmp(stats, stats_before, sizeof stats) == 0,
                  "%s: a gradient or the statistics' output changed", what);
        }
    }

    /* A gradient in a CL_MEM_READ_ONLY buffer is read, not scaled. */
    cl_command_queue queue = clCreateCommandQueue(cl_ctx, device, 0, &err);
    netcl_context *on_cl = NULL;
    netcl_rmsprop *opt_cl = NULL;
    REQUIRE_OK(netcl_context_create_from_cl(cl_ctx, device, queue, &on_cl));
    REQUIRE_OK(netcl_rmsprop_create(on_cl, &opt_cl));
    cl_mem read_only = clCreateBuffer(cl_ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                      N * sizeof(float), f->grad, &err);
    netcl_tensor constant = {0};
    constant.data_mem = foreign;  /* a buffer of cl_ctx, which on_cl runs on */
    constant.grad_mem = read_only;
    constant.numel = N;
    netcl_grad_stats stats;
    REQUIRE_OK(netcl_rmsprop_grad_stats(opt_cl, &constant, 1, 0.5f, &stats));
    CHECK(netcl_rmsprop_scale_grads(opt_cl, &constant, 1, 0.5f, &stats) == NETCL_INVALID_ARGUMENT &&
              strstr(netcl_last_error(), "CL_MEM_READ_ONLY") != NULL,
          "scaling a read-only gradient: %s", netcl_last_error());
    float kept[N];
    clEnqueueReadBuffer(queue, read_only, CL_TRUE, 0, sizeof kept, kept, 0, NULL, NULL);
    CHECK(memcmp(kept, f->grad, sizeof kept) == 0, "the read-only gradient changed");
    netcl_rmsprop_destroy(opt_cl);
    netcl_context_destroy(on_cl);
    clReleaseMemObject(read_only);
    clReleaseCommandQueue(queue);
    clReleaseMemObject(foreign);
    clReleaseContext(cl_ctx);
    netcl_buffer_release(data);
    netcl_buffer_release(grad);
}

int main(void)
{
    fixture f = {0};
    f.ctx = test_context();
    REQUIRE_OK(netcl_rmsprop_create(f.ctx, &f.opt));
    f.data = test_alloc_floats(N);
    f.grad = test_alloc_floats(N);
    f.data_before = test_alloc_floats(N);
    f.v_before = test_alloc_floats(N);
    test_rng rng = {7};
    test_rng_fill(&rng, f.data, N);
    test_rng_fill(&rng, f.grad, N);
    f.tensor = test_host_tensor(f.data, f.grad, N);
    f.group = test_default_group(0, 1);
    REQUIRE_OK(netcl_rmsprop_step(f.opt, &f.group, 1, &f.tensor, 1));
    memcpy(f.data_before, f.data, N * sizeof(float));
    REQUIRE_OK(netcl_rmsprop_read_state(f.opt, 0, N, f.v_before, NULL, NULL));

    check_step_arguments(&f);
    check_device_arguments(&f);
    check_device_grad_pass_arguments(&f);
    check_state_arguments(&f);
    check_context_arguments(&f);
    check_status_names();
    check_step_count_limit();
    check_changed_list_is_rechecked();
    check_empty_step();

    /* After all that, a good step still works. */
    REQUIRE_OK(netcl_rmsprop_step(f.opt, &f.group, 1, &f.tensor, 1));
    CHECK(memcmp(f.data, f.data_before, N * sizeof(float)) != 0, "a good step after errors");
    netcl_rmsprop_destroy(f.opt);
    netcl_context_destroy(f.ctx);
    free(f.data); free(f.grad); free(f.data_before); free(f.v_before);
    return test_finish("test_errors");
}
