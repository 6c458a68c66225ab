/*
 * netcl_rmsprop_enqueue_step on the caller's own context and queue, with device buffers:
 *  - the wait list gates the step (a user event held back: nothing runs, a second queue still
 *    reads the old values), the output event completes with it, and the results are the bits
 *    of blocking steps on host copies;
 *  - steps enqueued back to back, gradients written between them on the same queue, state read
 *    afterwards (read_state waits for the step), a blocking step after them, and a step with
 *    gradient scaling (netcl_step_options) as netcl_rmsprop_step_with does it;
 *  - host tensors enqueued on a CPU device: zero-copy, the same bits;
 *  - every bad wait list is refused with its message, no event, nothing changed;
 *  - a step that fails on the device after it was enqueued: its event reports the failure, the
 *    next call that waits for it returns it, and the optimizer is broken from then on. The
 *    failure is simulated: this test defines clEnqueueMarkerWithWaitList and clGetEventInfo (the
 *    executable's symbols come first for libnetcl) and reports netcl's end-of-step marker as
 *    failed. (PoCL 3.1 aborts when a user event that gates commands is set to a failure.)
 */

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "test_util.h"

/* ---- simulated device failures ------------------------------------------------------------ */

static int fail_next_marker;   /* the next marker netcl enqueues reports CL_OUT_OF_RESOURCES */
static cl_event failed_marker;

CL_API_ENTRY cl_int CL_API_CALL clEnqueueMarkerWithWaitList(cl_command_queue queue, cl_uint count,
                                                            const cl_event *events, cl_event *event)
{
    typedef cl_int(CL_API_CALL *fn)(cl_command_queue, cl_uint, const cl_event *, cl_event *);
    const cl_int err = REAL(fn, clEnqueueMarkerWithWaitList)(queue, count, events, event);
    if (err == CL_SUCCESS && fail_next_marker && event != NULL) {
        fail_next_marker = 0;
        failed_marker = *event;
    }
    return err;
}

CL_API_ENTRY cl_int CL_API_CALL clGetEventInfo(cl_event event, cl_event_info param, size_t capacity,
                                               void *out, size_t *size_ret)
{
    typedef cl_int(CL_API_CALL *fn)(cl_event, cl_event_info, size_t, void *, size_t *);
    const cl_int err = REAL(fn, clGetEventInfo)(event, param, capacity, out, size_ret);
    if (err == CL_SUCCESS && event == failed_marker && param == CL_EVENT_COMMAND_EXECUTION_STATUS &&
        out != NULL) {
        *(cl_int *)out = CL_OUT_OF_RESOURCES;
    }
    return err;
}

/* ---- the tests --------------------------------------------------------------------------- */

enum { N = 300, GAP = 7, STEPS = 5 };

typedef struct caller {
    cl_context context;
    cl_device_id device;
    cl_command_queue queue;
    cl_command_queue reader;  /* a second queue, not ordered with netcl's work */
} caller;

/* Two tensors as slices of one buffer each (data and grad): [0, N) and [N + GAP, 2N + GAP). */
typedef struct fixture {
    netcl_context *ctx;
    netcl_rmsprop *opt;
    cl_mem data, grad;
    netcl_tensor tensors[2];
    netcl_param_group group;
    /* The same model on host memory, stepped by blocking steps: the expected bits. */
    netcl_context *host_ctx;
    netcl_rmsprop *reference;
    float *host_data[2], *host_grad[2];
    netcl_tensor host_tensors[2];
} fixture;

static const uint64_t offsets[2] = {0, N + GAP};

static void set_grads(fixture *f, int step)
{
    for (int k = 0; k < 2; ++k) {
        test_rng rng = {(uint64_t)(1000 + 10 * step + k)};
        test_rng_fill(&rng, f->host_grad[k], N);
        REQUIRE_OK(netcl_buffer_write(f->ctx, f->grad, offsets[k], N, f->host_grad[k]));
    }
}

static void reference_step(fixture *f)
{
    REQUIRE_OK(netcl_rmsprop_step(f->reference, &f->group, 1, f->host_tensors, 2));
}

static void expect_data(fixture *f, const char *what)
{
    float got[N];
    for (int k = 0; k < 2; ++k) {
        REQUIRE_OK(netcl_buffer_read(f->ctx, f->data, offsets[k], N, got));
        CHECK(memcmp(got, f->host_data[k], sizeof got) == 0, "%s: tensor %d differs from the "
              "blocking steps on host memory", what, k);
    }
}

static void expect_state(fixture *f, uint64_t steps, const char *what)
{
    float got[N], want[N], got_mb[N], want_mb[N];
    for (uint32_t k = 0; k < 2; ++k) {
        netcl_param_state st;
        REQUIRE_OK(netcl_rmsprop_get_state(f->opt, k, &st));
        CHECK(st.step == steps, "%s: tensor %u has step %llu, expected %llu", what, k,
              (unsigned long long)st.step, (unsigned long long)steps);
        REQUIRE_OK(netcl_rmsprop_read_state(f->opt, k, N, got, got_mb, NULL));
        REQUIRE_OK(netcl_rmsprop_read_state(f->reference, k, N, want, want_mb, NULL));
        CHECK(memcmp(got, want, sizeof got) == 0 && memcmp(got_mb, want_mb, sizeof got_mb) == 0,
              "%s: tensor %u's state differs", what, k);
    }
}

static cl_int event_status(cl_event event)
{
    cl_int status = CL_COMPLETE;
    clGetEventInfo(event, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
    return status;
}

static void setup(fixture *f, const caller *c)
{
    memset(f, 0, sizeof *f);
    /* The queue's device is used when none is given. */
    REQUIRE_OK(netcl_context_create_from_cl(c->context, NULL, c->queue, &f->ctx));
    REQUIRE_OK(netcl_rmsprop_create(f->ctx, &f->opt));
    REQUIRE_OK(netcl_buffer_create(f->ctx, 2 * N + GAP, &f->data));
    REQUIRE_OK(netcl_buffer_create(f->ctx, 2 * N + GAP, &f->grad));
    f->host_ctx = test_context();
    REQUIRE_OK(netcl_rmsprop_create(f->host_ctx, &f->reference));
    f->group = test_default_group(0, 2);
    f->group.momentum = 0.9;
    for (int k = 0; k < 2; ++k) {
        f->host_data[k] = test_alloc_floats(N);
        f->host_grad[k] = test_alloc_floats(N);
        test_rng rng = {(uint64_t)(1 + k)};
        test_rng_fill(&rng, f->host_data[k], N);
        REQUIRE_OK(netcl_buffer_write(f->ctx, f->data, offsets[k], N, f->host_data[k]));
        f->tensors[k].data_mem = f->data;
        f->tensors[k].grad_mem = f->grad;
        f->tensors[k].data_offset = f->tensors[k].grad_offset = offsets[k];
        f->tensors[k].numel = N;
        f->host_tensors[k] = test_host_tensor(f->host_data[k], f->host_grad[k], N);
    }
}

static void teardown(fixture *f)
{
    netcl_rmsprop_destroy(f->opt);
    netcl_rmsprop_destroy(f->reference);
    netcl_buffer_release(f->data);
    netcl_buffer_release(f->grad);
    netcl_context_destroy(f->ctx);
    netcl_context_destroy(f->host_ctx);
    for (int k = 0; k < 2; ++k) {
        free(f->host_data[k]);
        free(f->host_grad[k]);
    }
}

static void check_gated_step(const caller *c)
{
    fixture f;
    setup(&f, c);
    set_grads(&f, 0);
    cl_int err;
    cl_event gate = clCreateUserEvent(c->context, &err);
    cl_event done = NULL;
    REQUIRE_OK(netcl_rmsprop_enqueue_step(f.opt, &f.group, 1, f.tensors, 2, NULL, 1, &gate, &done));
    CHECK(done != NULL && event_status(done) > CL_COMPLETE, "the step waits for its gate");
    uint32_t launches = 0;
    REQUIRE_OK(netcl_rmsprop_get_last_launch_count(f.opt, &launches));
    CHECK(launches == 1, "two slices of one buffer: %u launches", launches);
    netcl_param_state st;
    REQUIRE_OK(netcl_rmsprop_get_state(f.opt, 1, &st));
    CHECK(st.step == 1, "the enqueued step is counted at once");
    float before[N];
    err |= clEnqueueReadBuffer(c->reader, f.data, CL_TRUE, 0, sizeof before, before, 0, NULL, NULL);
    CHECK(err == CL_SUCCESS && memcmp(before, f.host_data[0], sizeof before) == 0,
          "nothing ran before the gate opened");
    err = clSetUserEventStatus(gate, CL_COMPLETE);
    REQUIRE_OK(netcl_event_wait(done));
    CHECK(err == CL_SUCCESS && event_status(done) == CL_COMPLETE, "the step's event completed");
    reference_step(&f);
    expect_data(&f, "gated step");
    netcl_event_release(done);
    clReleaseEvent(gate);

    /* Back to back: each gradient written on the same queue after the step before it. */
    for (int step = 1; step < STEPS; ++step) {
        set_grads(&f, step);
        REQUIRE_OK(netcl_rmsprop_enqueue_step(f.opt, &f.group, 1, f.tensors, 2, NULL, 0, NULL, NULL));
        reference_step(&f);
    }
    expect_state(&f, STEPS, "enqueued steps");  /* read_state waits for the last one */
    expect_data(&f, "enqueued steps");
    /* A blocking step after enqueued ones, and enqueued steps after it. */
    set_grads(&f, STEPS);
    REQUIRE_OK(netcl_rmsprop_step(f.opt, &f.group, 1, f.tensors, 2));
    reference_step(&f);
    set_grads(&f, STEPS + 1);
    REQUIRE_OK(netcl_rmsprop_enqueue_step(f.opt, &f.group, 1, f.tensors, 2, NULL, 0, NULL, &done));
    REQUIRE_OK(netcl_event_wait(done));
    netcl_event_release(done);
    reference_step(&f);
    expect_data(&f, "mixed steps");
    expect_state(&f, STEPS + 2, "mixed steps");
    /* Gradient scaling (netcl_step_options), as netcl_rmsprop_step_with does it. */
    const netcl_step_options scaled = {sizeof scaled, 0.5f, 0.25f};
    set_grads(&f, STEPS + 2);
    REQUIRE_OK(netcl_rmsprop_enqueue_step(f.opt, &f.group, 1, f.tensors, 2, &scaled, 0, NULL, NULL));
    REQUIRE_OK(netcl_rmsprop_step_with(f.reference, &f.group, 1, f.host_tensors, 2, &scaled));
    expect_state(&f, STEPS + 3, "a scaled step");
    expect_data(&f, "a scaled step");
    teardown(&f);
}

static void expect_refused(fixture *f, netcl_status got, const cl_event *event,
                           const char *fragment, const char *what)
{
    CHECK(got == NETCL_INVALID_ARGUMENT, "%s: status %s", what, netcl_status_name(got));
    CHECK(strstr(netcl_last_error(), fragment) != NULL, "%s: message '%s' lacks '%s'", what,
          netcl_last_error(), fragment);
    CHECK(*event == NULL, "%s: an event was returned", what);
    expect_data(f, what);
    expect_state(f, 1, what);
}

static void check_bad_wait_lists(const caller *c)
{
    fixture f;
    setup(&f, c);
    set_grads(&f, 0);
    REQUIRE_OK(netcl_rmsprop_step(f.opt, &f.group, 1, f.tensors, 2));
    reference_step(&f);
    set_grads(&f, 1);  /* a step now would change the parameters */
    cl_int err;
    cl_event ready = clCreateUserEvent(c->context, &err);
    err |= clSetUserEventStatus(ready, CL_COMPLETE);
    cl_context other_context = clCreateContext(NULL, 1, &c->device, NULL, NULL, &err);
    cl_event foreign = clCreateUserEvent(other_context, &err);
    cl_event failed = clCreateUserEvent(c->context, &err);
    err |= clSetUserEventStatus(failed, -5);
    CHECK(err == CL_SUCCESS, "creating events: %d", err);

    cl_event out = (cl_event)(uintptr_t)1;  /* must come back NULL */
    const cl_event with_null[2] = {ready, NULL};
    expect_refused(&f, netcl_rmsprop_enqueue_step(f.opt, &f.group, 1, f.tensors, 2, NULL, 1, NULL, &out),
                   &out, "wait_events is NULL but wait_count is 1", "count without a list");
    out = (cl_event)(uintptr_t)1;
    expect_refused(&f, netcl_rmsprop_enqueue_step(f.opt, &f.group, 1, f.tensors, 2, NULL, 0, &ready, &out),
                   &out, "wait_events is not NULL but wait_count is 0", "a list without a count");
    expect_refused(&f, netcl_rmsprop_enqueue_step(f.opt, &f.group, 1, f.tensors, 2, NULL, 2, with_null, &out),
                   &out, "wait event 1 is NULL", "a NULL event");
    expect_refused(&f, netcl_rmsprop_enqueue_step(f.opt, &f.group, 1, f.tensors, 2, NULL, 1, &foreign, &out),
                   &out, "wait event 0 belongs to another cl_context", "an event of another context");
    expect_refused(&f, netcl_rmsprop_enqueue_step(f.opt, &f.group, 1, f.tensors, 2, NULL, 1, &failed, &out),
                   &out, "wait event 0 failed", "a failed event");
    const netcl_step_options wrong_size = {sizeof wrong_size + 4, 1.0f, 1.0f};
    expect_refused(&f, netcl_rmsprop_enqueue_step(f.opt, &f.group, 1, f.tensors, 2, &wrong_size, 0,
                                                  NULL, &out),
                   &out, "wrong struct_size", "options of another size");
    const netcl_step_options bad_clip = {sizeof bad_clip, 1.0f, 2.0f};
    expect_refused(&f, netcl_rmsprop_enqueue_step(f.opt, &f.group, 1, f.tensors, 2, &bad_clip, 0,
                                                  NULL, &out),
                   &out, "clip_coef 2 in [0, 1]", "a clip coefficient above 1");
    netcl_tensor bad[2] = {f.tensors[0], f.tensors[1]};
    bad[1].numel = 0;
    expect_refused(&f, netcl_rmsprop_enqueue_step(f.opt, &f.group, 1, bad, 2, NULL, 1, &ready, &out),
                   &out, "tensor 1: invalid numel 0", "a bad tensor");
    bad[1] = f.tensors[1];
    bad[1].grad_offset = N + 2 * GAP;
    expect_refused(&f, netcl_rmsprop_enqueue_step(f.opt, &f.group, 1, bad, 2, NULL, 1, &ready, &out),
                   &out, "too few for offset", "a gradient past its buffer's end");
    CHECK(netcl_rmsprop_enqueue_step(NULL, &f.group, 1, f.tensors, 2, NULL, 0, NULL, &out) ==
              NETCL_INVALID_ARGUMENT, "a NULL optimizer");
    CHECK(netcl_event_wait(NULL) == NETCL_INVALID_ARGUMENT, "waiting for a NULL event");
    netcl_event_release(NULL);

    /* Still usable: the refused calls changed nothing. */
    REQUIRE_OK(netcl_rmsprop_enqueue_step(f.opt, &f.group, 1, f.tensors, 2, NULL, 1, &ready, NULL));
    reference_step(&f);
    expect_data(&f, "after refused calls");
    clReleaseEvent(ready);
    clReleaseEvent(foreign);
    clReleaseEvent(failed);
    clReleaseContext(other_context);
    teardown(&f);
}

/* A step that fails on the device: enqueued, then blocking. */
static void check_device_failure(const caller *c)
{
    fixture f;
    setup(&f, c);
    set_grads(&f, 0);
    cl_event done = NULL;
    fail_next_marker = 1;
    REQUIRE_OK(netcl_rmsprop_enqueue_step(f.opt, &f.group, 1, f.tensors, 2, NULL, 0, NULL, &done));
    CHECK(netcl_event_wait(done) == CL_OUT_OF_RESOURCES, "the step's event reports the failure");
    float v[N], mb[N];
    netcl_status status = netcl_rmsprop_read_state(f.opt, 0, N, v, mb, NULL);
    CHECK(status == CL_OUT_OF_RESOURCES, "the first call that waits reports the failure: %s",
          netcl_status_name(status));
    status = netcl_rmsprop_step(f.opt, &f.group, 1, f.tensors, 2);
    CHECK(status == NETCL_BROKEN, "then the optimizer is broken: %s", netcl_status_name(status));
    CHECK(strstr(netcl_last_error(), "the RMSProp step failed on the device") != NULL,
          "message: %s", netcl_last_error());
    netcl_event_release(done);
    failed_marker = NULL;
    teardown(&f);

    setup(&f, c);
    set_grads(&f, 0);
    fail_next_marker = 1;
    status = netcl_rmsprop_step(f.opt, &f.group, 1, f.tensors, 2);
    CHECK(status == CL_OUT_OF_RESOURCES, "a blocking step returns its failure: %s",
          netcl_status_name(status));
    status = netcl_rmsprop_enqueue_step(f.opt, &f.group, 1, f.tensors, 2, NULL, 0, NULL, &done);
    CHECK(status == NETCL_BROKEN && done == NULL, "then the optimizer is broken: %s",
          netcl_status_name(status));
    failed_marker = NULL;
    teardown(&f);
}

/* Host tensors on a CPU device sharing host memory, enqueued: zero-copy and the same bits. */
static void check_host_tensors(void)
{
    netcl_context *ctx = test_context();
    netcl_device_info info;
    REQUIRE_OK(netcl_context_get_info(ctx, &info));
    netcl_rmsprop *opt = NULL, *reference = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    REQUIRE_OK(netcl_rmsprop_create(ctx, &reference));
    float *data = test_alloc_floats(N), *grad = test_alloc_floats(N), *expected = test_alloc_floats(N);
    test_rng rng = {3};
    test_rng_fill(&rng, data, N);
    memcpy(expected, data, N * sizeof(float));
    netcl_tensor t = test_host_tensor(data, grad, N), r = test_host_tensor(expected, grad, N);
    const netcl_param_group g = test_default_group(0, 1);
    uint64_t staged_before = 0, staged_after = 0;
    REQUIRE_OK(netcl_context_get_staged_bytes(ctx, &staged_before));
    for (int step = 0; step < STEPS; ++step) {
        test_rng_fill(&rng, grad, N);
        cl_event done = NULL;
        REQUIRE_OK(netcl_rmsprop_enqueue_step(opt, &g, 1, &t, 1, NULL, 0, NULL, &done));
        REQUIRE_OK(netcl_event_wait(done));  /* before the host writes the next gradient */
        netcl_event_release(done);
        REQUIRE_OK(netcl_rmsprop_step(reference, &g, 1, &r, 1));
    }
    REQUIRE_OK(netcl_context_get_staged_bytes(ctx, &staged_after));
    CHECK(memcmp(data, expected, N * sizeof(float)) == 0, "enqueued host tensors differ");
    if (info.is_cpu && info.host_unified_memory) {
        CHECK(staged_after == staged_before, "host tensors on a CPU device were staged");
    }
    int32_t path = -1;
    REQUIRE_OK(netcl_rmsprop_get_last_path(opt, &path));
    CHECK(path == NETCL_PATH_KERNEL, "an enqueued step takes the kernel path: %d", path);
    netcl_rmsprop_destroy(opt);
    netcl_rmsprop_destroy(reference);
    netcl_context_destroy(ctx);
    free(data); free(grad); free(expected);
}

int main(void)
{
    caller c;
    cl_platform_id platform;
    cl_int err = clGetPlatformIDs(1, &platform, NULL);
    err |= clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &c.device, NULL);
    c.context = clCreateContext(NULL, 1, &c.device, NULL, NULL, &err);
    c.queue = clCreateCommandQueue(c.context, c.device, 0, &err);
    c.reader = clCreateCommandQueue(c.context, c.device, 0, &err);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "creating the caller's OpenCL objects failed: %d\n", err);
        return 1;
    }
    check_gated_step(&c);
    check_bad_wait_lists(&c);
    check_device_failure(&c);
    check_host_tensors();
    clReleaseCommandQueue(c.reader);
    clReleaseCommandQueue(c.queue);
    clReleaseContext(c.context);
    return test_finish("test_enqueue");
}
