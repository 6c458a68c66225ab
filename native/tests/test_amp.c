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

typedef struct reader {
    const unsigned char *at, *end;
    int ok;
} reader;

static void take(reader *r, void *out, size_t n)
{
    if (!r->ok || (size_t)(r->end - r->at) < n) {
        r->ok = 0;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->at, n);
    r->at += n;
}

static uint32_t u32(reader *r)
{
    uint32_t v;
    take(r, &v, 4);
    return v;
}

static double f64(reader *r)
{
    double v;
    take(r, &v, 8);
    return v;
}

static float f32(reader *r)
{
    float v;
    take(r, &v, 4);
    return v;
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
static size_t diffs_in(reader *r, const void *actual, uint32_t n, int dtype)
{
    size_t diffs = 0;
    for (uint32_t k = 0; k < n; ++k) {
        if (dtype == NETCL_FP32) {
            diffs += !same_float(((const float *)actual)[k], f32(r));
        } else {
            uint16_t expected;
            take(r, &expected, 2);
            diffs += !same_half(((const uint16_t *)actual)[k], expected, dtype);
        }
    }
    return diffs;
}

static void replay(netcl_context *ctx, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        CHECK(0, "cannot open %s", path);
        return;
    }
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)size);
    CHECK(fread(bytes, 1, (size_t)size, f) == (size_t)size, "%s: short read", path);
    fclose(f);
    reader r = {bytes, bytes + size, 1};
    char magic[4];
    take(&r, magic, 4);
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
        take(&r, tensors[i].data, numel[i] * (tensors[i].dtype == NETCL_FP32 ? 4u : 2u));
    }
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    netcl_grad_stats stats[8];
    float *values = test_alloc_floats(1 << 16);
    for (uint32_t s = 0; s < steps && r.ok; ++s) {
        f32(&r);
        const float inv_scale = f32(&r);
        for (uint32_t i = 0; i < count; ++i) {
            take(&r, (void *)tensors[i].grad, numel[i] * (tensors[i].dtype == NETCL_FP32 ? 4u : 2u));
        }
        const uint32_t found_inf = u32(&r);
        REQUIRE_OK(netcl_rmsprop_grad_stats(opt, tensors, count, inv_scale, stats));
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
            REQUIRE_OK(netcl_rmsprop_step_with(opt, groups, group_count, tensors, count, &options));
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
        take(&r, &step, 8);
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
    for (uint32_t i = 0; i < count; ++i) {
        free(tensors[i].data);
        free((void *)tensors[i].grad);
    }
    free(values);
    free(bytes);
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
    char name[256];
    int cases = 0;
    while (fscanf(index, "%255s", name) == 1) {
        snprintf(path, sizeof path, "%s/%s", argv[1], name);
        replay(ctx, path);
        cases++;
    }
    fclose(index);
    CHECK(cases >= 40, "only %d trajectories in the index", cases);
    netcl_context_destroy(ctx);
    return test_finish("test_amp");
}
