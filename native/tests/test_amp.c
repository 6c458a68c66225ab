/*
 * Mixed-precision trajectories (scripts/generate-amp-trajectories: PyTorch 1.13 with a loss
 * scaler, gradient clipping and float32 masters for bf16/fp16 parameters) replayed through
 * netcl_rmsprop_grad_stats and netcl_rmsprop_step_with: the non-finite check, the clipping norm
 * and coefficient, every master, parameter and final state must have the recorded bits (a NaN
 * may be any NaN, as in test_torch). Usage: test_amp DATA_DIR.
 */
#include <math.h>

#include "test_util.h"

enum { CLIP_NONE, CLIP_L2, CLIP_INF };

static uint32_t u32(test_reader *r)
{
    uint32_t v;
    test_take(r, &v, 4);
    return v;
}

static double f64(test_reader *r)
{
    double v;
    test_take(r, &v, 8);
    return v;
}

static float f32(test_reader *r)
{
    float v;
    test_take(r, &v, 4);
    return v;
}

static uint32_t float_bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Bits equal, or both NaN. */
static int same_float(float a, float b)
{
    return memcmp(&a, &b, 4) == 0 || (isnan(a) && isnan(b));
}

static int same_half(uint16_t a, uint16_t b, int dtype)
{
    const uint16_t exp_mask = dtype == NETCL_BF16 ? 0x7F80u : 0x7C00u;
    const uint16_t man_mask = dtype == NETCL_BF16 ? 0x007Fu : 0x03FFu;
    const int a_nan = (a & exp_mask) == exp_mask && (a & man_mask) != 0;
    const int b_nan = (b & exp_mask) == exp_mask && (b & man_mask) != 0;
    return a == b || (a_nan && b_nan);
}

/* Compares `n` values of `dtype` at `actual` with the next ones in the file. */
static size_t diffs_in(test_reader *r, const void *actual, uint32_t n, int dtype)
{
    size_t diffs = 0;
    for (uint32_t k = 0; k < n; ++k) {
        if (dtype == NETCL_FP32) {
            diffs += !same_float(((const float *)actual)[k], f32(r));
        } else {
            uint16_t expected;
            test_take(r, &expected, 2);
            diffs += !same_half(((const uint16_t *)actual)[k], expected, dtype);
        }
    }
    return diffs;
}

/*
 * Where a replay keeps its tensors: host memory, or (FP32 trajectories only) two device buffers,
 * the parameters and the gradients of all tensors back to back, so that the statistics pass is
 * one launch over several tensors and the step one span.
 */
enum placement { ON_HOST, IN_DEVICE_BUFFERS };

/* The tensor list of a replay in device buffers: the host tensors' places in `data` and `grad`. */
static void place_in_buffers(netcl_context *ctx, const netcl_tensor *host, uint32_t count,
                             netcl_tensor *device, struct _cl_mem **data,
                             struct _cl_mem **grad)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; ++i) {
        total += host[i].numel;
    }
    REQUIRE_OK(netcl_buffer_create(ctx, total, data));
    REQUIRE_OK(netcl_buffer_create(ctx, total, grad));
    uint64_t at = 0;
    for (uint32_t i = 0; i < count; ++i) {
        device[i] = (netcl_tensor){0};
        device[i].data_mem = *data;
        device[i].grad_mem = *grad;
        device[i].data_offset = device[i].grad_offset = at;
        device[i].numel = host[i].numel;
        REQUIRE_OK(netcl_buffer_write(ctx, *data, at, host[i].numel, host[i].data));
        at += host[i].numel;
    }
}

/* Replays one trajectory; returns 0 where the placement cannot hold it (2-byte tensors in device
 * buffers), else 1. */
static int replay(netcl_context *ctx, const char *path, enum placement placement)
{
    size_t size = 0;
    unsigned char *bytes = test_read_file(path, &size);
    if (bytes == NULL) {
        CHECK(0, "cannot read %s", path);
        return 0;
    }
    test_reader r = {bytes, bytes + size, 1};
    char magic[4];
    test_take(&r, magic, 4);
    CHECK(memcmp(magic, "NCAM", 4) == 0 && u32(&r) == 1, "%s: bad header", path);
    const uint32_t steps = u32(&r), group_count = u32(&r), count = u32(&r), clip = u32(&r);
    const double max_norm = f64(&r);
    f64(&r); f64(&r); f64(&r); u32(&r);  /* the scaler's settings: the recorded scales suffice */
    netcl_param_group groups[4];
    for (uint32_t g = 0; g < group_count && g < 4; ++g) {
        groups[g] = test_default_group(0, 0);
        groups[g].lr = f64(&r);
        groups[g].alpha = f64(&r);
        groups[g].eps = f64(&r);
        groups[g].weight_decay = f64(&r);
        groups[g].momentum = f64(&r);
        groups[g].centered = (int32_t)u32(&r);
        groups[g].maximize = (int32_t)u32(&r);
    }
    netcl_tensor tensors[8];
    uint32_t numel[8];
    for (uint32_t i = 0; i < count && i < 8; ++i) {
        const uint32_t g = u32(&r);
        const int32_t dtype = (int32_t)u32(&r);
        numel[i] = u32(&r);
        tensors[i] = test_host_tensor(test_alloc_floats(numel[i]), test_alloc_floats(numel[i]), numel[i]);
        tensors[i].dtype = dtype;
        if (groups[g].count == 0) groups[g].first = i;
        groups[g].count++;
    }
    for (uint32_t i = 0; i < count; ++i) {
        test_take(&r, tensors[i].data, numel[i] * (tensors[i].dtype == NETCL_FP32 ? 4u : 2u));
    }
    int fp32_only = 1;
    for (uint32_t i = 0; i < count; ++i) {
        fp32_only &= tensors[i].dtype == NETCL_FP32;
    }
    if (placement == IN_DEVICE_BUFFERS && !fp32_only) {
        for (uint32_t i = 0; i < count; ++i) {
            free(tensors[i].data);
            free((void *)tensors[i].grad);
        }
        free(bytes);
        return 0;
    }
    /* The tensors netcl is given: the host ones, or their device twins. */
    netcl_tensor device[8];
    struct _cl_mem *device_data = NULL, *device_grad = NULL;
    if (placement == IN_DEVICE_BUFFERS) {
        place_in_buffers(ctx, tensors, count, device, &device_data, &device_grad);
    }
    const netcl_tensor *given = placement == IN_DEVICE_BUFFERS ? device : tensors;
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    netcl_grad_stats stats[8];
    float *values = test_alloc_floats(1 << 16);
    for (uint32_t s = 0; s < steps && r.ok; ++s) {
        f32(&r);
        const float inv_scale = f32(&r);
        for (uint32_t i = 0; i < count; ++i) {
            test_take(&r, (void *)tensors[i].grad, numel[i] * (tensors[i].dtype == NETCL_FP32 ? 4u : 2u));
        }
        const uint32_t found_inf = u32(&r);
        for (uint32_t i = 0; i < count && placement == IN_DEVICE_BUFFERS; ++i) {
            REQUIRE_OK(netcl_buffer_write(ctx, device_grad, device[i].grad_offset, numel[i],
                                          tensors[i].grad));
        }
        REQUIRE_OK(netcl_rmsprop_grad_stats(opt, given, count, inv_scale, stats));
        double sum = 0.0, max_abs = 0.0;
        int nonfinite = 0;
        for (uint32_t i = 0; i < count; ++i) {
            nonfinite |= stats[i].nonfinite;
            sum += stats[i].sum_squares;
            max_abs = stats[i].max_abs > max_abs || isnan(stats[i].max_abs) ? stats[i].max_abs : max_abs;
        }
        CHECK(nonfinite == (int)found_inf, "%s: step %u: found_inf %d, PyTorch %u", path, s + 1,
              nonfinite, found_inf);
        netcl_step_options options = {sizeof options, inv_scale, 1.0f};
        if (clip != CLIP_NONE) {
            f32(&r);  /* PyTorch's own float32 norm: its reduction order is not reproducible */
            const double ref_norm = f64(&r);
            const float norm = f32(&r), coef = f32(&r);
            const float ours = (float)(clip == CLIP_L2 ? sqrt(sum) : max_abs);
            CHECK(same_float(ours, norm), "%s: step %u: norm %.9g, expected %.9g (double %.17g)",
                  path, s + 1, ours, norm, ref_norm);
            float clip_coef = (1.0f / (ours + 1e-6f)) * (float)max_norm;
            clip_coef = clip_coef > 1.0f ? 1.0f : clip_coef;  /* clamp(max=1): NaN stays NaN */
            CHECK(same_float(clip_coef, coef), "%s: step %u: clip_coef %.9g, expected %.9g", path,
                  s + 1, clip_coef, coef);
            options.clip_coef = clip_coef;
        }
        if (!nonfinite) {
            REQUIRE_OK(netcl_rmsprop_step_with(opt, groups, group_count, given, count, &options));
        }
        for (uint32_t i = 0; i < count && placement == IN_DEVICE_BUFFERS; ++i) {
            REQUIRE_OK(netcl_buffer_read(ctx, device_data, device[i].data_offset, numel[i],
                                         tensors[i].data));
        }
        for (uint32_t i = 0; i < count; ++i) {
            netcl_param_state st;
            REQUIRE_OK(netcl_rmsprop_get_state(opt, i, &st));
            /* The master: the parameter itself for FP32; before a BF16/FP16 parameter's first
             * step it is the parameter converted, which the parameter's own check covers. */
            const float *master = tensors[i].data;
            if (tensors[i].dtype != NETCL_FP32) {
                master = NULL;
                if (st.has_master) {
                    REQUIRE_OK(netcl_rmsprop_read_master(opt, i, numel[i], values));
                    master = values;
                }
            }
            size_t diffs = 0;
            if (master != NULL) {
                diffs += diffs_in(&r, master, numel[i], NETCL_FP32);
            } else {
                r.at += numel[i] * 4u;
            }
            if (tensors[i].dtype != NETCL_FP32) {
                diffs += diffs_in(&r, tensors[i].data, numel[i], tensors[i].dtype);
            }
            CHECK(diffs == 0, "%s: step %u: tensor %u: %zu values differ from PyTorch", path, s + 1,
                  i, diffs);
        }
        f32(&r);
        u32(&r);
    }
    for (uint32_t i = 0; i < count && r.ok; ++i) {
        uint64_t step;
        test_take(&r, &step, 8);
        netcl_param_state st;
        REQUIRE_OK(netcl_rmsprop_get_state(opt, i, &st));
        CHECK(st.step == step, "%s: tensor %u: step %llu, PyTorch %llu", path, i,
              (unsigned long long)st.step, (unsigned long long)step);
        float *out[3] = {test_alloc_floats(numel[i]), test_alloc_floats(numel[i]),
                         test_alloc_floats(numel[i])};
        REQUIRE_OK(netcl_rmsprop_read_state(opt, i, numel[i], out[0], out[1], out[2]));
        const netcl_param_group *g = &groups[0];
        for (uint32_t k = 0; k < group_count; ++k) {
            if (i >= groups[k].first && i < groups[k].first + groups[k].count) g = &groups[k];
        }
        const int present[3] = {1, g->momentum > 0.0, g->centered};
        for (int b = 0; b < 3; ++b) {
            if (present[b]) {
                CHECK(diffs_in(&r, out[b], numel[i], NETCL_FP32) == 0, "%s: tensor %u: state %d "
                      "differs from PyTorch", path, i, b);
            }
            free(out[b]);
        }
    }
    CHECK(r.ok && r.at == r.end, "%s: truncated or trailing bytes", path);
    netcl_rmsprop_destroy(opt);
    netcl_buffer_release(device_data);
    netcl_buffer_release(device_grad);
    for (uint32_t i = 0; i < count; ++i) {
        free(tensors[i].data);
        free((void *)tensors[i].grad);
    }
    free(values);
    free(bytes);
    return 1;
}

/* Hand-computed gradient passes, and every bad input of the mixed-precision calls: the status,
 * and that nothing changed. */
static void check_grad_passes_and_errors(netcl_context *ctx)
{
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    float data[4] = {1, 2, 3, 4}, grad[4] = {3, -4, 0, 0.5f};
    uint16_t half_data[4] = {0x3F80, 0x4000, 0x4040, 0x4080};   /* bf16 1, 2, 3, 4 */
    uint16_t half_grad[4] = {0x4040, 0xC080, 0x0000, 0x3F00};   /* bf16 3, -4, 0, 0.5 */
    netcl_tensor t[2] = {test_host_tensor(data, grad, 4), test_host_tensor(half_data, half_grad, 4)};
    t[1].dtype = NETCL_BF16;
    netcl_grad_stats stats[2];
    REQUIRE_OK(netcl_rmsprop_grad_stats(opt, t, 2, 0.5f, stats));
    for (int i = 0; i < 2; ++i) {  /* (1.5^2 + 2^2 + 0 + 0.25^2) = 6.3125, max 2 */
        CHECK(stats[i].sum_squares == 6.3125 && stats[i].max_abs == 2.0 && !stats[i].nonfinite,
              "stats of tensor %d: %g %g %d", i, stats[i].sum_squares, stats[i].max_abs,
              stats[i].nonfinite);
    }
    REQUIRE_OK(netcl_rmsprop_scale_grads(opt, t, 2, 0.5f, stats));
    CHECK(grad[0] == 1.5f && grad[1] == -2.0f && grad[3] == 0.25f, "scaled fp32 gradient");
    CHECK(half_grad[0] == 0x3FC0 && half_grad[1] == 0xC000 && half_grad[3] == 0x3E80,
          "scaled bf16 gradient %04x %04x %04x", half_grad[0], half_grad[1], half_grad[3]);
    CHECK(stats[1].sum_squares == 6.3125, "stats of the scaling pass");
    grad[2] = INFINITY;
    REQUIRE_OK(netcl_rmsprop_grad_stats(opt, t, 1, 1.0f, stats));
    CHECK(stats[0].nonfinite, "an inf gradient is reported");
    grad[2] = 0.0f;

    /* Bad inputs: a clear status, nothing changed. */
    const float grad_before[4] = {grad[0], grad[1], grad[2], grad[3]};
    const float data_before[4] = {data[0], data[1], data[2], data[3]};
    const netcl_param_group g = test_default_group(0, 1);
    netcl_step_options options = {sizeof options, 1.0f, 1.0f};
    options.struct_size = 4;
    CHECK(netcl_rmsprop_step_with(opt, &g, 1, t, 1, &options) == NETCL_INVALID_ARGUMENT &&
              strstr(netcl_last_error(), "struct_size") != NULL, "wrong struct_size");
    options.struct_size = sizeof options;
    options.inv_scale = NAN;
    CHECK(netcl_rmsprop_step_with(opt, &g, 1, t, 1, &options) == NETCL_INVALID_ARGUMENT,
          "NaN inv_scale");
    options.inv_scale = 1.0f;
    options.clip_coef = -1.0f;
    CHECK(netcl_rmsprop_step_with(opt, &g, 1, t, 1, &options) == NETCL_INVALID_ARGUMENT,
          "negative clip_coef");
    CHECK(netcl_rmsprop_step_with(opt, &g, 1, t, 1, NULL) == NETCL_INVALID_ARGUMENT, "NULL options");
    CHECK(netcl_rmsprop_scale_grads(opt, t, 1, INFINITY, NULL) == NETCL_INVALID_ARGUMENT,
          "infinite factor");
    CHECK(netcl_rmsprop_grad_stats(opt, t, 1, NAN, stats) == NETCL_INVALID_ARGUMENT, "NaN inv_scale");
    netcl_tensor bad = t[0];
    bad.dtype = 7;
    CHECK(netcl_rmsprop_step(opt, &g, 1, &bad, 1) == NETCL_INVALID_ARGUMENT &&
              strstr(netcl_last_error(), "unknown dtype 7") != NULL, "unknown dtype");
    bad = t[1];
    bad.data = (char *)half_data + 1;
    CHECK(netcl_rmsprop_step(opt, &g, 1, &bad, 1) == NETCL_INVALID_ARGUMENT &&
              strstr(netcl_last_error(), "aligned to 2 bytes") != NULL, "misaligned bf16");
    bad = (netcl_tensor){0};
    bad.data_mem = (struct _cl_mem *)data;  /* refused before it is used */
    bad.numel = 4;
    bad.dtype = NETCL_FP16;
    CHECK(netcl_rmsprop_step(opt, &g, 1, &bad, 1) == NETCL_UNSUPPORTED, "fp16 device tensor");
    CHECK(netcl_rmsprop_grad_stats(opt, &bad, 1, 1.0f, stats) == NETCL_UNSUPPORTED,
          "statistics of a device tensor");
    CHECK(memcmp(grad, grad_before, sizeof grad) == 0 && memcmp(data, data_before, sizeof data) == 0,
          "a refused call changed memory");
    /* A BF16 parameter's state (with its master) then stepped as FP32: refused. */
    netcl_param_group g1 = test_default_group(0, 1);
    REQUIRE_OK(netcl_rmsprop_step(opt, &g1, 1, &t[1], 1));
    netcl_tensor as_fp32 = test_host_tensor(data, grad, 4);
    CHECK(netcl_rmsprop_step(opt, &g1, 1, &as_fp32, 1) == NETCL_STATE_MISMATCH, "dtype changed");
    CHECK(memcmp(data, data_before, sizeof data) == 0, "the refused step changed the parameter");
    netcl_rmsprop_destroy(opt);
}

/* The value of an IEEE half (finite), computed apart from the library's conversion. */
static double half_value(uint16_t h)
{
    const int exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
    const double magnitude = exponent == 0 ? ldexp(mantissa, -24) : ldexp(mantissa + 1024, exponent - 25);
    return (h & 0x8000u) ? -magnitude : magnitude;
}

/* Element i of a gradient of `dtype` as a float. */
static float element(const void *g, uint64_t i, int dtype)
{
    if (dtype == NETCL_FP32) return ((const float *)g)[i];
    const uint16_t h = ((const uint16_t *)g)[i];
    if (dtype == NETCL_FP16) return (float)half_value(h);
    const uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/*
 * netcl_rmsprop_grad_stats and netcl_rmsprop_scale_grads against a sequential double reference,
 * per type, over tensors of odd lengths (one long enough to be split over the worker pool,
 * 2-byte gradients starting at an address that is not 4-byte aligned): the sum of squares of
 * the float32 products g * factor within the bound of a double sum of n positive terms in
 * another order (n * 2^-53, relative), the largest magnitude and the non-finite flag exactly.
 * Then the special cases: NaN and inf gradients, inf times a zero factor (NaN), and finite
 * gradients that overflow when scaled (inf statistics, but not "non-finite": that flag is about
 * the gradients as given).
 */
static void check_stats_against_reference(netcl_context *ctx)
{
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    enum { COUNT = 3 };
    const uint64_t numel[COUNT] = {(1u << 17) + 3, 5, 1};
    const int dtypes[3] = {NETCL_FP32, NETCL_BF16, NETCL_FP16};
    const float factor = 0.3f;
    test_rng rng = {42};
    for (int d = 0; d < 3; ++d) {
        const int dtype = dtypes[d];
        const size_t size = dtype == NETCL_FP32 ? 4 : 2;
        netcl_tensor t[COUNT];
        char *blocks[COUNT];
        float *data = test_alloc_floats(numel[0] + numel[1] + numel[2]);  /* not read by the pass */
        uint64_t at = 0;
        for (int i = 0; i < COUNT; ++i) {
            blocks[i] = (char *)test_alloc_floats(numel[i] + 2);
            char *g = blocks[i] + (size == 2 ? 2 : 0);
            for (uint64_t k = 0; k < numel[i]; ++k) {
                const float v = test_rng_float(&rng) * 1000.0f;
                if (dtype == NETCL_FP32) {
                    ((float *)g)[k] = v;
                } else {  /* a finite 16-bit pattern: random sign, mantissa and a finite exponent */
                    const uint16_t bits = (uint16_t)(float_bits_of(v) >> 16);
                    ((uint16_t *)g)[k] = dtype == NETCL_BF16 ? bits : (uint16_t)(bits & 0xBFFFu);
                }
            }
            t[i] = test_host_tensor(data + at, g, numel[i]);
            at += numel[i];
            t[i].dtype = dtype;
        }
        double ref_sum[COUNT], ref_max[COUNT];
        for (int i = 0; i < COUNT; ++i) {
            ref_sum[i] = 0.0;
            ref_max[i] = 0.0;
            for (uint64_t k = 0; k < numel[i]; ++k) {
                const double u = (double)(element(t[i].grad, k, dtype) * factor);
                ref_sum[i] += u * u;
                ref_max[i] = fabs(u) > ref_max[i] ? fabs(u) : ref_max[i];
            }
        }
        const float first_before = element(t[0].grad, 0, dtype);
        const float last_before = element(t[0].grad, numel[0] - 1, dtype);
        /* The statistics pass, then the scaling pass, which reports what it found before writing. */
        for (int pass = 0; pass < 2; ++pass) {
            netcl_grad_stats stats[COUNT];
            REQUIRE_OK(pass == 0 ? netcl_rmsprop_grad_stats(opt, t, COUNT, factor, stats)
                                 : netcl_rmsprop_scale_grads(opt, t, COUNT, factor, stats));
            for (int i = 0; i < COUNT; ++i) {
                CHECK(fabs(stats[i].sum_squares - ref_sum[i]) <= (double)numel[i] * 0x1p-53 * ref_sum[i],
                      "pass %d dtype %d tensor %d: sum of squares %.17g, reference %.17g", pass, dtype, i,
                      stats[i].sum_squares, ref_sum[i]);
                CHECK(stats[i].max_abs == ref_max[i] && !stats[i].nonfinite,
                      "pass %d dtype %d tensor %d: max %.17g (reference %.17g), nonfinite %d", pass,
                      dtype, i, stats[i].max_abs, ref_max[i], stats[i].nonfinite);
            }
        }
        if (dtype == NETCL_FP32) {  /* the scaling pass wrote g * factor in float32 */
            CHECK(element(t[0].grad, 0, dtype) == first_before * factor &&
                      element(t[0].grad, numel[0] - 1, dtype) == last_before * factor,
                  "scaled in place: %g %g", element(t[0].grad, 0, dtype),
                  element(t[0].grad, numel[0] - 1, dtype));
        }
        for (int i = 0; i < COUNT; ++i) {
            free(blocks[i]);
        }
        free(data);
    }

    float grad[3] = {1.0f, NAN, -2.0f}, data[3] = {0};
    netcl_tensor one = test_host_tensor(data, grad, 3);
    netcl_grad_stats stats;
    REQUIRE_OK(netcl_rmsprop_grad_stats(opt, &one, 1, 0.5f, &stats));
    CHECK(stats.nonfinite && isnan(stats.max_abs) && isnan(stats.sum_squares), "a NaN gradient");
    grad[1] = -INFINITY;
    REQUIRE_OK(netcl_rmsprop_grad_stats(opt, &one, 1, 0.5f, &stats));
    CHECK(stats.nonfinite && stats.max_abs == INFINITY, "an inf gradient: max %g", stats.max_abs);
    REQUIRE_OK(netcl_rmsprop_grad_stats(opt, &one, 1, 0.0f, &stats));
    CHECK(stats.nonfinite && isnan(stats.max_abs), "inf times a zero factor: max %g", stats.max_abs);
    grad[1] = 0x1p100f;
    REQUIRE_OK(netcl_rmsprop_grad_stats(opt, &one, 1, 0x1p100f, &stats));
    CHECK(!stats.nonfinite && stats.max_abs == INFINITY && stats.sum_squares == INFINITY,
          "finite gradients that overflow when scaled: %d %g %g", stats.nonfinite, stats.max_abs,
          stats.sum_squares);
    netcl_rmsprop_destroy(opt);
}

/*
 * The two calls over device buffers against a sequential double reference: two tensors side by
 * side in one gradient buffer (one launch), starting at an odd offset, over several chunks of
 * any work-group size; a third in a buffer of its own; a host tensor and a device tensor without
 * a gradient in the same list. The sum of squares sums exactly the reference's terms in another
 * order: in double (devices with cl_khr_fp64, PoCL's) within the bound of n positive terms,
 * n * 2^-53 relative; in compensated float (NETCL_GRAD_STATS_FLOAT=1, as on GPUs without
 * doubles) within 2^-40 relative (two floats carry about 44 bits, lost a few times over the
 * work-group's tree). The largest magnitude and the flag exactly, and the scaling pass writes
 * every element as g * factor in float32. Then NaN, inf, inf times a zero factor and overflow,
 * as on the host.
 */
static void check_device_stats_against_reference(netcl_context *ctx)
{
    const char *forced = getenv("NETCL_GRAD_STATS_FLOAT");
    const int compensated = forced != NULL && strcmp(forced, "1") == 0;
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    enum { COUNT = 5, SHARED_OFFSET = 3 };
    const uint64_t numel[COUNT] = {(1u << 14) + 3, 5, 4097, 300, 7};
    const float factor = 0.3f;
    test_rng rng = {7};
    float *values[COUNT];
    for (int i = 0; i < COUNT; ++i) {
        values[i] = test_alloc_floats(numel[i]);
        for (uint64_t k = 0; k < numel[i]; ++k) {
            values[i][k] = test_rng_float(&rng) * 1000.0f;
        }
    }
    struct _cl_mem *data, *shared, *own;
    REQUIRE_OK(netcl_buffer_create(ctx, 1 << 15, &data));
    REQUIRE_OK(netcl_buffer_create(ctx, SHARED_OFFSET + numel[0] + numel[1], &shared));
    REQUIRE_OK(netcl_buffer_create(ctx, numel[2], &own));
    REQUIRE_OK(netcl_buffer_write(ctx, shared, SHARED_OFFSET, numel[0], values[0]));
    REQUIRE_OK(netcl_buffer_write(ctx, shared, SHARED_OFFSET + numel[0], numel[1], values[1]));
    REQUIRE_OK(netcl_buffer_write(ctx, own, 0, numel[2], values[2]));
    float *host_data = test_alloc_floats(numel[3]);
    netcl_tensor t[COUNT] = {{0}};
    const struct _cl_mem *grads[3] = {shared, shared, own};
    const uint64_t grad_offsets[3] = {SHARED_OFFSET, SHARED_OFFSET + numel[0], 0};
    for (int i = 0; i < 3; ++i) {
        t[i].data_mem = data;
        t[i].grad_mem = (struct _cl_mem *)grads[i];
        t[i].grad_offset = grad_offsets[i];
        t[i].numel = numel[i];
    }
    t[3] = test_host_tensor(host_data, values[3], numel[3]);
    t[4].data_mem = data;
    t[4].numel = numel[4];  /* no gradient */
    double ref_sum[COUNT] = {0}, ref_max[COUNT] = {0};
    for (int i = 0; i < 4; ++i) {
        for (uint64_t k = 0; k < numel[i]; ++k) {
            const double u = (double)(values[i][k] * factor);
            ref_sum[i] += u * u;
            ref_max[i] = fabs(u) > ref_max[i] ? fabs(u) : ref_max[i];
        }
    }
    for (int pass = 0; pass < 2; ++pass) {
        netcl_grad_stats stats[COUNT];
        memset(stats, 0xFF, sizeof stats);  /* every entry must be written */
        REQUIRE_OK(pass == 0 ? netcl_rmsprop_grad_stats(opt, t, COUNT, factor, stats)
                             : netcl_rmsprop_scale_grads(opt, t, COUNT, factor, stats));
        for (int i = 0; i < COUNT; ++i) {
            const double bound = compensated && i != 3 ? 0x1p-40 : (double)numel[i] * 0x1p-53;
            CHECK(fabs(stats[i].sum_squares - ref_sum[i]) <= bound * ref_sum[i],
                  "pass %d tensor %d: sum of squares %.17g, reference %.17g", pass, i,
                  stats[i].sum_squares, ref_sum[i]);
            CHECK(stats[i].max_abs == ref_max[i] && !stats[i].nonfinite,
                  "pass %d tensor %d: max %.17g (reference %.17g), nonfinite %d", pass, i,
                  stats[i].max_abs, ref_max[i], stats[i].nonfinite);
        }
    }
    for (int i = 0; i < 3; ++i) {
        float *scaled = test_alloc_floats(numel[i]);
        REQUIRE_OK(netcl_buffer_read(ctx, t[i].grad_mem, t[i].grad_offset, numel[i], scaled));
        size_t diffs = 0;
        for (uint64_t k = 0; k < numel[i]; ++k) {
            diffs += scaled[k] != values[i][k] * factor;
        }
        CHECK(diffs == 0, "tensor %d: %zu elements not scaled to g * factor", i, diffs);
        free(scaled);
    }

    const float specials[3] = {1.0f, NAN, -2.0f};
    REQUIRE_OK(netcl_buffer_write(ctx, own, 0, 3, specials));
    netcl_tensor one = t[2];
    one.numel = 3;
    netcl_grad_stats stats;
    REQUIRE_OK(netcl_rmsprop_grad_stats(opt, &one, 1, 0.5f, &stats));
    CHECK(stats.nonfinite && isnan(stats.max_abs) && isnan(stats.sum_squares), "a NaN gradient");
    const float inf = -INFINITY, big = 0x1p100f;
    REQUIRE_OK(netcl_buffer_write(ctx, own, 1, 1, &inf));
    REQUIRE_OK(netcl_rmsprop_grad_stats(opt, &one, 1, 0.5f, &stats));
    CHECK(stats.nonfinite && stats.max_abs == INFINITY && stats.sum_squares == INFINITY,
          "an inf gradient: max %g, sum %g", stats.max_abs, stats.sum_squares);
    REQUIRE_OK(netcl_rmsprop_grad_stats(opt, &one, 1, 0.0f, &stats));
    CHECK(stats.nonfinite && isnan(stats.max_abs), "inf times a zero factor: max %g",
          stats.max_abs);
    REQUIRE_OK(netcl_buffer_write(ctx, own, 1, 1, &big));
    REQUIRE_OK(netcl_rmsprop_grad_stats(opt, &one, 1, 0x1p100f, &stats));
    CHECK(!stats.nonfinite && stats.max_abs == INFINITY && stats.sum_squares == INFINITY,
          "finite gradients that overflow when scaled: %d %g %g", stats.nonfinite, stats.max_abs,
          stats.sum_squares);
    netcl_rmsprop_destroy(opt);
    netcl_buffer_release(data);
    netcl_buffer_release(shared);
    netcl_buffer_release(own);
    for (int i = 0; i < COUNT; ++i) {
        free(values[i]);
    }
    free(host_data);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_amp DATA_DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/index.txt", argv[1]);
    FILE *index = fopen(path, "r");
    if (index == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    netcl_context *ctx = test_context();
    check_grad_passes_and_errors(ctx);
    check_stats_against_reference(ctx);
    check_device_stats_against_reference(ctx);
    char name[256];
    int cases = 0, device_cases = 0;
    while (fscanf(index, "%255s", name) == 1) {
        snprintf(path, sizeof path, "%s/%s", argv[1], name);
        cases += replay(ctx, path, ON_HOST);
        device_cases += replay(ctx, path, IN_DEVICE_BUFFERS);
    }
    fclose(index);
    CHECK(cases >= 40, "only %d trajectories in the index", cases);
    CHECK(device_cases >= 18, "only %d FP32 trajectories replayed in device buffers", device_cases);
    netcl_context_destroy(ctx);
    return test_finish("test_amp");
}
