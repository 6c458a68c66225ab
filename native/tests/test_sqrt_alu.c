/*
 * The square root on the FMA ports (native/src/sqrt_alu.h) against sqrtf over all 2^32 inputs,
 * and the AVX-512 update loop (native/src/host_update_avx512.c, compiled into this test) that
 * uses it: every group size gives the bits of the divider-only loop for every variant, length
 * and special value. The PyTorch trajectories (test_torch_host) cover the loop the library picks.
 * On a CPU without AVX-512F the library never takes these loops; the test then checks that.
 */
#include <math.h>

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

static void check_group_sizes(void)
{
    enum { MAX_N = 4097 };
    const kernel_hyper h = {-1e-2f, 0.99f, (float)(1.0 - 0.99), 1e-8f, 1e-2f, 0.9f, 0.5f, 0.75f};
    const uint64_t lengths[] = {0, 1, 15, 16, 17, 47, 48, 49, 95, 96, 100, 1023, MAX_N};
    float *p[3], *v[3], *mb[3], *ga[3], *g = test_alloc_floats(MAX_N);
    for (int m = 0; m < 3; ++m) {
        p[m] = test_alloc_floats(MAX_N);
        v[m] = test_alloc_floats(MAX_N);
        mb[m] = test_alloc_floats(MAX_N);
        ga[m] = test_alloc_floats(MAX_N);
    }
    for (unsigned variant = 0; variant < 16; ++variant) {
        for (size_t l = 0; l < sizeof lengths / sizeof *lengths; ++l) {
            const uint64_t n = lengths[l];
            test_rng rng = {0x9E3779B97F4A7C15ULL + variant * 131 + n};
            fill_with_specials(&rng, p[0], MAX_N, 1.0f);
            fill_with_specials(&rng, v[0], MAX_N, 1e-3f);
            for (size_t i = 0; i < MAX_N; ++i) {
                v[0][i] = fabsf(v[0][i]);   /* a square average is not negative */
            }
            fill_with_specials(&rng, mb[0], MAX_N, 1e-2f);
            fill_with_specials(&rng, ga[0], MAX_N, 1e-3f);
            for (int m = 1; m < 3; ++m) {
                memcpy(p[m], p[0], MAX_N * sizeof(float));
                memcpy(v[m], v[0], MAX_N * sizeof(float));
                memcpy(mb[m], mb[0], MAX_N * sizeof(float));
                memcpy(ga[m], ga[0], MAX_N * sizeof(float));
            }
            for (int step = 0; step < 3; ++step) {
                fill_with_specials(&rng, g, MAX_N, step == 2 ? 1e3f : 1e-2f);
                for (int m = 0; m < 3; ++m) {
                    netcl_host_update_avx512(variant, (unsigned)m + 1, h, p[m], g, v[m], mb[m],
                                             ga[m], n);
                }
            }
            const size_t bytes = MAX_N * sizeof(float);
            for (int m = 1; m < 3; ++m) {
                CHECK(memcmp(p[0], p[m], bytes) == 0 && memcmp(v[0], v[m], bytes) == 0 &&
                          memcmp(mb[0], mb[m], bytes) == 0 && memcmp(ga[0], ga[m], bytes) == 0,
                      "variant %u, %llu elements: groups of %d give other bits", variant,
                      (unsigned long long)n, m + 1);
            }
        }
    }
    for (int m = 0; m < 3; ++m) {
        free(p[m]);
        free(v[m]);
        free(mb[m]);
        free(ga[m]);
    }
    free(g);
}

int main(void)
{
    __builtin_cpu_init();
    const int avx512 = __builtin_cpu_supports("avx512f");
    CHECK(netcl_host_update_avx512_init() == avx512, "the library's AVX-512 check disagrees");
    if (avx512) {
        const uint64_t mismatches = exhaustive_mismatches();
        CHECK(mismatches == 0, "%llu of 2^32 square roots differ from sqrtf",
              (unsigned long long)mismatches);
        check_group_sizes();
        printf("AVX-512: the square root on the FMA ports is exact for all 2^32 inputs; this CPU's "
               "host path puts 1 of %u (plain) and 1 of %u (centered) square roots on the divider\n",
               netcl_host_update_avx512_group(0), netcl_host_update_avx512_group(3));
    } else {
        CHECK(netcl_host_update_avx512_group(0) == 1, "a CPU without AVX-512F must not share");
        printf("no AVX-512F: the host path uses its generic loop\n");
    }
    return test_finish("test_sqrt_alu");
}
