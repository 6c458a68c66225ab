/*
 * The square root on the FMA ports (native/src/sqrt_alu.h) against sqrtf over all 2^32 inputs,
 * and the AVX-512 update loop (native/src/host_update_avx512.c, compiled into this test) that
 * uses it: every group size, and a length cut into slices of one call, give the bits of the
 * divider-only loop for every variant, element type, length and special value; its conversions (dtype_avx512.h) give dtype.h's bits for every
 * input. The PyTorch trajectories (test_torch_host) cover the loop the library picks, and with
 * pauses (test_torch_host_paused) the generic loop it picks on Intel's CPUs for short steps after
 * a pause.
 * On a CPU without AVX-512 (F, BW, VL), and under NETCL_HOST_AVX512=0, the library never takes
 * these loops; the test then checks that.
 */
#include <math.h>

#include "dtype.h"
#include "dtype_avx512.h"
#include "host_update_avx512.h"
#include "sqrt_alu.h"
#include "test_util.h"

/* Every float, 16 at a time, against vsqrtps (IEEE's correctly rounded square root, sqrtf's
 * instruction); returns the mismatches (NaNs equal when both are NaN). */
static SQRT_ALU_TARGET uint64_t exhaustive_mismatches(void)
{
    uint64_t mismatches = 0;
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (uint64_t base = 0; base < (1ULL << 32); base += 16) {
        const __m512 x = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_set1_epi32((int)(uint32_t)base), lane));
        const __m512 got = sqrt_alu(x), want = _mm512_sqrt_ps(x);
        const __mmask16 differ =
            _mm512_cmp_epi32_mask(_mm512_castps_si512(got), _mm512_castps_si512(want), _MM_CMPINT_NE) &
            ~(_mm512_cmp_ps_mask(got, got, _CMP_UNORD_Q) & _mm512_cmp_ps_mask(want, want, _CMP_UNORD_Q));
        if (differ != 0 && mismatches < 5) {
            fprintf(stderr, "sqrt_alu differs from vsqrtps among the 16 floats from bits 0x%08llx\n",
                    (unsigned long long)base);
        }
        mismatches += (uint64_t)__builtin_popcount(differ);
    }
    return mismatches;
}

/* dtype_avx512.h against dtype.h: every float to bfloat16 and float16, every half back. */
static DTYPE_AVX512_TARGET void check_conversions(void)
{
    enum { BATCH = 4096 };
    static uint32_t bits[BATCH];
    static uint16_t bf16[BATCH], fp16[BATCH];
    uint64_t bf16_wrong = 0, fp16_wrong = 0;
    for (uint64_t base = 0; base < (1ULL << 32); base += BATCH) {
        for (uint32_t i = 0; i < BATCH; ++i) {
            bits[i] = (uint32_t)(base + i);
        }
        for (uint32_t i = 0; i < BATCH; i += 16) {
            const __m512 f = _mm512_loadu_ps(&bits[i]);
            _mm256_storeu_si256((__m256i *)&bf16[i], float_to_bf16x16(f));
            _mm256_storeu_si256((__m256i *)&fp16[i], float_to_fp16x16(f));
        }
        for (uint32_t i = 0; i < BATCH; ++i) {
            bf16_wrong += bf16[i] != float_to_bf16(bits_float(bits[i]));
            fp16_wrong += fp16[i] != float_to_fp16(bits_float(bits[i]));
        }
    }
    CHECK(bf16_wrong == 0 && fp16_wrong == 0, "float to bf16: %llu, to fp16: %llu of 2^32 differ",
          (unsigned long long)bf16_wrong, (unsigned long long)fp16_wrong);
    uint32_t from_bf16_wrong = 0, from_fp16_wrong = 0;
    for (uint32_t base = 0; base < 65536; base += 16) {
        uint16_t h[16];
        float got_bf16[16], got_fp16[16];
        for (uint32_t i = 0; i < 16; ++i) {
            h[i] = (uint16_t)(base + i);
        }
        const __m256i halves = load_halves(h, 0xFFFF);
        _mm512_storeu_ps(got_bf16, bf16x16_to_float(halves));
        _mm512_storeu_ps(got_fp16, fp16x16_to_float(halves));
        for (uint32_t i = 0; i < 16; ++i) {
            const float want_fp16 = fp16_to_float(h[i]);
            from_bf16_wrong += float_bits(got_bf16[i]) != float_bits(bf16_to_float(h[i]));
            /* A signalling NaN comes out quiet (dtype_avx512.h says why that is the same). */
            from_fp16_wrong += float_bits(got_fp16[i]) != float_bits(want_fp16) &&
                               !(isnan(want_fp16) && float_bits(got_fp16[i]) == (float_bits(want_fp16) | 0x00400000u));
        }
    }
    CHECK(from_bf16_wrong == 0 && from_fp16_wrong == 0, "bf16 to float: %u, fp16 to float: %u differ",
          from_bf16_wrong, from_fp16_wrong);
}

/* Values the update meets: ordinary, zero of both signs, subnormal, huge, inf, NaN. */
static void fill_with_specials(test_rng *rng, float *out, size_t n, float scale)
{
    static const float specials[] = {0.0f, -0.0f, 1e-40f, -1e-40f, 1e30f, -1e30f, INFINITY,
                                      -INFINITY, NAN, 1e-20f};
    for (size_t i = 0; i < n; ++i) {
        const float r = test_rng_float(rng);
        out[i] = r > 0.9f ? specials[i % (sizeof specials / sizeof *specials)] : r * scale;
    }
}

/* Converts n floats to `dtype` in place (the 2-byte types packed at the start). */
static void to_dtype(float *x, size_t n, int dtype)
{
    uint16_t *h = (uint16_t *)x;
    for (size_t i = 0; i < n && dtype != NETCL_FP32; ++i) {
        h[i] = dtype == NETCL_BF16 ? float_to_bf16(x[i]) : float_to_fp16(x[i]);
    }
}

static void check_group_sizes(void)
{
    enum { MAX_N = 4097, GROUPS = 3 };
    const kernel_hyper h = {-1e-2f, 0.99f, (float)(1.0 - 0.99), 1e-8f, 1e-2f, 0.9f, 0.5f, 0.75f};
    const uint64_t lengths[] = {0, 1, 15, 16, 17, 47, 48, 49, 95, 96, 100, 1023, MAX_N};
    const size_t bytes = MAX_N * sizeof(float);
    float *p[GROUPS], *v[GROUPS], *mb[GROUPS], *ga[GROUPS], *master[GROUPS];
    float *g = test_alloc_floats(MAX_N);
    for (int m = 0; m < GROUPS; ++m) {
        p[m] = test_alloc_floats(MAX_N);
        v[m] = test_alloc_floats(MAX_N);
        mb[m] = test_alloc_floats(MAX_N);
        ga[m] = test_alloc_floats(MAX_N);
        master[m] = test_alloc_floats(MAX_N);
    }
    for (int dtype = NETCL_FP32; dtype <= NETCL_FP16; ++dtype) {
        for (unsigned variant = 0; variant < 16; ++variant) {
            for (size_t l = 0; l < sizeof lengths / sizeof *lengths; ++l) {
                const uint64_t n = lengths[l];
                test_rng rng = {0x9E3779B97F4A7C15ULL + variant * 131 + n + (uint64_t)dtype * 7};
                fill_with_specials(&rng, master[0], MAX_N, 1.0f);
                memcpy(p[0], master[0], bytes);
                to_dtype(p[0], MAX_N, dtype);
                fill_with_specials(&rng, v[0], MAX_N, 1e-3f);
                for (size_t i = 0; i < MAX_N; ++i) {
                    v[0][i] = fabsf(v[0][i]);   /* a square average is not negative */
                }
                fill_with_specials(&rng, mb[0], MAX_N, 1e-2f);
                fill_with_specials(&rng, ga[0], MAX_N, 1e-3f);
                for (int m = 1; m < GROUPS; ++m) {
                    memcpy(p[m], p[0], bytes);
                    memcpy(v[m], v[0], bytes);
                    memcpy(mb[m], mb[0], bytes);
                    memcpy(ga[m], ga[0], bytes);
                    memcpy(master[m], master[0], bytes);
                }
                for (int step = 0; step < 3; ++step) {
                    fill_with_specials(&rng, g, MAX_N, step == 2 ? 1e3f : 1e-2f);
                    to_dtype(g, MAX_N, dtype);
                    for (int m = 0; m < GROUPS; ++m) {
                        if (m < GROUPS - 1) {
                            const host_run run = {0, dtype, (char *)p[m], (const char *)g, v[m],
                                                  mb[m], ga[m], master[m], n};
                            netcl_host_update_avx512(variant, dtype, (unsigned)m + 1, h, &run, 1,
                                                     0, n);
                            continue;
                        }
                        /* The last group size takes [0, n) as three runs cut off the vector
                         * grid, as a batch of short tensors would come, in two calls that cut
                         * the first run, the second ending inside the last (longer) run. */
                        host_run runs[3];
                        for (uint32_t k = 0; k < 3; ++k) {
                            const uint64_t from = n * k / 3, to = n * (k + 1) / 3;
                            const size_t at = (size_t)from * (dtype == NETCL_FP32 ? 4 : 2);
                            runs[k] = (host_run){0, dtype, (char *)p[m] + at, (const char *)g + at,
                                                 v[m] + from, mb[m] + from, ga[m] + from,
                                                 master[m] + from, to - from + (k == 2 ? 9 : 0)};
                        }
                        const uint64_t cut = runs[0].n / 2, last_to = runs[2].n - 9;
                        netcl_host_update_avx512(variant, dtype, (unsigned)m + 1, h, runs, 1, 0,
                                                 cut);
                        netcl_host_update_avx512(variant, dtype, (unsigned)m + 1, h, runs, 3, cut,
                                                 last_to);
                    }
                }
                for (int m = 1; m < GROUPS; ++m) {
                    CHECK(memcmp(p[0], p[m], bytes) == 0 && memcmp(v[0], v[m], bytes) == 0 &&
                              memcmp(mb[0], mb[m], bytes) == 0 && memcmp(ga[0], ga[m], bytes) == 0 &&
                              memcmp(master[0], master[m], bytes) == 0,
                          "dtype %d, variant %u, %llu elements: groups of %d%s give other bits",
                          dtype, variant, (unsigned long long)n, m + 1,
                          m == GROUPS - 1 ? " in three runs" : "");
                }
            }
        }
    }
    for (int m = 0; m < GROUPS; ++m) {
        free(p[m]);
        free(v[m]);
        free(mb[m]);
        free(ga[m]);
        free(master[m]);
    }
    free(g);
}

/* A short step right after another takes the AVX-512 loop, after a pause the generic one (the
 * 512-bit units powered down); a long step takes the AVX-512 loop either way. A step right after
 * another may still see a pause where the scheduler held the test up: three tries. */
static void check_cold_choice(void)
{
    if (!__builtin_cpu_is("intel")) {
        /* No power-up to avoid: the AVX-512 loop always (see IDLE_NANOSECONDS). */
        test_sleep_ms(2);
        CHECK(netcl_host_update_avx512_now(1024), "a short step after 2 ms does not take the AVX-512 "
              "loop on a CPU that is not Intel's");
        return;
    }
    int warm = 0;
    for (int try = 0; try < 3 && !warm; ++try) {
        netcl_host_update_avx512_now(1024);
        warm = netcl_host_update_avx512_now(1024);
    }
    CHECK(warm, "a short step right after another does not take the AVX-512 loop");
    test_sleep_ms(2);
    CHECK(!netcl_host_update_avx512_now(1024), "a short step after 2 ms takes the AVX-512 loop");
    test_sleep_ms(2);
    CHECK(netcl_host_update_avx512_now(1u << 14), "a step of 2^14 floats after 2 ms does not take the "
          "AVX-512 loop");
}

int main(void)
{
    __builtin_cpu_init();
    const char *knob = getenv("NETCL_HOST_AVX512");
    const int refused = knob != NULL && strcmp(knob, "0") == 0;
    const int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                       __builtin_cpu_supports("avx512vl") && !refused;
    CHECK(netcl_host_update_avx512_init() == avx512, "the library's AVX-512 check disagrees%s",
          refused ? " (NETCL_HOST_AVX512=0 must turn the AVX-512 loop off)" : "");
    if (avx512) {
        const uint64_t mismatches = exhaustive_mismatches();
        CHECK(mismatches == 0, "%llu of 2^32 square roots differ from sqrtf",
              (unsigned long long)mismatches);
        check_group_sizes();
        check_conversions();
        check_cold_choice();
        printf("AVX-512: the square root on the FMA ports is exact for all 2^32 inputs; this CPU's "
               "host path puts 1 of %u (plain) and 1 of %u (centered) square roots on the divider\n",
               netcl_host_update_avx512_group(0, 4096), netcl_host_update_avx512_group(3, 4096));
    } else {
        CHECK(netcl_host_update_avx512_group(0, 4096) == 1, "a CPU without AVX-512 must not share");
        printf("%s: the host path uses its generic loop\n",
               refused ? "NETCL_HOST_AVX512=0" : "no AVX-512 F, BW and VL");
    }
    return test_finish("test_host_avx512");
}
