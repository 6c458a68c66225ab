/*
 * Memory paths: zero-copy on a device that shares host memory (no staged bytes), forced
 * staging (same bits, bytes counted), misaligned host memory (falls back to staging), the
 * caller's own cl_mem buffers (several tensors in one buffer: one launch), a context built on
 * the caller's OpenCL objects sharing one queue, moving gradients, and many small tensors of one
 * allocation. All paths must give the same bits.
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "test_util.h"

enum { N = 10000, STEPS = 3 };

static void grads_for(int step, float *grad)
{
    test_rng rng = {(uint64_t)(step + 11)};
    test_rng_fill(&rng, grad, N);
}

/* Runs STEPS steps of one tensor at `data`/`grad` (host memory) on `path` and returns the
 * staged bytes. */
static uint64_t run_host(netcl_context *ctx, float *data, float *grad, int32_t path)
{
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    REQUIRE_OK(netcl_rmsprop_set_path(opt, path));
    uint64_t before = 0, after = 0;
    REQUIRE_OK(netcl_context_get_staged_bytes(ctx, &before));
    netcl_param_group g = test_default_group(0, 1);
    g.momentum = 0.9;
    const netcl_tensor t = test_host_tensor(data, grad, N);
    for (int step = 0; step < STEPS; ++step) {
        grads_for(step, grad);
        REQUIRE_OK(netcl_rmsprop_step(opt, &g, 1, &t, 1));
    }
    int32_t taken = -1;
    REQUIRE_OK(netcl_rmsprop_get_last_path(opt, &taken));
    CHECK(taken == path, "the step took path %d, %d was forced", taken, path);
    REQUIRE_OK(netcl_context_get_staged_bytes(ctx, &after));
    netcl_rmsprop_destroy(opt);
    return after - before;
}

static void initial(float *data)
{
    test_rng rng = {99};
    test_rng_fill(&rng, data, N);
}

/*
 * Gradients at a new address every step (a fresh buffer per backward pass) on `path`: three
 * slices of one allocation whose gradient block moves (at step 3 the slices also move apart, at
 * step 6 to memory that cannot be wrapped in place, from step 9 back and forth between the two
 * blocks before), and a fourth tensor whose gradient stays. The same bits as the host path (or
 * the kernel path) over fixed gradient buffers; on a device that shares host memory only the
 * kernel path's step 6 stages (12 bytes per element).
 */
static void check_moving_gradients(netcl_context *ctx, const netcl_device_info *info, int32_t path)
{
    enum { EACH = 1024, MOVES = 12, TENSORS = 4 };  /* each tensor 4 KiB: all zero-copy */
    const int zero_copy = info->is_cpu && info->host_unified_memory;
    float *data[2], *fixed[2], *blocks[MOVES], *last = test_alloc_floats(EACH);
    netcl_tensor tensors[2][TENSORS];
    netcl_rmsprop *opt[2];
    for (int o = 0; o < 2; ++o) {  /* o = 0: moving gradients on `path`; 1: fixed ones */
        data[o] = test_alloc_floats(TENSORS * EACH);
        fixed[o] = test_alloc_floats(TENSORS * EACH);
        test_rng rng = {5};
        test_rng_fill(&rng, data[o], TENSORS * EACH);
        for (int k = 0; k < TENSORS; ++k) {
            tensors[o][k] = test_host_tensor(data[o] + k * EACH, fixed[o] + k * EACH, EACH);
        }
        REQUIRE_OK(netcl_rmsprop_create(ctx, &opt[o]));
        REQUIRE_OK(netcl_rmsprop_set_path(opt[o], o == 0 ? path
                                                  : zero_copy ? NETCL_PATH_HOST : NETCL_PATH_KERNEL));
    }
    tensors[0][TENSORS - 1].grad = last;
    netcl_param_group g = test_default_group(0, TENSORS);
    g.momentum = 0.9;
    g.centered = 1;
    uint64_t staged_before = 0, staged_after = 0;
    REQUIRE_OK(netcl_context_get_staged_bytes(ctx, &staged_before));
    for (int step = 0; step < MOVES; ++step) {
        test_rng rng = {(uint64_t)(70 + step)};
        test_rng_fill(&rng, fixed[1], TENSORS * EACH);
        blocks[step] = test_alloc_floats(TENSORS * EACH + 64);
        const size_t gap = step == 3 ? 16 : 0;
        float *base = blocks[step < 9 ? step : 7 + step % 2] + (step == 6 ? 1 : 0);
        for (int k = 0; k < TENSORS - 1; ++k) {
            float *grad = base + k * (EACH + gap);
            memcpy(grad, fixed[1] + k * EACH, EACH * sizeof(float));
            tensors[0][k].grad = grad;
        }
        memcpy(last, fixed[1] + (TENSORS - 1) * EACH, EACH * sizeof(float));
        REQUIRE_OK(netcl_rmsprop_step(opt[0], &g, 1, tensors[0], TENSORS));
        REQUIRE_OK(netcl_rmsprop_step(opt[1], &g, 1, tensors[1], TENSORS));
        CHECK(memcmp(data[0], data[1], TENSORS * EACH * sizeof(float)) == 0,
              "step %d with moved gradients differs", step);
    }
    REQUIRE_OK(netcl_context_get_staged_bytes(ctx, &staged_after));
    if (zero_copy) {
        CHECK(staged_after - staged_before == (path == NETCL_PATH_KERNEL ? (TENSORS - 1) * EACH * 12u : 0),
              "moving gradients staged %llu bytes", (unsigned long long)(staged_after - staged_before));
    }
    for (int o = 0; o < 2; ++o) {
        netcl_rmsprop_destroy(opt[o]);
        free(data[o]);
        free(fixed[o]);
    }
    for (int step = 0; step < MOVES; ++step) {
        free(blocks[step]);
    }
    free(last);
}

/*
 * Gradients from `ring` buffers in turn on `path`, step after step: with two, the usual double
 * buffer (the host path keeps a checked tensor list for each, the kernel path a wrapped buffer
 * each); with three, a brand-new address every step for the kernel path (no step finds its
 * gradients where the plan's current or spare buffer lies) and a moved list for the host path.
 * In one chunk and in many with a short last one: the bits of the host path over one fixed
 * gradient buffer (the kernel path where there is no host path), state included, and on a
 * device that shares host memory nothing staged.
 */
static void check_gradients_in_turn(netcl_context *ctx, const netcl_device_info *info, size_t n,
                                    int32_t path, int ring_size)
{
    enum { STEPS_HERE = 8, RING = 3 };  /* buffers at most */
    const int zero_copy = info->is_cpu && info->host_unified_memory;
    float *data[2], *state[2], *fixed = test_alloc_floats(n), *ring[RING];
    netcl_rmsprop *opt[2];
    for (int o = 0; o < 2; ++o) {  /* o = 0: gradients in turn on `path`; 1: fixed ones */
        data[o] = test_alloc_floats(n);
        state[o] = test_alloc_floats(3 * n);
        test_rng rng = {8};
        test_rng_fill(&rng, data[o], n);
        REQUIRE_OK(netcl_rmsprop_create(ctx, &opt[o]));
        REQUIRE_OK(netcl_rmsprop_set_path(opt[o], o == 0 ? path
                                                  : zero_copy ? NETCL_PATH_HOST : NETCL_PATH_KERNEL));
    }
    for (int r = 0; r < ring_size; ++r) {
        ring[r] = test_alloc_floats(n);
    }
    netcl_param_group g = test_default_group(0, 1);
    g.momentum = 0.9;
    g.centered = 1;
    uint64_t staged_before = 0, staged_after = 0;
    REQUIRE_OK(netcl_context_get_staged_bytes(ctx, &staged_before));
    for (int step = 0; step < STEPS_HERE; ++step) {
        test_rng rng = {(uint64_t)(40 + step)};
        test_rng_fill(&rng, fixed, n);
        memcpy(ring[step % ring_size], fixed, n * sizeof(float));
        const netcl_tensor moving = test_host_tensor(data[0], ring[step % ring_size], n);
        const netcl_tensor still = test_host_tensor(data[1], fixed, n);
        REQUIRE_OK(netcl_rmsprop_step(opt[0], &g, 1, &moving, 1));
        REQUIRE_OK(netcl_rmsprop_step(opt[1], &g, 1, &still, 1));
        CHECK(memcmp(data[0], data[1], n * sizeof(float)) == 0,
              "n=%zu, %d buffers in turn: step %d differs", n, ring_size, step);
    }
    REQUIRE_OK(netcl_context_get_staged_bytes(ctx, &staged_after));
    if (zero_copy) {
        CHECK(staged_after == staged_before, "n=%zu, %d buffers in turn: %llu bytes staged", n,
              ring_size, (unsigned long long)(staged_after - staged_before));
    }
    for (int o = 0; o < 2; ++o) {
        REQUIRE_OK(netcl_rmsprop_read_state(opt[o], 0, n, state[o], state[o] + n, state[o] + 2 * n));
    }
    CHECK(memcmp(state[0], state[1], 3 * n * sizeof(float)) == 0,
          "n=%zu, %d buffers in turn: the state differs", n, ring_size);
    for (int o = 0; o < 2; ++o) {
        netcl_rmsprop_destroy(opt[o]);
        free(data[o]);
        free(state[o]);
    }
    for (int r = 0; r < ring_size; ++r) {
        free(ring[r]);
    }
    free(fixed);
}

/*
 * Many small tensors as slices of one allocation on the kernel path: back to back they share
 * chunks (plan.c merges tensors that continue one another in data, grad and state), and with a
 * one-float gap after every seventh tensor the runs break there. One launch either way, and
 * the bits of the host path, tensor by tensor (state included).
 */
static void check_tensor_runs(netcl_context *ctx, const netcl_device_info *info)
{
    enum { TENSORS = 300, STEPS_HERE = 4 };
    uint64_t numel[TENSORS], total = 0;
    for (uint32_t i = 0; i < TENSORS; ++i) {
        numel[i] = 1 + (i * 37) % 200;
        total += numel[i] + 1;
    }
    const int paths = info->is_cpu && info->host_unified_memory ? 2 : 1;
    for (int gaps = 0; gaps < 2; ++gaps) {
        float *data[2], *grad[2], *state[2];
        netcl_tensor tensors[2][TENSORS];
        for (int k = 0; k < paths; ++k) {
            data[k] = test_alloc_floats(total);
            grad[k] = test_alloc_floats(total);
            state[k] = test_alloc_floats(3 * total);  /* square_avg, momentum, grad_avg */
            test_rng rng = {7};
            test_rng_fill(&rng, data[k], total);
            uint64_t at = 0;
            for (uint32_t i = 0; i < TENSORS; ++i) {
                tensors[k][i] = test_host_tensor(data[k] + at, grad[k] + at, numel[i]);
                at += numel[i] + (gaps && i % 7 == 6);
            }
            netcl_rmsprop *opt = NULL;
            REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
            REQUIRE_OK(netcl_rmsprop_set_path(opt, k == 0 ? NETCL_PATH_KERNEL : NETCL_PATH_HOST));
            netcl_param_group g = test_default_group(0, TENSORS);
            g.momentum = 0.9;
            g.centered = 1;
            for (int step = 0; step < STEPS_HERE; ++step) {
                test_rng grng = {(uint64_t)(100 + step)};
                test_rng_fill(&grng, grad[k], total);
                REQUIRE_OK(netcl_rmsprop_step(opt, &g, 1, tensors[k], TENSORS));
            }
            if (k == 0) {
                uint32_t launches = 0;
                REQUIRE_OK(netcl_rmsprop_get_last_launch_count(opt, &launches));
                CHECK(launches == 1, "%s: %u launches for one span", gaps ? "gaps" : "back to back",
                      launches);
            }
            at = 0;
            for (uint32_t i = 0; i < TENSORS; ++i) {
                REQUIRE_OK(netcl_rmsprop_read_state(opt, i, numel[i], state[k] + at, state[k] + total + at,
                                                    state[k] + 2 * total + at));
                at += numel[i];
            }
            netcl_rmsprop_destroy(opt);
        }
        if (paths == 2) {
            CHECK(memcmp(data[0], data[1], total * sizeof(float)) == 0 &&
                      memcmp(state[0], state[1], 3 * total * sizeof(float)) == 0,
                  "%s: the kernel path's bits differ from the host path's", gaps ? "gaps" : "back to back");
        }
        for (int k = 0; k < paths; ++k) {
            free(data[k]);
            free(grad[k]);
            free(state[k]);
        }
    }
}

int main(void)
{
    netcl_context *ctx = test_context();
    netcl_device_info info;
    REQUIRE_OK(netcl_context_get_info(ctx, &info));
    float *expected = test_alloc_floats(N), *grad = test_alloc_floats(N);

    /* Zero-copy: 128-byte aligned memory on a host-unified CPU device moves no bytes. */
    initial(expected);
    const uint64_t zero_copy_bytes = run_host(ctx, expected, grad, NETCL_PATH_KERNEL);
    if (info.is_cpu && info.host_unified_memory) {
        CHECK(zero_copy_bytes == 0, "zero-copy path staged %llu bytes",
              (unsigned long long)zero_copy_bytes);
    }

    /* Forced staging: same bits, 3 x 4 bytes per element per step (data + grad in, data out). */
    float *data = test_alloc_floats(N);
    initial(data);
    REQUIRE_OK(netcl_context_set_memory_mode(ctx, NETCL_MEMORY_STAGED));
    const uint64_t staged = run_host(ctx, data, grad, NETCL_PATH_KERNEL);
    REQUIRE_OK(netcl_context_set_memory_mode(ctx, NETCL_MEMORY_AUTO));
    CHECK(staged == (uint64_t)STEPS * N * 12, "staged bytes %llu", (unsigned long long)staged);
    CHECK(memcmp(data, expected, N * sizeof(float)) == 0, "staged result differs");

    /* Misaligned host memory (4-byte, not 128-byte aligned) still steps correctly. */
    float *raw = test_alloc_floats(N + 1), *raw_grad = test_alloc_floats(N + 1);
    initial(raw + 1);
    const uint64_t misaligned_bytes = run_host(ctx, raw + 1, raw_grad + 1, NETCL_PATH_KERNEL);
    CHECK(memcmp(raw + 1, expected, N * sizeof(float)) == 0, "misaligned result differs");
    CHECK(misaligned_bytes > 0, "misaligned memory cannot be zero-copy but staged nothing");

    /* The host path works on any 4-byte aligned host memory in place: nothing staged, same bits. */
    if (info.is_cpu && info.host_unified_memory) {
        initial(raw + 1);
        const uint64_t host_bytes = run_host(ctx, raw + 1, raw_grad + 1, NETCL_PATH_HOST);
        CHECK(memcmp(raw + 1, expected, N * sizeof(float)) == 0, "host path result differs");
        CHECK(host_bytes == 0, "the host path staged %llu bytes", (unsigned long long)host_bytes);
    }

    /* The caller's OpenCL objects: netcl shares the caller's queue and cl_mem buffers. */
    cl_platform_id platform;
    cl_device_id device;
    cl_int err = clGetPlatformIDs(1, &platform, NULL);
    err |= clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, NULL);
    cl_context cl_ctx = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    cl_command_queue queue = clCreateCommandQueue(cl_ctx, device, 0, &err);
    CHECK(err == CL_SUCCESS, "creating the caller's OpenCL objects: %d", err);
    netcl_context *shared = NULL;
    REQUIRE_OK(netcl_context_create_from_cl(cl_ctx, device, queue, &shared));
    /* Tensor 1 of a packed device buffer, at an odd offset. */
    const uint64_t offset = 5;
    cl_mem params = clCreateBuffer(cl_ctx, CL_MEM_READ_WRITE, (N + offset) * sizeof(float), NULL, &err);
    cl_mem grads = clCreateBuffer(cl_ctx, CL_MEM_READ_ONLY, (N + offset) * sizeof(float), NULL, &err);
    initial(data);
    err = clEnqueueWriteBuffer(queue, params, CL_TRUE, offset * sizeof(float), N * sizeof(float),
                               data, 0, NULL, NULL);
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(shared, &opt));
    netcl_param_group g = test_default_group(0, 1);
    g.momentum = 0.9;
    netcl_tensor t = {0};
    t.data_mem = params;
    t.grad_mem = grads;
    t.data_offset = offset;
    t.grad_offset = offset;
    t.numel = N;
    uint64_t staged_before = 0, staged_after = 0;
    REQUIRE_OK(netcl_context_get_staged_bytes(shared, &staged_before));
    for (int step = 0; step < STEPS; ++step) {
        grads_for(step, grad);
        /* The caller fills the gradient on the same in-order queue; netcl follows it. */
        err |= clEnqueueWriteBuffer(queue, grads, CL_FALSE, offset * sizeof(float),
                                    N * sizeof(float), grad, 0, NULL, NULL);
        REQUIRE_OK(netcl_rmsprop_step(opt, &g, 1, &t, 1));
    }
    REQUIRE_OK(netcl_context_get_staged_bytes(shared, &staged_after));
    CHECK(staged_after == staged_before, "device tensors were staged");
    err |= clEnqueueReadBuffer(queue, params, CL_TRUE, offset * sizeof(float), N * sizeof(float),
                               data, 0, NULL, NULL);
    CHECK(err == CL_SUCCESS, "caller's queue operations: %d", err);
    CHECK(memcmp(data, expected, N * sizeof(float)) == 0, "device-resident result differs");
    netcl_rmsprop_destroy(opt);

    /* Two tensors in one caller cl_mem (at offsets 0 and N + 3): one launch, the same bits as two
     * host tensors. */
    cl_mem pair = clCreateBuffer(cl_ctx, CL_MEM_READ_WRITE, (2 * N + 3) * sizeof(float), NULL, &err);
    cl_mem pair_grads = clCreateBuffer(cl_ctx, CL_MEM_READ_WRITE, (2 * N + 3) * sizeof(float), NULL, &err);
    float *host[2] = {test_alloc_floats(N), test_alloc_floats(N)};
    netcl_tensor device_pair[2] = {{0}, {0}}, host_pair[2];
    for (int k = 0; k < 2; ++k) {
        const uint64_t at = k == 0 ? 0 : N + 3;
        test_rng rng = {(uint64_t)(50 + k)};
        test_rng_fill(&rng, host[k], N);
        err |= clEnqueueWriteBuffer(queue, pair, CL_TRUE, at * sizeof(float), N * sizeof(float), host[k],
                                    0, NULL, NULL);
        err |= clEnqueueWriteBuffer(queue, pair_grads, CL_TRUE, at * sizeof(float), N * sizeof(float),
                                    grad, 0, NULL, NULL);
        device_pair[k].data_mem = pair;
        device_pair[k].grad_mem = pair_grads;
        device_pair[k].data_offset = device_pair[k].grad_offset = at;
        device_pair[k].numel = N;
        host_pair[k] = test_host_tensor(host[k], grad, N);
    }
    netcl_rmsprop *on_device = NULL, *on_host = NULL;
    REQUIRE_OK(netcl_rmsprop_create(shared, &on_device));
    REQUIRE_OK(netcl_rmsprop_create(shared, &on_host));
    const netcl_param_group two = test_default_group(0, 2);
    uint32_t launches = 0;
    for (int step = 0; step < STEPS; ++step) {
        REQUIRE_OK(netcl_rmsprop_step(on_device, &two, 1, device_pair, 2));
        REQUIRE_OK(netcl_rmsprop_step(on_host, &two, 1, host_pair, 2));
    }
    REQUIRE_OK(netcl_rmsprop_get_last_launch_count(on_device, &launches));
    CHECK(launches == 1, "two tensors in one cl_mem: %u launches", launches);
    for (int k = 0; k < 2; ++k) {
        err |= clEnqueueReadBuffer(queue, pair, CL_TRUE, (k == 0 ? 0 : N + 3) * sizeof(float),
                                   N * sizeof(float), data, 0, NULL, NULL);
        CHECK(memcmp(data, host[k], N * sizeof(float)) == 0, "device tensor %d differs from host", k);
    }
    CHECK(err == CL_SUCCESS, "caller's queue operations: %d", err);
    netcl_rmsprop_destroy(on_device);
    netcl_rmsprop_destroy(on_host);
    clReleaseMemObject(pair);
    clReleaseMemObject(pair_grads);
    free(host[0]);
    free(host[1]);
    netcl_context_destroy(shared);
    clReleaseMemObject(params);
    clReleaseMemObject(grads);
    clReleaseCommandQueue(queue);
    clReleaseContext(cl_ctx);

    check_moving_gradients(ctx, &info, NETCL_PATH_KERNEL);
    if (info.is_cpu && info.host_unified_memory) {
        check_moving_gradients(ctx, &info, NETCL_PATH_HOST);
    }
    check_gradients_in_turn(ctx, &info, 1000, NETCL_PATH_KERNEL, 3);
    check_gradients_in_turn(ctx, &info, (1u << 20) + 3, NETCL_PATH_KERNEL, 3);
    if (info.is_cpu && info.host_unified_memory) {
        check_gradients_in_turn(ctx, &info, 1000, NETCL_PATH_HOST, 2);
        check_gradients_in_turn(ctx, &info, 1000, NETCL_PATH_HOST, 3);
    }
    check_tensor_runs(ctx, &info);
    netcl_context_destroy(ctx);
    free(expected); free(grad); free(data); free(raw); free(raw_grad);
    return test_finish("test_memory");
}
