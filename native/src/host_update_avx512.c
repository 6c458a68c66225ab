/*
 * The host path's update on CPUs with AVX-512 (F, BW, VL), written with intrinsics so that some
 * vectors take their square root on the FMA ports (sqrt_alu.h) while the divider computes the
 * others' and every vector's division. A step that fits in the caches is bound by the divider;
 * sharing the square roots makes it about a quarter faster (2-core Sapphire Rapids VM, plain
 * RMSProp: 1,024 floats 454 -> 354 ns, 16,384 floats 6.2 -> 4.4 us with two of every three
 * vectors on the FMA ports; all of them: 390 ns and 5.2 us; the division there too: slower).
 * The best share depends on the CPU and on the variant's own FMA-port work (centered with
 * momentum: one of two vectors), so netcl_host_update_avx512_init times the shares once.
 *
 * The operations and their order are those of update() in host_step.c (and of the kernel): the
 * same bits, which test_host_avx512 checks for every share and the trajectory tests on every path.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime: the library builds as strict C11 */
#include "host_update_avx512.h"

#if defined(__x86_64__)
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include "dtype.h"
#include "dtype_avx512.h"
#include "netcl.h"
#include "sqrt_alu.h"
#include "variant_switch.h"

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))

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

/* The gradient's elements [i, i + 16) where `lanes` is set, as float32. */
static inline __attribute__((always_inline)) AVX512_TARGET __m512 load_grad(
    const void *g, uint64_t i, __mmask16 lanes, const int dtype)
{
    if (dtype == NETCL_FP32) {
        return _mm512_maskz_loadu_ps(lanes, (const float *)g + i);
    }
    const __m256i halves = load_halves((const uint16_t *)g + i, lanes);
    return dtype == NETCL_BF16 ? bf16x16_to_float(halves) : fp16x16_to_float(halves);
}

/* Elements [i, i + 16) where `lanes` is set; the square root on the FMA ports when `alu`.
 * A BF16/FP16 parameter's float32 value is its master copy, which the update writes with the
 * rounded parameter. */
static inline __attribute__((always_inline)) AVX512_TARGET void update16(
    const vector_hyper *h, void *restrict p, const void *restrict g, float *restrict v,
    float *restrict mb, float *restrict ga, float *restrict master, uint64_t i, __mmask16 lanes,
    int alu, const int weight_decay, const int maximize, const int momentum, const int centered,
    const int dtype)
{
    float *const param_at = dtype == NETCL_FP32 ? (float *)p + i : master + i;
    const __m512 param = _mm512_maskz_loadu_ps(lanes, param_at);
    const __m512 given = _mm512_mul_ps(_mm512_mul_ps(load_grad(g, i, lanes, dtype), h->inv_scale),
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
    _mm512_mask_storeu_ps(param_at, lanes, updated);
    if (dtype != NETCL_FP32) {
        _mm256_mask_storeu_epi16((uint16_t *)p + i, lanes,
                                 dtype == NETCL_BF16 ? float_to_bf16x16(updated)
                                                     : float_to_fp16x16(updated));
    }
}

/* Groups of `group` vectors, the first with its square root on the divider and the others on
 * the FMA ports (group 1: all on the divider); the last partial vector masked. */
static inline __attribute__((always_inline)) AVX512_TARGET void update_vectors(
    const vector_hyper *vh, void *restrict p, const void *restrict g, float *restrict v,
    float *restrict mb, float *restrict ga, float *restrict master, uint64_t n, unsigned group,
    const int weight_decay, const int maximize, const int momentum, const int centered,
    const int dtype)
{
    uint64_t i = 0;
    for (; i + 16 * group <= n; i += 16 * group) {
        for (unsigned k = 0; k < group; ++k) {
            update16(vh, p, g, v, mb, ga, master, i + 16 * k, 0xFFFF, k > 0, weight_decay,
                     maximize, momentum, centered, dtype);
        }
    }
    for (; i + 16 <= n; i += 16) {
        update16(vh, p, g, v, mb, ga, master, i, 0xFFFF, 0, weight_decay, maximize, momentum,
                 centered, dtype);
    }
    if (i < n) {
        update16(vh, p, g, v, mb, ga, master, i, (__mmask16)((1u << (n - i)) - 1), 0,
                 weight_decay, maximize, momentum, centered, dtype);
    }
}

/* The full vectors of each run, then their partial vectors (see update_runs); `group` is a
 * constant in every loop that update_runs instantiates. */
static inline __attribute__((always_inline)) AVX512_TARGET void update_runs_grouped(
    const vector_hyper *vh, const host_run *runs, uint32_t count, uint64_t first_from,
    uint64_t last_to, const unsigned group, const int weight_decay, const int maximize,
    const int momentum, const int centered, const int dtype)
{
    const size_t size = dtype_size(dtype);
    for (uint32_t k = 0; k < count; ++k) {
        const host_run *r = &runs[k];
        uint64_t from, to;
        host_run_range(runs, k, count, first_from, last_to, &from, &to);
        update_vectors(vh, r->p + from * size, r->g + from * size, r->v + from, r->mb + from,
                       r->ga + from, r->master + from, (to - from) / 16 * 16, group,
                       weight_decay, maximize, momentum, centered, dtype);
    }
    /* The partial vectors last: a run's masked tail shares a cache line with the next run's
     * first vector where their state lies back to back, and a load that overlaps a masked
     * store still in flight waits for it to retire (200 tensors of 50 floats: 0.48 against
     * 0.41 ns per float with the tails last; 64-float tensors 0.29). */
    for (uint32_t k = 0; k < count; ++k) {
        const host_run *r = &runs[k];
        uint64_t from, to;
        host_run_range(runs, k, count, first_from, last_to, &from, &to);
        from += (to - from) / 16 * 16;
        update_vectors(vh, r->p + from * size, r->g + from * size, r->v + from, r->mb + from,
                       r->ga + from, r->master + from, to - from, 1, weight_decay, maximize,
                       momentum, centered, dtype);
    }
}

/*
 * One loop per group size, the size a constant in each. A loop over a group size known only at
 * run time held the code of both square roots and the group's own counter, and ran 1.4-1.5
 * times slower than a loop of the same operations in most rounds (AMD EPYC Zen 5 VM, plain, one
 * float32 tensor of 4,096 floats, rounds of 4 ms in turns: median 1.40-1.49 times, against 1.04
 * with this switch); the slow rounds came and went in phases of about 0.2 s, as if the larger
 * loop lost the CPU's decoded-instruction cache to whatever else ran on the core.
 */
static inline __attribute__((always_inline)) AVX512_TARGET void update_runs(
    const kernel_hyper h, const host_run *runs, uint32_t count, uint64_t first_from,
    uint64_t last_to, unsigned group, const int weight_decay, const int maximize,
    const int momentum, const int centered, const int dtype)
{
    const vector_hyper vh = broadcast(h);
#define UPDATE_GROUPED(GROUP)                                                                  \
    update_runs_grouped(&vh, runs, count, first_from, last_to, GROUP, weight_decay, maximize, \
                          momentum, centered, dtype)
    switch (group) {
    case 1: UPDATE_GROUPED(1); break;
    case 2: UPDATE_GROUPED(2); break;
    default: UPDATE_GROUPED(3); break;
    }
#undef UPDATE_GROUPED
}

static AVX512_TARGET void update_variant_avx512(unsigned variant, int dtype, unsigned group,
                                                const kernel_hyper h, const host_run *runs,
                                                uint32_t count, uint64_t first_from,
                                                uint64_t last_to)
{
#define UPDATE_RUNS(WD, MAX, MOM, CEN, T) \
    update_runs(h, runs, count, first_from, last_to, group, WD, MAX, MOM, CEN, T)
    NETCL_SWITCH_VARIANT(variant, dtype, UPDATE_RUNS)
#undef UPDATE_RUNS
}

/* ---- the choice, once per process ---------------------------------------------------------- */

/* Calibration: 4,096 floats (64 KB with the state: in L1/L2 like the steps it speeds up), each
 * group size timed this many times in turns, the fastest time of each compared. */
#define CALIBRATION_FLOATS 4096u
#define CALIBRATION_ROUNDS 40
/* The group size measured best here (2-core Sapphire Rapids VM, 1,024 to 16,384 floats, best of
 * 30: plain 381 / 279 / 272 ns for groups of 1 / 2 / 3 at 1,024 floats, centered with momentum
 * 382 / 330 / 357 ns), kept unless another is faster by more than the margin: noise alone must
 * not move a step to a slower loop, while a CPU whose divider or FMA ports differ gets its own. */
#define DEFAULT_GROUP 2u
#define CALIBRATION_MARGIN 0.95
/*
 * A loop over this many floats or more streams from memory, where the square roots on the FMA
 * ports only add instructions between the loads: all on the divider there. Measured (one float32
 * tensor, two threads, each over half): 2^24 floats 8.2-8.3 ms with groups of 2, 7.3-7.8 ms with
 * groups of 1 (the generic loop: 7.2-8.0 ms); 2^22 and 2^20 alike within noise or better with 2.
 */
#define STREAMING_FLOATS (1u << 21)

/*
 * A step after this long without one starts while the core has its 512-bit units powered down,
 * and their first microseconds run at a fraction of the speed: so a short step then takes the
 * generic (AVX2) loop. Measured here, each step after a busy gap of the calling thread (PAUSE),
 * AVX-512 against the generic loop: after 400 us and more, 1,024 floats 1.4-1.6 against 1.1-1.4
 * us, 4,096 floats 3.5-3.7 against 2.1-2.4 us, 16,384 floats 6.9-7.0 against 6.6-6.9 us; after
 * 200 us and less, AVX-512 stays ahead (4,096 floats: 1.8-1.9 against 2.1-2.4 us).
 * Only on Intel's CPUs (powers_up): AMD's run AVX-512 without that power-up, and there the
 * generic loop is the slower one even after a gap, so the check would only cost every step its
 * time-stamp read. Measured on an AMD EPYC Zen 5 VM, each update after a 1 ms busy gap, the
 * AVX-512 loop against an AVX2 loop of the same operations: 1,024 floats 0.32-0.46 against
 * 0.36-0.37 us, 4,096 floats 0.63-1.17 against 1.07 us (back to back: 0.16-0.19 against 0.28
 * us, and 0.53-0.60 against 1.06 us); the check costs each step there about 10 ns.
 */
#define IDLE_NANOSECONDS 250000.0
/* Steps of this many floats or more take the AVX-512 loop even after a gap: they repay the
 * units' wake-up (16,384 floats tie). */
#define COLD_MAX_FLOATS (1u << 14)

static int avx512_usable;          /* the CPU has AVX-512F */
static int powers_up;              /* its 512-bit units power down when idle (Intel's) */
static uint64_t idle_ticks;        /* IDLE_NANOSECONDS in time-stamp counter ticks (choose()) */
static atomic_uint_fast64_t last_step_tsc;  /* when the last step began, in TSC ticks */
static unsigned best_group[2] = {1, 1};  /* the calibration's group size: [centered] */
static pthread_once_t choice_once = PTHREAD_ONCE_INIT;

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The group size for `variant` (plain, or centered with momentum: its more FMA-port work favours
 * a smaller share there). */
static unsigned calibrate(unsigned variant)
{
    static float p[CALIBRATION_FLOATS], g[CALIBRATION_FLOATS], v[CALIBRATION_FLOATS],
        mb[CALIBRATION_FLOATS], ga[CALIBRATION_FLOATS];
    for (unsigned i = 0; i < CALIBRATION_FLOATS; ++i) {
        p[i] = 1.0f;
        g[i] = (float)(i % 97) * 0.01f - 0.5f;
        v[i] = 0.25f;
        mb[i] = 0.0f;
        ga[i] = 0.01f;
    }
    const kernel_hyper h = {-1e-3f, 0.99f, 0.01f, 1e-8f, 0.0f, 0.9f, 1.0f, 1.0f};
    const host_run run = {0, NETCL_FP32, (char *)p, (const char *)g, v, mb, ga, v,
                          CALIBRATION_FLOATS};
    double best[4] = {1e9, 1e9, 1e9, 1e9};
    for (int round = 0; round < CALIBRATION_ROUNDS; ++round) {
        for (unsigned group = 1; group <= 3; ++group) {
            const double start = seconds();
            update_variant_avx512(variant, NETCL_FP32, group, h, &run, 1, 0, CALIBRATION_FLOATS);
            const double took = seconds() - start;
            best[group] = took < best[group] ? took : best[group];
        }
    }
    unsigned chosen = DEFAULT_GROUP;
    for (unsigned group = 1; group <= 3; ++group) {
        if (best[group] < best[chosen] * CALIBRATION_MARGIN) {
            chosen = group;
        }
    }
    return chosen;
}

/*
 * Whether NETCL_HOST_AVX512=0 keeps the host path on its generic loop (host_step.c: the
 * compiler's AVX2 build on x86-64-v3 CPUs), the loop that CPUs without AVX-512 run: a testing
 * knob, so that the tests cover that loop on CPUs with AVX-512 too. Read once per process.
 */
static int avx512_refused(void)
{
    const char *env = getenv("NETCL_HOST_AVX512");
    return env != NULL && strcmp(env, "0") == 0;
}

static void choose(void)
{
    __builtin_cpu_init();
    avx512_usable = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512vl") && !avx512_refused();
    powers_up = avx512_usable && __builtin_cpu_is("intel");
    if (avx512_usable) {
        const double start = seconds();
        const uint64_t start_tsc = __rdtsc();
        best_group[0] = calibrate(0);
        best_group[1] = calibrate(3);
        idle_ticks = (uint64_t)((double)(__rdtsc() - start_tsc) / ((seconds() - start) * 1e9) *
                                IDLE_NANOSECONDS);
    }
}

int netcl_host_update_avx512_init(void)
{
    pthread_once(&choice_once, choose);
    return avx512_usable;
}

int netcl_host_update_avx512_now(uint64_t elements)
{
    if (!netcl_host_update_avx512_init() || !powers_up) {
        return avx512_usable;
    }
    /* The check costs a step about 20 ns on the Xeon VM (16 floats: 67-70 ns, 48-51 without it),
     * which a short step after a pause repays many times (1,024 floats: 1.4 -> 0.8 us). rdtsc,
     * not clock_gettime (8 against 18 ns in a loop of each); a plain load and store, not an
     * exchange (a locked instruction): steps on other threads may race, and then one of them
     * merely takes the other loop. */
    const uint64_t now = __rdtsc();
    const uint64_t last = atomic_load_explicit(&last_step_tsc, memory_order_relaxed);
    atomic_store_explicit(&last_step_tsc, now, memory_order_relaxed);
    return elements >= COLD_MAX_FLOATS || now - last < idle_ticks;
}

unsigned netcl_host_update_avx512_group(unsigned variant, uint64_t n)
{
    return n >= STREAMING_FLOATS ? 1u : best_group[variant & 1u];
}

void netcl_host_update_avx512(unsigned variant, int dtype, unsigned group, const kernel_hyper h,
                              const host_run *runs, uint32_t count, uint64_t first_from,
                              uint64_t last_to)
{
    update_variant_avx512(variant, dtype, group, h, runs, count, first_from, last_to);
}

#else /* other CPUs: the generic loop of host_step.c */

int netcl_host_update_avx512_init(void)
{
    return 0;
}

int netcl_host_update_avx512_now(uint64_t elements)
{
    (void)elements;
    return 0;
}

unsigned netcl_host_update_avx512_group(unsigned variant, uint64_t n)
{
    (void)variant, (void)n;
    return 1;
}

void netcl_host_update_avx512(unsigned variant, int dtype, unsigned group, const kernel_hyper h,
                              const host_run *runs, uint32_t count, uint64_t first_from,
                              uint64_t last_to)
{
    (void)variant, (void)dtype, (void)group, (void)h, (void)runs, (void)count, (void)first_from,
        (void)last_to;
}

#endif
