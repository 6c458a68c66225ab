/*
 * Replays PyTorch 1.13 RMSprop trajectories (scripts/generate-torch-trajectories) and requires
 * identical bits (any NaN for a NaN, see count_diffs): parameters after every step and the final
 * state, also where gradients and parameters hold denormals, infinities, signed zeros and NaNs.
 * Usage: test_torch DATA_DIR [--alternate-paths | --pause-steps]: the path changing every step,
 * or 1 ms of sleep before every other step, so that on Intel's CPUs with AVX-512 the host path's
 * short steps take its generic loop and its AVX-512 loop in turn (see IDLE_NANOSECONDS in
 * host_update_avx512.c).
 */
#include <math.h>

#include "test_util.h"

/*
 * Counts the values that differ: in bits, except that a NaN only has to meet a NaN. IEEE 754 leaves
 * the sign and payload of an arithmetic NaN result open, and compilers use that freedom: with
 * maximize, PyTorch's -grad flips a NaN gradient's sign and the NaNs it spreads keep the flipped
 * sign, while PoCL's LLVM compiles no negation at all (seen in the kernel's machine code): it
 * cancels the two in (-g) * (-g) and turns p + (-lr * -g) / avg into p - (-lr * g) / avg, so the
 * kernel's NaNs keep the gradient's own sign. GCC does the same in the host path's loops with
 * weight decay or centering. The special_* trajectories show both; payloads survived everywhere.
 * Denormals, infinities and signed zeros, which IEEE 754 does fix, match bit for bit.
 */
static size_t count_diffs(const float *actual, const float *expected, size_t n)
{
    size_t diffs = 0;
    for (size_t i = 0; i < n; ++i) {
        const int both_nan = isnan(actual[i]) && isnan(expected[i]);
        diffs += !both_nan && memcmp(&actual[i], &expected[i], sizeof(float)) != 0;
    }
    return diffs;
}

/* Steps alternate between the host and the kernel path: both own the same state. */
static int alternate_paths;
static int pause_steps;

static void replay(netcl_context *ctx, const char *path)
{
    size_t size = 0;
    unsigned char *bytes = test_read_file(path, &size);
    CHECK(bytes != NULL, "cannot read %s", path);
    if (bytes == NULL) {
        return;
    }
    test_reader r = {bytes, bytes + size, 1};
    char magic[4];
    uint32_t version, numel, steps, centered, maximize;
    double alpha, eps, weight_decay, momentum;
    test_take(&r, magic, 4);
    test_take(&r, &version, 4);
    test_take(&r, &numel, 4);
    test_take(&r, &steps, 4);
    test_take(&r, &centered, 4);
    test_take(&r, &maximize, 4);
    test_take(&r, &alpha, 8);
    test_take(&r, &eps, 8);
    test_take(&r, &weight_decay, 8);
    test_take(&r, &momentum, 8);
    CHECK(r.ok && memcmp(magic, "NCTJ", 4) == 0 && version == 1, "%s: bad header", path);
    float *param = test_alloc_floats(numel), *grad = test_alloc_floats(numel);
    float *expected = test_alloc_floats(numel), *state = test_alloc_floats(numel);
    float *actual[3] = {test_alloc_floats(numel), test_alloc_floats(numel), test_alloc_floats(numel)};
    test_take(&r, param, numel * sizeof(float));
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    netcl_param_group h = test_default_group(0, 1);
    h.alpha = alpha;
    h.eps = eps;
    h.weight_decay = weight_decay;
    h.momentum = momentum;
    h.centered = (int32_t)centered;
    h.maximize = (int32_t)maximize;
    for (uint32_t step = 0; step < steps && r.ok; ++step) {
        uint32_t has_grad;
        test_take(&r, &h.lr, 8);
        test_take(&r, &has_grad, 4);
        if (has_grad) {
            test_take(&r, grad, numel * sizeof(float));
        }
        test_take(&r, expected, numel * sizeof(float));
        const netcl_tensor t = test_host_tensor(param, has_grad ? grad : NULL, numel);
        if (alternate_paths) {
            REQUIRE_OK(netcl_rmsprop_set_path(opt, step % 2 ? NETCL_PATH_KERNEL : NETCL_PATH_HOST));
        }
        if (pause_steps && step % 2 == 0) {
            test_sleep_ms(1);
        }
        REQUIRE_OK(netcl_rmsprop_step(opt, &h, 1, &t, 1));
        const size_t diffs = count_diffs(param, expected, numel);
        CHECK(diffs == 0, "%s: step %u: %zu of %u parameters differ from PyTorch", path, step + 1,
              diffs, numel);
    }
    uint64_t expected_step;
    test_take(&r, &expected_step, 8);
    netcl_param_state st;
    REQUIRE_OK(netcl_rmsprop_get_state(opt, 0, &st));
    CHECK(st.step == expected_step, "%s: step count %llu, PyTorch %llu", path,
          (unsigned long long)st.step, (unsigned long long)expected_step);
    REQUIRE_OK(netcl_rmsprop_read_state(opt, 0, numel, actual[0], actual[1], actual[2]));
    static const char *const names[3] = {"square_avg", "momentum_buffer", "grad_avg"};
    const int present[3] = {1, momentum > 0.0, (int)centered};
    for (int b = 0; b < 3; ++b) {
        if (present[b]) {
            test_take(&r, state, numel * sizeof(float));
            const size_t diffs = count_diffs(actual[b], state, numel);
            CHECK(diffs == 0, "%s: %s: %zu of %u values differ from PyTorch", path, names[b], diffs,
                  numel);
        }
    }
    CHECK(r.ok && r.at == r.end, "%s: truncated or trailing bytes", path);
    netcl_rmsprop_destroy(opt);
    free(bytes); free(param); free(grad); free(expected); free(state);
    for (int b = 0; b < 3; ++b) free(actual[b]);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 ||
        (argc == 3 && strcmp(argv[2], "--alternate-paths") != 0 && strcmp(argv[2], "--pause-steps") != 0)) {
        fprintf(stderr, "usage: test_torch DATA_DIR [--alternate-paths | --pause-steps]\n");
        return 2;
    }
    alternate_paths = argc == 3 && strcmp(argv[2], "--alternate-paths") == 0;
    pause_steps = argc == 3 && strcmp(argv[2], "--pause-steps") == 0;
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
    CHECK(cases >= 100, "only %d trajectories in the index", cases);
    netcl_context_destroy(ctx);
    return test_finish("test_torch");
}
