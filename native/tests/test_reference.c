/*
 * Every combination of weight decay, momentum, centered and maximize, at sizes 1 to 2^20, over
 * several steps, against a double-precision scalar reference of PyTorch's equations; plus one
 * step computed by hand, and many tensors per group (one contiguous buffer and scattered ones).
 */
#include <math.h>

#include "test_util.h"

typedef struct reference_state {
    double *param, *square_avg, *momentum_buffer, *grad_avg;
} reference_state;

static void reference_step(reference_state *s, const float *grad, size_t n,
                           const netcl_param_group *h)
{
    for (size_t i = 0; i < n; ++i) {
        double g = h->maximize ? -(double)grad[i] : (double)grad[i];
        if (h->weight_decay != 0.0) {
            g += h->weight_decay * s->param[i];
        }
        s->square_avg[i] = h->alpha * s->square_avg[i] + (1.0 - h->alpha) * g * g;
        double avg;
        if (h->centered) {
            s->grad_avg[i] = h->alpha * s->grad_avg[i] + (1.0 - h->alpha) * g;
            avg = sqrt(s->square_avg[i] - s->grad_avg[i] * s->grad_avg[i]) + h->eps;
        } else {
            avg = sqrt(s->square_avg[i]) + h->eps;
        }
        if (h->momentum > 0.0) {
            s->momentum_buffer[i] = h->momentum * s->momentum_buffer[i] + g / avg;
            s->param[i] -= h->lr * s->momentum_buffer[i];
        } else {
            s->param[i] -= h->lr * g / avg;
        }
    }
}

static double max_error(const float *actual, const double *expected, size_t n)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; ++i) {
        const double e = fabs((double)actual[i] - expected[i]) / fmax(1.0, fabs(expected[i]));
        worst = e > worst || isnan(e) ? e : worst;
    }
    return worst;
}

static void check_variant(netcl_context *ctx, size_t n, int weight_decay, int momentum,
                          int centered, int maximize)
{
    enum { STEPS = 4 };
    netcl_param_group h = test_default_group(0, 1);
    h.lr = 3e-3;
    h.alpha = 0.9;
    h.weight_decay = weight_decay ? 0.05 : 0.0;
    h.momentum = momentum ? 0.9 : 0.0;
    h.centered = centered;
    h.maximize = maximize;
    float *data = test_alloc_floats(n), *grad = test_alloc_floats(n);
    reference_state ref = {calloc(n, sizeof(double)), calloc(n, sizeof(double)),
                           calloc(n, sizeof(double)), calloc(n, sizeof(double))};
    test_rng rng = {0x9E3779B97F4A7C15ULL ^ n};
    test_rng_fill(&rng, data, n);
    for (size_t i = 0; i < n; ++i) ref.param[i] = data[i];

    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    const netcl_tensor t = test_host_tensor(data, grad, n);
    for (int step = 0; step < STEPS; ++step) {
        /* |grad| >= 0.1 keeps grad + weight_decay * p away from cancellation, where float and
         * double would rightly disagree. */
        test_rng_fill(&rng, grad, n);
        for (size_t i = 0; i < n; ++i) grad[i] = copysignf(0.1f + 0.9f * fabsf(grad[i]), grad[i]);
        h.lr *= 0.9;  /* a schedule: hyperparameters come with each step */
        REQUIRE_OK(netcl_rmsprop_step(opt, &h, 1, &t, 1));
        reference_step(&ref, grad, n, &h);
    }
    const double err = max_error(data, ref.param, n);
    CHECK(err < 2e-6, "n=%zu wd=%d mom=%d cen=%d max=%d: param error %g", n, weight_decay,
          momentum, centered, maximize, err);

    netcl_param_state st;
    REQUIRE_OK(netcl_rmsprop_get_state(opt, 0, &st));
    CHECK(st.step == STEPS && st.has_square_avg && st.has_momentum_buffer == momentum &&
              st.has_grad_avg == centered, "state flags step=%llu m=%d ga=%d",
          (unsigned long long)st.step, st.has_momentum_buffer, st.has_grad_avg);
    float *v = test_alloc_floats(n), *m = test_alloc_floats(n), *ga = test_alloc_floats(n);
    REQUIRE_OK(netcl_rmsprop_read_state(opt, 0, n, v, m, ga));
    CHECK(max_error(v, ref.square_avg, n) < 1e-6, "square_avg error %g", max_error(v, ref.square_avg, n));
    if (momentum) {
        CHECK(max_error(m, ref.momentum_buffer, n) < 1e-4, "momentum_buffer error %g",
              max_error(m, ref.momentum_buffer, n));
    }
    if (centered) {
        CHECK(max_error(ga, ref.grad_avg, n) < 1e-6, "grad_avg error %g", max_error(ga, ref.grad_avg, n));
    }
    netcl_rmsprop_destroy(opt);
    free(data); free(grad); free(v); free(m); free(ga);
    free(ref.param); free(ref.square_avg); free(ref.momentum_buffer); free(ref.grad_avg);
}

/* One step with PyTorch's defaults on p = 1, g = 1, worked out by hand in float. */
static void check_hand_computed(netcl_context *ctx)
{
    float *data = test_alloc_floats(1), *grad = test_alloc_floats(1);
    data[0] = 1.0f;
    grad[0] = 1.0f;
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    const netcl_param_group h = test_default_group(0, 1);
    const netcl_tensor t = test_host_tensor(data, grad, 1);
    REQUIRE_OK(netcl_rmsprop_step(opt, &h, 1, &t, 1));
    /* v = 0.01f (1 - 0.99 rounded to float), avg = sqrt(v) + 1e-8 = 0.1f, p = 1 - 0.01f / 0.1f */
    const float v = (float)(1.0 - 0.99);
    const float avg = sqrtf(v) + 1e-8f;
    const float expected = 1.0f + (-0.01f * 1.0f) / avg;
    CHECK(data[0] == expected, "hand-computed step: got %.9g, expected %.9g", data[0], expected);
    CHECK(fabsf(data[0] - 0.9f) < 1e-6f, "hand-computed step: got %.9g, expected about 0.9", data[0]);
    netcl_rmsprop_destroy(opt);
    free(data);
    free(grad);
}

/* Whether the tensors allocated apart hold the same bits as the slices of `packed`. */
static int same_as_packed(const float *packed, float *const *apart, const uint64_t *sizes,
                          int count)
{
    size_t at = 0;
    int same = 1;
    for (int i = 0; i < count; ++i) {
        same &= memcmp(packed + at, apart[i], sizes[i] * sizeof(float)) == 0;
        at += sizes[i];
    }
    return same;
}

/* Many tensors in one group, then in two, on a path: slices of one buffer (one run of the host
 * path, one launch of the kernel path) give the same bits as the same tensors allocated apart
 * (on the host path many runs, in batches that the step's parts cut). */
static void check_many_tensors(netcl_context *ctx, int32_t path)
{
    enum { TENSORS = 161 };
    uint64_t sizes[TENSORS];
    size_t total = 0;
    test_rng rng = {42};
    for (int i = 0; i < TENSORS; ++i) {
        sizes[i] = i % 3 == 0 ? 4096u * (1u + (uint32_t)i % 5u) : 1u + (uint64_t)(i * 977) % 9000u;
        total += sizes[i];
    }
    float *packed = test_alloc_floats(total), *packed_grad = test_alloc_floats(total);
    test_rng_fill(&rng, packed, total);
    test_rng_fill(&rng, packed_grad, total);
    float *apart[TENSORS], *apart_grad[TENSORS];
    netcl_tensor slices[TENSORS], separate[TENSORS];
    size_t at = 0;
    for (int i = 0; i < TENSORS; ++i) {
        apart[i] = test_alloc_floats(sizes[i]);
        apart_grad[i] = test_alloc_floats(sizes[i]);
        memcpy(apart[i], packed + at, sizes[i] * sizeof(float));
        memcpy(apart_grad[i], packed_grad + at, sizes[i] * sizeof(float));
        slices[i] = test_host_tensor(packed + at, packed_grad + at, sizes[i]);
        separate[i] = test_host_tensor(apart[i], apart_grad[i], sizes[i]);
        at += sizes[i];
    }
    netcl_param_group h = test_default_group(0, TENSORS);
    h.momentum = 0.5;
    h.centered = 1;
    netcl_rmsprop *one = NULL, *many = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &one));
    REQUIRE_OK(netcl_rmsprop_create(ctx, &many));
    REQUIRE_OK(netcl_rmsprop_set_path(one, path));
    REQUIRE_OK(netcl_rmsprop_set_path(many, path));
    uint32_t launches_one = 0, launches_many = 0;
    for (int step = 0; step < 3; ++step) {
        REQUIRE_OK(netcl_rmsprop_step(one, &h, 1, slices, TENSORS));
        REQUIRE_OK(netcl_rmsprop_step(many, &h, 1, separate, TENSORS));
        REQUIRE_OK(netcl_rmsprop_get_last_launch_count(one, &launches_one));
        REQUIRE_OK(netcl_rmsprop_get_last_launch_count(many, &launches_many));
    }
    if (path == NETCL_PATH_KERNEL) {
        CHECK(launches_one == 1, "slices of one buffer: %u launches, expected 1", launches_one);
        CHECK(launches_many >= launches_one, "separate tensors: %u launches", launches_many);
    }
    CHECK(same_as_packed(packed, apart, sizes, TENSORS), "path %d: packed and separate tensors "
          "differ", path);

    /* Two groups over the same buffer: one span each. */
    netcl_param_group two[2] = {test_default_group(0, 80), test_default_group(80, TENSORS - 80)};
    two[1].lr = 1e-3;
    two[1].weight_decay = 0.1;
    REQUIRE_OK(netcl_rmsprop_step(one, two, 2, slices, TENSORS));
    REQUIRE_OK(netcl_rmsprop_step(many, two, 2, separate, TENSORS));
    REQUIRE_OK(netcl_rmsprop_get_last_launch_count(one, &launches_one));
    CHECK(path != NETCL_PATH_KERNEL || launches_one == 2, "two groups: %u launches, expected 2",
          launches_one);
    CHECK(same_as_packed(packed, apart, sizes, TENSORS), "path %d, two groups: packed and "
          "separate tensors differ", path);

    netcl_rmsprop_destroy(one);
    netcl_rmsprop_destroy(many);
    for (int i = 0; i < TENSORS; ++i) {
        free(apart[i]);
        free(apart_grad[i]);
    }
    free(packed);
    free(packed_grad);
}

int main(void)
{
    netcl_context *ctx = test_context();
    const size_t sizes[] = {1, 3, 7, 1023, 65537, 1u << 20};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
        for (int variant = 0; variant < 16; ++variant) {
            check_variant(ctx, sizes[s], variant >> 3 & 1, variant >> 2 & 1, variant >> 1 & 1,
                          variant & 1);
        }
    }
    check_hand_computed(ctx);
    check_many_tensors(ctx, NETCL_PATH_KERNEL);
    check_many_tensors(ctx, NETCL_PATH_HOST);
    netcl_context_destroy(ctx);
    return test_finish("test_reference");
}
