/*
 * State in several blocks: models larger than one device allocation, and loading that is all
 * or nothing. ctest runs this with NETCL_MAX_ALLOC_BYTES set to 1 MiB, so that a few small
 * tensors need more than one block, as billion-parameter models do against the real limit.
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "test_util.h"

enum { LIMIT_FLOATS = (1 << 20) / 4, TENSORS = 3, N = LIMIT_FLOATS / 2 + 1000, STEPS = 3 };

static void fill_grads(float *grad, int step)
{
    test_rng rng = {(uint64_t)(1000 + step)};
    test_rng_fill(&rng, grad, (size_t)N * TENSORS);
}

/* Steps the three tensors (slices of one buffer) in one optimizer on `path`; their state needs
 * three blocks. Returns the launches of the last step. */
static uint32_t run_together(netcl_context *ctx, float *data, float *grad, int32_t path)
{
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    REQUIRE_OK(netcl_rmsprop_set_path(opt, path));
    netcl_tensor t[TENSORS];
    for (int i = 0; i < TENSORS; ++i) {
        t[i] = test_host_tensor(data + (size_t)i * N, grad + (size_t)i * N, N);
    }
    netcl_param_group g = test_default_group(0, TENSORS);
    g.momentum = 0.9;
    g.centered = 1;
    for (int s = 0; s < STEPS; ++s) {
        fill_grads(grad, s);
        REQUIRE_OK(netcl_rmsprop_step(opt, &g, 1, t, TENSORS));
    }
    uint32_t launches = 0;
    REQUIRE_OK(netcl_rmsprop_get_last_launch_count(opt, &launches));
    netcl_rmsprop_destroy(opt);
    return launches;
}

/* The same tensors, each in an optimizer of its own: one block each. */
static void run_apart(netcl_context *ctx, float *data, float *grad)
{
    for (int i = 0; i < TENSORS; ++i) {
        netcl_rmsprop *opt = NULL;
        REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
        const netcl_tensor t = test_host_tensor(data + (size_t)i * N, grad + (size_t)i * N, N);
        netcl_param_group g = test_default_group(0, 1);
        g.momentum = 0.9;
        g.centered = 1;
        for (int s = 0; s < STEPS; ++s) {
            fill_grads(grad, s);
            REQUIRE_OK(netcl_rmsprop_step(opt, &g, 1, &t, 1));
        }
        netcl_rmsprop_destroy(opt);
    }
}

static void check_several_blocks(netcl_context *ctx)
{
    const size_t total = (size_t)N * TENSORS;
    float *expected = test_alloc_floats(total), *grad = test_alloc_floats(total);
    test_rng rng = {5};
    test_rng_fill(&rng, expected, total);
    float *start = test_alloc_floats(total);
    memcpy(start, expected, total * sizeof(float));
    run_apart(ctx, expected, grad);

    const int32_t paths[2] = {NETCL_PATH_KERNEL, NETCL_PATH_HOST};
    for (int p = 0; p < 2; ++p) {
        float *data = test_alloc_floats(total);
        memcpy(data, start, total * sizeof(float));
        const uint32_t launches = run_together(ctx, data, grad, paths[p]);
        CHECK(memcmp(data, expected, total * sizeof(float)) == 0,
              "path %d: state over several blocks changed the results", paths[p]);
        if (paths[p] == NETCL_PATH_KERNEL) {
            /* One contiguous span, cut where the state moves to the next block. */
            CHECK(launches == TENSORS, "%u launches, expected one per state block", launches);
        }
        free(data);
    }
    free(expected); free(grad); free(start);
}

/* A tensor whose state alone exceeds the largest allocation is refused, naming the limit. */
static void check_too_large(netcl_context *ctx)
{
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    const size_t n = LIMIT_FLOATS + 1;
    float *data = test_alloc_floats(n), *grad = test_alloc_floats(n);
    const netcl_param_group g = test_default_group(0, 1);
    const netcl_tensor t = test_host_tensor(data, grad, n);
    const netcl_status status = netcl_rmsprop_step(opt, &g, 1, &t, 1);
    CHECK(status == CL_MEM_OBJECT_ALLOCATION_FAILURE &&
              strstr(netcl_last_error(), "exceeds the device's largest allocation") != NULL,
          "a tensor past the limit: %s: %s", netcl_status_name(status), netcl_last_error());
    netcl_param_state st;
    REQUIRE_OK(netcl_rmsprop_get_state(opt, 0, &st));
    CHECK(st.step == 0 && !st.has_square_avg, "the refused step left state");
    netcl_rmsprop_destroy(opt);
    free(data); free(grad);
}

/* Loading is all or nothing: when parameter 1's state cannot be allocated, parameter 0 keeps
 * the state it had. */
static void check_atomic_load(netcl_context *ctx)
{
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    enum { SMALL = 64 };
    float before[SMALL], out[SMALL];
    for (int i = 0; i < SMALL; ++i) before[i] = (float)i;
    REQUIRE_OK(netcl_rmsprop_write_state(opt, 0, 7, SMALL, before, NULL, NULL));
    const size_t big = LIMIT_FLOATS + 1;
    float *values = test_alloc_floats(big), *other = test_alloc_floats(SMALL);
    const netcl_state_values states[2] = {{9, SMALL, other, NULL, NULL, NULL},
                                          {1, big, values, NULL, NULL, NULL}};
    const netcl_status status = netcl_rmsprop_load_state(opt, 2, states);
    CHECK(status == CL_MEM_OBJECT_ALLOCATION_FAILURE, "loading past the limit: %s: %s",
          netcl_status_name(status), netcl_last_error());
    netcl_param_state st;
    REQUIRE_OK(netcl_rmsprop_get_state(opt, 0, &st));
    REQUIRE_OK(netcl_rmsprop_read_state(opt, 0, SMALL, out, NULL, NULL));
    CHECK(st.step == 7 && memcmp(out, before, sizeof out) == 0,
          "a failed load changed parameter 0 (step %llu)", (unsigned long long)st.step);
    REQUIRE_OK(netcl_rmsprop_get_state(opt, 1, &st));
    CHECK(!st.has_square_avg, "a failed load left state for parameter 1");

    /* A bad value in the last entry: nothing changes either. */
    const netcl_state_values bad[2] = {{9, SMALL, other, NULL, NULL, NULL},
                                        {3, SMALL, NULL, other, NULL, NULL}};
    CHECK(netcl_rmsprop_load_state(opt, 2, bad) == NETCL_INVALID_ARGUMENT, "bad entry accepted");
    REQUIRE_OK(netcl_rmsprop_get_state(opt, 0, &st));
    CHECK(st.step == 7, "a refused load changed parameter 0");

    /* And a good load replaces everything. */
    const netcl_state_values good[2] = {{9, SMALL, other, NULL, NULL, NULL},
                                         {2, SMALL, other, other, NULL, NULL}};
    REQUIRE_OK(netcl_rmsprop_load_state(opt, 2, good));
    REQUIRE_OK(netcl_rmsprop_get_state(opt, 1, &st));
    CHECK(st.step == 2 && st.has_momentum_buffer, "the good load");
    netcl_rmsprop_destroy(opt);
    free(values); free(other);
}

int main(void)
{
    netcl_context *ctx = test_context();
    netcl_device_info info;
    REQUIRE_OK(netcl_context_get_info(ctx, &info));
    const char *limit = getenv("NETCL_MAX_ALLOC_BYTES");
    if (limit == NULL || strtoull(limit, NULL, 10) != (unsigned long long)LIMIT_FLOATS * 4) {
        fprintf(stderr, "test_blocks: run it with NETCL_MAX_ALLOC_BYTES=%d (ctest does)\n",
                LIMIT_FLOATS * 4);
        return 2;
    }
    check_several_blocks(ctx);
    check_too_large(ctx);
    check_atomic_load(ctx);
    netcl_context_destroy(ctx);
    return test_finish("test_blocks");
}
