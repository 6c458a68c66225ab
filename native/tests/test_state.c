/*
 * State round trip: k steps, state copied into a fresh optimizer (on a fresh context), more
 * steps: identical bits to the uninterrupted run. Also lazy creation, clearing, and parameters
 * whose state appears later (a momentum buffer when momentum is switched on).
 */
#include "test_util.h"

enum { TENSORS = 3, STEPS = 7, SPLIT = 3 };
static const uint64_t sizes[TENSORS] = {5, 4096 + 17, 300};

static void fill_grads(float **grad, int step)
{
    for (int t = 0; t < TENSORS; ++t) {
        test_rng rng = {(uint64_t)(step * 31 + t + 1)};
        test_rng_fill(&rng, grad[t], sizes[t]);
    }
}

static void run_steps(netcl_rmsprop *opt, netcl_tensor *tensors, float **grad, int from, int to,
                      const netcl_param_group *groups)
{
    for (int step = from; step < to; ++step) {
        fill_grads(grad, step);
        /* tensor 2 has no gradient on odd steps */
        tensors[2].grad = step % 2 ? NULL : grad[2];
        REQUIRE_OK(netcl_rmsprop_step(opt, groups, 2, tensors, TENSORS));
    }
}

static void copy_state(const netcl_rmsprop *from, netcl_rmsprop *to)
{
    uint32_t count = 0;
    REQUIRE_OK(netcl_rmsprop_get_param_count(from, &count));
    for (uint32_t i = 0; i < count; ++i) {
        netcl_param_state st;
        REQUIRE_OK(netcl_rmsprop_get_state(from, i, &st));
        if (!st.has_square_avg) {
            continue;
        }
        float *v = test_alloc_floats(st.numel), *m = test_alloc_floats(st.numel);
        float *ga = test_alloc_floats(st.numel);
        REQUIRE_OK(netcl_rmsprop_read_state(from, i, st.numel, v, m, ga));
        REQUIRE_OK(netcl_rmsprop_write_state(to, i, st.step, st.numel, v,
                                             st.has_momentum_buffer ? m : NULL,
                                             st.has_grad_avg ? ga : NULL));
        free(v); free(m); free(ga);
    }
}

/* Whether each tensor's step count (netcl_rmsprop_get_state) is `expected`'s, `when`. */
static void check_step_counts(const netcl_rmsprop *opt, const uint64_t *expected, const char *when)
{
    for (uint32_t t = 0; t < TENSORS; ++t) {
        netcl_param_state st;
        REQUIRE_OK(netcl_rmsprop_get_state(opt, t, &st));
        CHECK(st.step == expected[t], "%s: tensor %u counts %llu, expected %llu", when, t,
              (unsigned long long)st.step, (unsigned long long)expected[t]);
    }
}

/* The step counts of a list stepped again and again (counted once, when the list changes, see
 * netcl_checked_stepped_again), with gradients from two buffers in turn (the spare list) and a
 * tensor without one, read after every step and after the list changed. */
static void check_reused_step_counts(netcl_context *ctx, netcl_tensor *tensors, float **grad)
{
    float *other_grads[TENSORS];
    netcl_tensor list[2][TENSORS];
    for (int t = 0; t < TENSORS; ++t) {
        other_grads[t] = test_alloc_floats(sizes[t]);
        memcpy(other_grads[t], grad[t], sizes[t] * sizeof(float));
        list[0][t] = tensors[t];
        list[0][t].grad = grad[t];
        list[1][t] = list[0][t];
        list[1][t].grad = other_grads[t];
    }
    list[0][2].grad = list[1][2].grad = NULL;
    const netcl_param_group group = test_default_group(0, TENSORS);
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    for (uint64_t step = 1; step <= 6; ++step) {
        REQUIRE_OK(netcl_rmsprop_step(opt, &group, 1, list[step % 2], TENSORS));
        const uint64_t reused[TENSORS] = {step, step, 0};
        check_step_counts(opt, reused, "reused list");
    }
    list[0][2].grad = grad[2];  /* another list: the reused one's steps are counted now */
    REQUIRE_OK(netcl_rmsprop_step(opt, &group, 1, list[0], TENSORS));
    REQUIRE_OK(netcl_rmsprop_step(opt, &group, 1, list[0], TENSORS));
    const uint64_t changed[TENSORS] = {8, 8, 2};
    check_step_counts(opt, changed, "after the list changed");
    /* State written between reused steps keeps its own count; the others keep theirs. */
    float *v = test_alloc_floats(sizes[1]);
    REQUIRE_OK(netcl_rmsprop_read_state(opt, 1, sizes[1], v, NULL, NULL));
    REQUIRE_OK(netcl_rmsprop_write_state(opt, 1, 100, sizes[1], v, NULL, NULL));
    REQUIRE_OK(netcl_rmsprop_step(opt, &group, 1, list[0], TENSORS));
    REQUIRE_OK(netcl_rmsprop_step(opt, &group, 1, list[0], TENSORS));
    const uint64_t after_write[TENSORS] = {10, 102, 4};
    check_step_counts(opt, after_write, "after a written state");
    netcl_rmsprop_destroy(opt);
    free(v);
    for (int t = 0; t < TENSORS; ++t) {
        free(other_grads[t]);
    }
}

int main(void)
{
    netcl_context *ctx = test_context();
    float *data_a[TENSORS], *data_b[TENSORS], *grad[TENSORS];
    netcl_tensor ta[TENSORS], tb[TENSORS];
    for (int t = 0; t < TENSORS; ++t) {
        data_a[t] = test_alloc_floats(sizes[t]);
        data_b[t] = test_alloc_floats(sizes[t]);
        grad[t] = test_alloc_floats(sizes[t]);
        test_rng rng = {(uint64_t)(1000 + t)};
        test_rng_fill(&rng, data_a[t], sizes[t]);
        memcpy(data_b[t], data_a[t], sizes[t] * sizeof(float));
        ta[t] = test_host_tensor(data_a[t], grad[t], sizes[t]);
        tb[t] = test_host_tensor(data_b[t], grad[t], sizes[t]);
    }
    netcl_param_group groups[2] = {test_default_group(0, 2), test_default_group(2, 1)};
    groups[0].momentum = 0.9;
    groups[0].centered = 1;
    groups[1].weight_decay = 0.01;

    netcl_rmsprop *whole = NULL, *first = NULL, *second = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &whole));
    REQUIRE_OK(netcl_rmsprop_create(ctx, &first));

    /* Lazy state: nothing before the first step. */
    netcl_param_state st;
    REQUIRE_OK(netcl_rmsprop_get_state(whole, 0, &st));
    CHECK(st.step == 0 && !st.has_square_avg, "state before the first step");

    run_steps(whole, ta, grad, 0, STEPS, groups);
    run_steps(first, tb, grad, 0, SPLIT, groups);
    netcl_context *ctx2 = test_context();
    REQUIRE_OK(netcl_rmsprop_create(ctx2, &second));
    copy_state(first, second);
    run_steps(second, tb, grad, SPLIT, STEPS, groups);
    for (int t = 0; t < TENSORS; ++t) {
        CHECK(memcmp(data_a[t], data_b[t], sizes[t] * sizeof(float)) == 0,
              "tensor %d differs after the state round trip", t);
        netcl_param_state sa, sb;
        REQUIRE_OK(netcl_rmsprop_get_state(whole, (uint32_t)t, &sa));
        REQUIRE_OK(netcl_rmsprop_get_state(second, (uint32_t)t, &sb));
        CHECK(memcmp(&sa, &sb, sizeof sa) == 0, "state info of tensor %d differs", t);
    }
    REQUIRE_OK(netcl_rmsprop_get_state(whole, 2, &st));
    CHECK(st.step == 4 && !st.has_momentum_buffer && !st.has_grad_avg,
          "tensor 2 (no grad on odd steps): step %llu", (unsigned long long)st.step);
    REQUIRE_OK(netcl_rmsprop_get_state(whole, 0, &st));
    CHECK(st.step == STEPS && st.has_momentum_buffer && st.has_grad_avg, "tensor 0 state");

    /* Ranges of every buffer, read through a small window, are the whole buffers' values. */
    {
        enum { WINDOW = 1000 };
        const uint64_t n = sizes[1];
        float *whole_buffers[3] = {test_alloc_floats(n), test_alloc_floats(n), test_alloc_floats(n)};
        float *ranges = test_alloc_floats(n);
        REQUIRE_OK(netcl_rmsprop_read_state(whole, 1, n, whole_buffers[0], whole_buffers[1],
                                            whole_buffers[2]));
        const int32_t buffers[3] = {NETCL_STATE_SQUARE_AVG, NETCL_STATE_MOMENTUM_BUFFER,
                                    NETCL_STATE_GRAD_AVG};
        for (int b = 0; b < 3; ++b) {
            memset(ranges, 0, n * sizeof(float));
            for (uint64_t at = 0; at < n; at += WINDOW) {
                const uint64_t count = n - at < WINDOW ? n - at : WINDOW;
                REQUIRE_OK(netcl_rmsprop_read_state_range(whole, 1, buffers[b], at, count,
                                                          ranges + at));
            }
            REQUIRE_OK(netcl_rmsprop_read_state_range(whole, 1, buffers[b], n, 0, NULL));
            CHECK(memcmp(ranges, whole_buffers[b], n * sizeof(float)) == 0,
                  "buffer %d read in ranges differs from the whole read", b);
            free(whole_buffers[b]);
        }
        free(ranges);
    }

    check_reused_step_counts(ctx, ta, grad);

    /* Momentum switched on later: the buffer appears, starting from zero. */
    groups[1].momentum = 0.5;
    run_steps(whole, ta, grad, STEPS + 1, STEPS + 2, groups);  /* an even step: tensor 2 has a grad */
    REQUIRE_OK(netcl_rmsprop_get_state(whole, 2, &st));
    CHECK(st.has_momentum_buffer, "momentum buffer created when momentum turned on");

    /* Clearing a state makes it absent; the next step starts it afresh. */
    REQUIRE_OK(netcl_rmsprop_write_state(whole, 1, 0, sizes[1], NULL, NULL, NULL));
    REQUIRE_OK(netcl_rmsprop_get_state(whole, 1, &st));
    CHECK(!st.has_square_avg && st.step == 0, "cleared state");
    run_steps(whole, ta, grad, 0, 1, groups);
    REQUIRE_OK(netcl_rmsprop_get_state(whole, 1, &st));
    CHECK(st.step == 1, "state restarted after clearing: step %llu", (unsigned long long)st.step);

    /* Written state of a new size moves the parameter to a new region; contents are exact. */
    float values[3] = {1.5f, -0.0f, 3e-39f};
    float back[3] = {0};
    REQUIRE_OK(netcl_rmsprop_write_state(whole, 9, 42, 3, values, NULL, NULL));
    REQUIRE_OK(netcl_rmsprop_read_state(whole, 9, 3, back, NULL, NULL));
    CHECK(memcmp(values, back, sizeof values) == 0, "written state read back differently");

    netcl_rmsprop_destroy(whole);
    netcl_rmsprop_destroy(first);
    netcl_rmsprop_destroy(second);
    netcl_context_destroy(ctx2);
    netcl_context_destroy(ctx);
    for (int t = 0; t < TENSORS; ++t) {
        free(data_a[t]); free(data_b[t]); free(grad[t]);
    }
    return test_finish("test_state");
}
