/*
 * The host path's float32 update on CPUs with AVX-512, written with intrinsics so that two of
 * every three vectors take their square root on the FMA ports (sqrt_alu.h) while the divider
 * computes the third one's and every vector's division. A step that fits in the caches is bound by the divider; this makes it about
 * a quarter faster (2-core Sapphire Rapids VM: 1,024 floats 454 -> 354 ns, 16,384 floats
 * 6.2 -> 4.4 us; the square root on the FMA ports for every vector: 390 ns and 5.2 us; the
 * division on the FMA ports too: slower). Whether it wins depends on the CPU's divider and FMA
 * ports, so netcl_host_update_avx512_init measures both loops once and keeps the faster.
 *
 * The operations and their order are those of update() in host_step.c (and of the kernel): the
 * same bits, which the trajectory tests check on every path.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime: the library builds as strict C11 */
#include "host_update_avx512.h"

#if defined(__x86_64__)
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "sqrt_alu.h"

#define AVX512_TARGET __attribute__((target("avx512f")))

typedef struct vector_hyper {
    __m512 neg_lr, alpha, one_minus_alpha, eps, weight_decay, momentum, inv_scale, clip_coef;
} vector_hyper;

static inline __attribute__((always_inline)) AVX512_TARGET vector_hyper broadcast(const kernel_hyper h)
{
    return (vector_hyper){_mm512_set1_ps(h.neg_lr), _mm512_set1_ps(h.alpha),
                          _mm512_set1_ps(h.one_minus_alpha), _mm512_set1_ps(h.eps),
                          _mm512_set1_ps(h.weight_decay), _mm512_set1_ps(h.momentum),
                          _mm512_set1_ps(h.inv_scale), _mm512_set1_ps(h.clip_coef)};
}

/* Elements [i, i + 16) where `lanes` is set; the square root on the FMA ports when `alu`. */
static inline __attribute__((always_inline)) AVX512_TARGET void update16(
    const vector_hyper *h, float *restrict p, const float *restrict g, float *restrict v,
    float *restrict mb, float *restrict ga, uint64_t i, __mmask16 lanes, const int alu,
    const int weight_decay, const int maximize, const int momentum, const int centered)
{
    const __m512 param = _mm512_maskz_loadu_ps(lanes, p + i);
    const __m512 given = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, g + i), h->inv_scale),
                                       h->clip_coef);
    __m512 grad = maximize ? _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(given),
                                                                  _mm512_set1_epi32(INT32_MIN)))
                           : given;
    if (weight_decay) {
        grad = _mm512_fmadd_ps(h->weight_decay, param, grad);
    }
    const __m512 square_avg = _mm512_fmadd_ps(_mm512_mul_ps(h->one_minus_alpha, grad), grad,
                                              _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, v + i), h->alpha));
    _mm512_mask_storeu_ps(v + i, lanes, square_avg);
    __m512 radicand = square_avg;
    if (centered) {
        const __m512 grad_avg = _mm512_fmadd_ps(h->one_minus_alpha, grad,
                                                _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, ga + i), h->alpha));
        _mm512_mask_storeu_ps(ga + i, lanes, grad_avg);
        radicand = _mm512_fnmadd_ps(grad_avg, grad_avg, square_avg);
    }
    const __m512 avg = _mm512_add_ps(alu ? sqrt_alu(radicand) : _mm512_sqrt_ps(radicand), h->eps);
    __m512 updated;
    if (momentum) {
        const __m512 buf = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, mb + i), h->momentum),
                                         _mm512_div_ps(grad, avg));
        _mm512_mask_storeu_ps(mb + i, lanes, buf);
        updated = _mm512_fmadd_ps(h->neg_lr, buf, param);
    } else {
        updated = _mm512_add_ps(param, _mm512_div_ps(_mm512_mul_ps(h->neg_lr, grad), avg));
    }
    _mm512_mask_storeu_ps(p + i, lanes, updated);
}

/* Groups of three vectors, one square root on the divider and two on the FMA ports when `mixed`;
 * the last partial vector masked. */
static inline __attribute__((always_inline)) AVX512_TARGET void update_loop(
    const kernel_hyper h, float *restrict p, const float *restrict g, float *restrict v,
    float *restrict mb, float *restrict ga, uint64_t n, const int mixed, const int weight_decay,
    const int maximize, const int momentum, const int centered)
{
    const vector_hyper vh = broadcast(h);
    uint64_t i = 0;
    if (mixed) {
        for (; i + 48 <= n; i += 48) {
            update16(&vh, p, g, v, mb, ga, i, 0xFFFF, 0, weight_decay, maximize, momentum, centered);
            update16(&vh, p, g, v, mb, ga, i + 16, 0xFFFF, 1, weight_decay, maximize, momentum, centered);
            update16(&vh, p, g, v, mb, ga, i + 32, 0xFFFF, 1, weight_decay, maximize, momentum, centered);
        }
    }
    for (; i + 16 <= n; i += 16) {
        update16(&vh, p, g, v, mb, ga, i, 0xFFFF, 0, weight_decay, maximize, momentum, centered);
    }
    if (i < n) {
        update16(&vh, p, g, v, mb, ga, i, (__mmask16)((1u << (n - i)) - 1), 0, weight_decay,
                 maximize, momentum, centered);
    }
}

static AVX512_TARGET void update_variant_avx512(unsigned variant, int mixed, const kernel_hyper h,
                                                float *p, const float *g, float *v, float *mb,
                                                float *ga, uint64_t n)
{
#define NETCL_VARIANT(V, M)                                                                    \
    case V * 2 + M:                                                                            \
        update_loop(h, p, g, v, mb, ga, n, M, (V >> 3) & 1, (V >> 2) & 1, (V >> 1) & 1, V & 1); \
        break;
#define NETCL_VARIANTS(V) NETCL_VARIANT(V, 0) NETCL_VARIANT(V, 1)
    switch (variant * 2 + (unsigned)mixed) {
        NETCL_VARIANTS(0) NETCL_VARIANTS(1) NETCL_VARIANTS(2) NETCL_VARIANTS(3)
        NETCL_VARIANTS(4) NETCL_VARIANTS(5) NETCL_VARIANTS(6) NETCL_VARIANTS(7)
        NETCL_VARIANTS(8) NETCL_VARIANTS(9) NETCL_VARIANTS(10) NETCL_VARIANTS(11)
        NETCL_VARIANTS(12) NETCL_VARIANTS(13) NETCL_VARIANTS(14) NETCL_VARIANTS(15)
    default: break;
    }
#undef NETCL_VARIANTS
#undef NETCL_VARIANT
}

/* ---- the choice, once per process ---------------------------------------------------------- */

/* Calibration: 4,096 floats (48 KB with the state: in L1/L2 like the steps it speeds up), each
 * loop timed this many times in alternation, the fastest of each compared. */
#define CALIBRATION_FLOATS 4096u
#define CALIBRATION_ROUNDS 15
/* The mixed loop must be at least this much faster, so that noise alone never picks it. */
#define CALIBRATION_MARGIN 0.95

static int avx512_usable;   /* the CPU has AVX-512F */
static int mixed_faster;    /* the calibration's verdict */
static pthread_once_t choice_once = PTHREAD_ONCE_INIT;

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void choose(void)
{
    __builtin_cpu_init();
    avx512_usable = __builtin_cpu_supports("avx512f");
    if (!avx512_usable) {
        return;
    }
    static float p[CALIBRATION_FLOATS], g[CALIBRATION_FLOATS], v[CALIBRATION_FLOATS];
    for (unsigned i = 0; i < CALIBRATION_FLOATS; ++i) {
        p[i] = 1.0f;
        g[i] = (float)(i % 97) * 0.01f - 0.5f;
        v[i] = 0.25f;
    }
    const kernel_hyper h = {-1e-3f, 0.99f, 0.01f, 1e-8f, 0.0f, 0.0f, 1.0f, 1.0f};
    double best[2] = {1e9, 1e9};
    for (int round = 0; round < CALIBRATION_ROUNDS; ++round) {
        for (int mixed = 0; mixed < 2; ++mixed) {
            const double start = seconds();
            update_variant_avx512(0, mixed, h, p, g, v, v, v, CALIBRATION_FLOATS);
            const double took = seconds() - start;
            best[mixed] = took < best[mixed] ? took : best[mixed];
        }
    }
    mixed_faster = best[1] < best[0] * CALIBRATION_MARGIN;
}

int netcl_host_update_avx512_init(void)
{
    pthread_once(&choice_once, choose);
    return avx512_usable;
}

int netcl_host_update_avx512_mixed(void)
{
    netcl_host_update_avx512_init();
    return mixed_faster;
}

void netcl_host_update_avx512(unsigned variant, int mixed, const kernel_hyper h, float *p,
                              const float *g, float *v, float *mb, float *ga, uint64_t n)
{
    update_variant_avx512(variant, mixed, h, p, g, v, mb, ga, n);
}

#else /* other CPUs: the generic loop of host_step.c */

int netcl_host_update_avx512_init(void)
{
    return 0;
}

int netcl_host_update_avx512_mixed(void)
{
    return 0;
}

void netcl_host_update_avx512(unsigned variant, int mixed, const kernel_hyper h, float *p,
                              const float *g, float *v, float *mb, float *ga, uint64_t n)
{
    (void)variant, (void)mixed, (void)h, (void)p, (void)g, (void)v, (void)mb, (void)ga, (void)n;
}

#endif
