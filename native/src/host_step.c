/*
 * The host path: the same fused update as native/kernels/rmsprop.cl, compiled into the library
 * and run on the calling thread over host tensors and host-visible state. A small step then
 * costs no OpenCL dispatch at all (15-60 us on PoCL, more than the whole update below ~2^18
 * floats).
 *
 * Exactness: every operation rounds as in the kernel (and in PyTorch 1.13's CPU kernels):
 * contraction is off for this file (-ffp-contract=off) and each fma is written out; sqrtf and
 * the divisions are IEEE-exact in every vector width. The loops are compiled for AVX-512,
 * AVX2+FMA and baseline x86-64 (target_clones picks at load time), so fmaf is one instruction
 * wherever the CPU has one, and libm's exact fmaf elsewhere. CPUs with AVX-512 F, BW and VL
 * update through host_update_avx512.c instead of update() below.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "dtype.h"
#include "host_update_avx512.h"
#include "optimizer.h"
#include "variant_switch.h"
#include "worker_pool.h"

/*
 * Steps of fewer elements run on the calling thread alone: handing a part to a worker costs more
 * than it saves. Larger ones are cut into one part per thread, which the caller and the workers
 * claim (worker_pool.c). Measured (2-core AMD EPYC Zen 5 VM, one float32 tensor, back-to-back
 * steps, the AVX-512 loop, best of 10 runs of 5,000, two runs): one thread 0.55-0.57 us at 2^12,
 * 1.07-1.13 us at 2^13, 2.12-2.13 us at 2^14; two threads 0.61-0.64, 0.86-0.91 and 1.46-1.53 us.
 * (Before the pool's polling stopped yielding every round, two threads paid about 0.4 us more,
 * and on a 2-core Xeon VM only caught up from 2^15.) More, smaller parts (2^13 floats, up to 8
 * per thread) balance better only where a thread is held up, and cost (Xeon VM) 13.2 us at 2^16,
 * 26-27 us at 2^17 and 48-51 us at 2^18 against 10-11, 19-22 and 40-42 us with one part per
 * thread.
 */
#define HOST_PARALLEL_MIN_ELEMENTS (1u << 13)
/*
 * Steps of at least this many elements wake sleeping workers (see worker_pool.c); shorter ones
 * that follow a gap run on the caller unless a worker is still spinning. Measured with a busy
 * gap of 1 ms before each step (a training loop's forward and backward pass; worker_pool's
 * workers sleep by then), two threads and a wake-up against one thread: 2^16 floats 41-48 us
 * against 20-22 us, 2^17 77 against 50 us, 2^18 111 against 127 us, 2^20 288 against 502 us.
 * Back-to-back steps keep two threads at every size (2^16: 11 us).
 */
#define HOST_WAKE_MIN_ELEMENTS (1u << 18)

static inline __attribute__((always_inline)) float load_element(const void *x, uint64_t i,
                                                                 const int dtype)
{
    if (dtype == NETCL_FP32) return ((const float *)x)[i];
    if (dtype == NETCL_BF16) return bf16_to_float(((const uint16_t *)x)[i]);
    return fp16_to_float(((const uint16_t *)x)[i]);
}

static inline __attribute__((always_inline)) void update(
    const kernel_hyper h, void *restrict p, const void *restrict g, float *restrict v,
    float *restrict mb, float *restrict ga, float *restrict master, uint64_t n,
    const int weight_decay, const int maximize, const int momentum, const int centered,
    const int dtype)
{
    for (uint64_t i = 0; i < n; ++i) {
        const float param = dtype == NETCL_FP32 ? ((float *)p)[i] : master[i];
        const float given = (load_element(g, i, dtype) * h.inv_scale) * h.clip_coef;
        float grad = maximize ? -given : given;
        if (weight_decay) {
            grad = fmaf(h.weight_decay, param, grad);
        }
        const float square_avg = fmaf(h.one_minus_alpha * grad, grad, v[i] * h.alpha);
        v[i] = square_avg;
        float avg;
        if (centered) {
            const float grad_avg = fmaf(h.one_minus_alpha, grad, ga[i] * h.alpha);
            ga[i] = grad_avg;
            avg = sqrtf(fmaf(-grad_avg, grad_avg, square_avg)) + h.eps;
        } else {
            avg = sqrtf(square_avg) + h.eps;
        }
        float updated;
        if (momentum) {
            const float buf = mb[i] * h.momentum + grad / avg;
            mb[i] = buf;
            updated = fmaf(h.neg_lr, buf, param);
        } else {
            updated = param + (h.neg_lr * grad) / avg;
        }
        if (dtype == NETCL_FP32) {
            ((float *)p)[i] = updated;
        } else {
            master[i] = updated;
            ((uint16_t *)p)[i] = dtype == NETCL_BF16 ? float_to_bf16(updated) : float_to_fp16(updated);
        }
    }
}

/* Loops specialized per x86-64 instruction set; the sanitized builds have none (their tests
 * then run the portable loops, update() included). The update needs no AVX-512 clone: every CPU
 * that would pick it takes host_update_avx512.c's loop. */
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define NETCL_X86_SPECIALIZED 1
#define NETCL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define NETCL_UPDATE_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define NETCL_X86_SPECIALIZED 0
#define NETCL_CLONES
#define NETCL_UPDATE_CLONES
#endif

/* One specialized loop per variant (bits: weight decay, maximize, momentum, centered) and type. */
NETCL_UPDATE_CLONES
static void update_variant(unsigned variant, int dtype, const kernel_hyper h, void *p,
                           const void *g, float *v, float *mb, float *ga, float *master, uint64_t n)
{
#define UPDATE(WD, MAX, MOM, CEN, T) update(h, p, g, v, mb, ga, master, n, WD, MAX, MOM, CEN, T)
    NETCL_SWITCH_VARIANT(variant, dtype, UPDATE)
#undef UPDATE
}

/* A host step split into parts of about equal element counts over all its runs. */
typedef struct host_job {
    const netcl_param_group *groups;
    const host_run *runs;
    uint32_t run_count;
    const netcl_step_options *options;
    uint64_t elements;
    int avx512;   /* runs take host_update_avx512.c's loop */
} host_job;

/* Parts start at multiples of 16 floats (64 bytes): no two threads write one cache line. */
static uint64_t part_start(uint64_t elements, unsigned part, unsigned parts)
{
    return part == parts ? elements : elements / parts * part / 16 * 16;
}

/*
 * A part's share [from, to) of the tensor (or run) that starts at element *at of the step's
 * element order and has numel elements, given the part's range [begin, end); advances *at past
 * it. Returns whether the share is not empty.
 */
static int part_of_tensor(uint64_t begin, uint64_t end, uint64_t *at, uint64_t numel,
                          uint64_t *from, uint64_t *to)
{
    *from = begin > *at ? begin - *at : 0;
    *to = end - *at < numel ? end - *at : numel;
    *at += numel;
    return *from < *to;
}

/* Whether `next` continues `r` in every array, so that the two are one run. */
static int continues(const host_run *r, const host_run *next)
{
    const size_t size = dtype_size(r->dtype);
    return r->n > 0 && next->group == r->group && next->dtype == r->dtype &&
           next->p == r->p + r->n * size && next->g == r->g + r->n * size &&
           next->v == r->v + r->n && next->mb == r->mb + r->n && next->ga == r->ga + r->n &&
           next->master == r->master + r->n;
}

/*
 * Consecutive tensors that continue one another are one run: one call of the vectorized loop
 * instead of one per tensor, which for many small tensors (biases, norms) costs as much as the
 * update itself.
 */
netcl_status netcl_host_runs(const netcl_rmsprop *opt, const netcl_param_group *groups,
                             uint32_t group_count, const netcl_tensor *tensors, host_run **runs,
                             uint32_t *run_count)
{
    const state_store *st = &opt->state;
    uint32_t tensor_count = 0;
    for (uint32_t g = 0; g < group_count; ++g) {
        tensor_count += groups[g].count;
    }
    *runs = tensor_count > 0 ? malloc(tensor_count * sizeof **runs) : NULL;
    *run_count = 0;
    if (tensor_count > 0 && *runs == NULL) {
        return netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating the host path's runs failed");
    }
    for (uint32_t g = 0; g < group_count; ++g) {
        const unsigned variant = group_variant(&groups[g]);
        for (uint32_t i = groups[g].first; i < groups[g].first + groups[g].count; ++i) {
            const netcl_tensor *t = &tensors[i];
            if (!has_grad(t)) {
                continue;
            }
            const param_slot *slot = &st->slots[i];
            float *v = netcl_state_host(st, slot, STATE_SQUARE_AVG);
            const host_run next = {g, t->dtype, t->data, t->grad, v,
                                   (variant & 2u) ? netcl_state_host(st, slot, STATE_MOMENTUM) : v,
                                   (variant & 1u) ? netcl_state_host(st, slot, STATE_GRAD_AVG) : v,
                                   t->dtype != NETCL_FP32 ? netcl_state_host(st, slot, STATE_MASTER)
                                                          : v,
                                   t->numel};
            host_run *last = *run_count > 0 ? &(*runs)[*run_count - 1] : NULL;
            if (last != NULL && continues(last, &next)) {
                last->n += next.n;
            } else {
                (*runs)[(*run_count)++] = next;
            }
        }
    }
    return NETCL_SUCCESS;
}

/*
 * Points runs that netcl_host_runs built for the same list at the step's gradients, which moved
 * (only they). Returns 0 where a run's gradients no longer lie back to back: the runs are then
 * partly moved, and must be built again before a step uses them.
 */
int netcl_host_runs_move_grads(const netcl_param_group *groups, uint32_t group_count,
                               const netcl_tensor *tensors, host_run *runs)
{
    host_run *run = runs;
    uint64_t at = 0;  /* elements of the run before this tensor */
    for (uint32_t g = 0; g < group_count; ++g) {
        for (uint32_t i = groups[g].first; i < groups[g].first + groups[g].count; ++i) {
            const netcl_tensor *t = &tensors[i];
            if (!has_grad(t)) {
                continue;
            }
            if (at == run->n) {
                ++run;
                at = 0;
            }
            if (at == 0) {
                run->g = t->grad;
            } else if ((const char *)t->grad != run->g + at * dtype_size(t->dtype)) {
                return 0;
            }
            at += t->numel;
        }
    }
    return 1;
}

/* Runs handed to the AVX-512 loop in one call at most: it updates their partial vectors after
 * the full ones (see update_runs), an order measured with batches of this size. */
#define RUN_BATCH 32u

/* Elements [from, to) of a part's runs of one group and type: [from, n) of the first, up to
 * [0, to) of the last. */
static void update_batch(const host_job *job, const host_run *runs, uint32_t count, uint64_t from,
                         uint64_t to, uint64_t elements)
{
    const netcl_param_group *group = &job->groups[runs->group];
    const unsigned variant = group_variant(group);
    const kernel_hyper h = group_hyper(group, job->options);
    if (job->avx512) {
        netcl_host_update_avx512(variant, runs->dtype,
                                 netcl_host_update_avx512_group(variant, elements), h, runs, count,
                                 from, to);
        return;
    }
    const size_t size = dtype_size(runs->dtype);
    for (uint32_t k = 0; k < count; ++k) {
        const host_run *r = &runs[k];
        uint64_t first, end;
        host_run_range(runs, k, count, from, to, &first, &end);
        update_variant(variant, r->dtype, h, r->p + first * size, r->g + first * size,
                       r->v + first, r->mb + first, r->ga + first, r->master + first, end - first);
    }
}

/* A part's elements, in batches of runs of one group and type, straight from the checked list's
 * runs: copying each into a batch took about 3 us a step for 1,000 tensors of 100 floats. */
static void run_part(void *arg, unsigned part, unsigned parts)
{
    const host_job *job = arg;
    const uint64_t begin = part_start(job->elements, part, parts);
    const uint64_t end = part_start(job->elements, part + 1, parts);
    const host_run *runs = job->runs;
    uint32_t r = 0;
    uint64_t at = 0;  /* the first element of run r in the step's element order */
    while (r < job->run_count && at + runs[r].n <= begin) {
        at += runs[r++].n;
    }
    while (r < job->run_count && at < end) {
        const uint32_t first = r;
        const uint64_t from = begin > at ? begin - at : 0, batch_begin = at + from;
        do {
            at += runs[r++].n;
        } while (r < job->run_count && at < end && r - first < RUN_BATCH &&
                 runs[r].group == runs[first].group && runs[r].dtype == runs[first].dtype);
        const uint64_t batch_end = at < end ? at : end;
        update_batch(job, runs + first, r - first, from, runs[r - 1].n - (at - batch_end),
                     batch_end - batch_begin);
    }
}

void netcl_host_step(const netcl_param_group *groups, const host_run *runs, uint32_t run_count,
                     const netcl_step_options *options, uint64_t elements)
{
    host_job job = {groups, runs, run_count, options, elements,
                    NETCL_X86_SPECIALIZED && netcl_host_update_avx512_now(elements)};
    const unsigned parts = elements >= HOST_PARALLEL_MIN_ELEMENTS ? netcl_pool_threads() : 1;
    if (parts > 1) {
        netcl_pool_run(run_part, &job, parts, elements >= HOST_WAKE_MIN_ELEMENTS);
    } else {
        run_part(&job, 0, 1);
    }
}

/* ---- gradient statistics and scaling (mixed precision) ---------------------------------- */

/*
 * The gradient passes' statistics (see netcl_grad_stats) after scaling by `factor`. The sum of
 * squares is a vectorized reduction (lanes summed in their own order: the norm is specified as
 * accurate as a double accumulation, not in one order; the AMP trajectories pin its float32
 * rounding; the square of a float is exact in double). The largest magnitude and the
 * non-finite flag come from one integer maximum over the bits of |g| (which order like the
 * magnitudes, inf and NaN above every finite value), cheaper than a compare and a double
 * maximum per element: rounding is monotonic, so the largest |g * factor| is
 * |largest g| * |factor|. A pass that met inf or NaN redoes the maximum in element order
 * (nonfinite_max), so that a NaN makes it NaN, as torch.max does.
 */
static inline double scaled_square(float given, float factor)
{
    const double u = (double)(given * factor);
    return u * u;
}

static inline uint32_t magnitude_bits(float given)
{
    return float_bits(given) & 0x7FFFFFFFu;
}

static inline uint32_t max_bits(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

void netcl_grad_stats_result(double sum, uint32_t largest_bits, float factor,
                             netcl_grad_stats *out)
{
    const float largest = bits_float(largest_bits);
    out->sum_squares = sum;
    out->max_abs = (double)(largest * fabsf(factor));
    out->nonfinite = !isfinite(largest);
}

/* One pass over a gradient: its statistics and, when `write` is set, the scaled values
 * written back in place. */
static inline __attribute__((always_inline)) void grad_pass(void *g, int dtype, uint64_t n,
                                                            float factor, netcl_grad_stats *out,
                                                            const int write)
{
    double sum = 0.0;
    uint32_t largest_bits = 0;
#pragma omp simd reduction(+ : sum) reduction(max : largest_bits)
    for (uint64_t i = 0; i < n; ++i) {
        const float given = load_element(g, i, dtype);
        largest_bits = max_bits(largest_bits, magnitude_bits(given));
        sum += scaled_square(given, factor);
        const float scaled = given * factor;
        if (write && dtype == NETCL_FP32) {
            ((float *)g)[i] = scaled;
        } else if (write) {
            ((uint16_t *)g)[i] = dtype == NETCL_BF16 ? float_to_bf16(scaled) : float_to_fp16(scaled);
        }
    }
    netcl_grad_stats_result(sum, largest_bits, factor, out);
}

/*
 * The statistics of a BF16 gradient, two elements at a time: a 32-bit word holds two bf16
 * values, each the upper half of its float, so the word shifted or masked is the float itself.
 * Element by element, widening each 16-bit value took shuffles that made this pass slower than
 * float32's over twice the bytes.
 */
static inline __attribute__((always_inline)) void bf16_stats_pass(const uint16_t *g, uint64_t n,
                                                                  float factor,
                                                                  netcl_grad_stats *out)
{
    double sum = 0.0;
    uint32_t largest_bits = 0;
#pragma omp simd reduction(+ : sum) reduction(max : largest_bits)
    for (uint64_t k = 0; k < n / 2; ++k) {
        uint32_t word;
        memcpy(&word, g + 2 * k, sizeof word);
        const float one = bits_float(word << 16), other = bits_float(word & 0xFFFF0000u);
        largest_bits = max_bits(largest_bits, max_bits(magnitude_bits(one), magnitude_bits(other)));
        sum += scaled_square(one, factor) + scaled_square(other, factor);
    }
    if (n % 2 != 0) {
        const float last = bf16_to_float(g[n - 1]);
        largest_bits = max_bits(largest_bits, magnitude_bits(last));
        sum += scaled_square(last, factor);
    }
    netcl_grad_stats_result(sum, largest_bits, factor, out);
}

#if NETCL_X86_SPECIALIZED
/*
 * The statistics of an FP16 gradient, eight elements at a time through F16C's vcvtph2ps, which
 * converts every half exactly (subnormals, inf and NaN too). GCC 12 converts _Float16 one
 * element at a time even in a vectorized loop, and the loop over fp16_to_float (dtype.h) is not
 * vectorized at all. Measured (netcl-bench --grad-stats, 2-core Xeon VM), against the FP32 pass
 * in the same run at 2^16 / 2^20 / 2^24 elements: that loop 10 / 10-11 / 7.5-9.7 times its
 * time, this one 1.2 / 1.3 / 1.3-1.4 (four sums instead of two gained nothing). For AVX2 + F16C,
 * taken where the CPU has them; the square of a float is exact in double, so only the order of
 * the sum differs from grad_pass's.
 */
__attribute__((target("avx2,f16c")))
static void fp16_stats_pass(const uint16_t *g, uint64_t n, float factor, netcl_grad_stats *out)
{
    const __m256 scale = _mm256_set1_ps(factor);
    const __m256i magnitude_mask = _mm256_set1_epi32(0x7FFFFFFF);
    __m256d low_sum = _mm256_setzero_pd(), high_sum = _mm256_setzero_pd();
    __m256i largest = _mm256_setzero_si256();
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 given = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(g + i)));
        largest = _mm256_max_epu32(largest,
                                   _mm256_and_si256(_mm256_castps_si256(given), magnitude_mask));
        const __m256 scaled = _mm256_mul_ps(given, scale);
        const __m256d low = _mm256_cvtps_pd(_mm256_castps256_ps128(scaled));
        const __m256d high = _mm256_cvtps_pd(_mm256_extractf128_ps(scaled, 1));
        low_sum = _mm256_add_pd(low_sum, _mm256_mul_pd(low, low));
        high_sum = _mm256_add_pd(high_sum, _mm256_mul_pd(high, high));
    }
    double lanes[4];
    uint32_t lane_largest[8];
    _mm256_storeu_pd(lanes, _mm256_add_pd(low_sum, high_sum));
    _mm256_storeu_si256((__m256i *)lane_largest, largest);
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    uint32_t largest_bits = 0;
    for (int lane = 0; lane < 8; ++lane) {
        largest_bits = max_bits(largest_bits, lane_largest[lane]);
    }
    for (; i < n; ++i) {
        const float given = fp16_to_float(g[i]);
        largest_bits = max_bits(largest_bits, magnitude_bits(given));
        sum += scaled_square(given, factor);
    }
    netcl_grad_stats_result(sum, largest_bits, factor, out);
}

static int cpu_converts_halves(void)
{
    __builtin_cpu_init();  /* a no-op once done; needed when first called from a constructor */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
}
#endif

/* The largest magnitude of a pass that met inf or NaN: NaN if any element is (after scaling). */
static double nonfinite_max(const void *g, int dtype, uint64_t n, float factor, int written)
{
    double max_abs = 0.0;
    for (uint64_t i = 0; i < n; ++i) {
        const double u = (double)(written ? load_element(g, i, dtype)
                                          : load_element(g, i, dtype) * factor);
        if (u != u) {
            return u;
        }
        max_abs = fabs(u) > max_abs ? fabs(u) : max_abs;
    }
    return max_abs;
}

/* One loop per element type and mode: a type chosen inside the loop would cost every lane all
 * three conversions. */
NETCL_CLONES
static void grad_stats(const void *g, int dtype, uint64_t n, float factor, netcl_grad_stats *out)
{
    void *x = (void *)(uintptr_t)g;
    switch (dtype) {
    case NETCL_BF16: bf16_stats_pass(g, n, factor, out); break;
    case NETCL_FP16:
#if NETCL_X86_SPECIALIZED
        if (cpu_converts_halves()) {
            fp16_stats_pass(g, n, factor, out);
            break;
        }
#endif
        grad_pass(x, NETCL_FP16, n, factor, out, 0);
        break;
    default: grad_pass(x, NETCL_FP32, n, factor, out, 0); break;
    }
}

NETCL_CLONES
static void scale_grad(void *g, int dtype, uint64_t n, float factor, netcl_grad_stats *out)
{
    switch (dtype) {
    case NETCL_BF16: grad_pass(g, NETCL_BF16, n, factor, out, 1); break;
    case NETCL_FP16: grad_pass(g, NETCL_FP16, n, factor, out, 1); break;
    default: grad_pass(g, NETCL_FP32, n, factor, out, 1); break;
    }
}

/* A gradient pass over all tensors, split like a step into parts of about equal element
 * counts; each part keeps its own statistics per tensor, merged in part order afterwards. */
typedef struct grad_job {
    const netcl_tensor *tensors;
    uint32_t count;
    float factor;
    int write;
    uint64_t elements;
    netcl_grad_stats *partial;   /* parts x count */
} grad_job;

static void run_grad_part(void *arg, unsigned part, unsigned parts)
{
    const grad_job *job = arg;
    const uint64_t begin = part_start(job->elements, part, parts);
    const uint64_t end = part_start(job->elements, part + 1, parts);
    uint64_t at = 0;
    for (uint32_t i = 0; i < job->count && at < end; ++i) {
        const netcl_tensor *t = &job->tensors[i];
        if (t->grad == NULL) {
            continue;
        }
        uint64_t from, to;
        if (!part_of_tensor(begin, end, &at, t->numel, &from, &to)) {
            continue;
        }
        /* The caller's gradient memory: netcl_tensor holds it const for the step only. */
        char *g = (char *)(uintptr_t)t->grad + from * tensor_element_size(t);
        netcl_grad_stats *out = &job->partial[(size_t)part * job->count + i];
        if (job->write) {
            scale_grad(g, t->dtype, to - from, job->factor, out);
        } else {
            grad_stats(g, t->dtype, to - from, job->factor, out);
        }
        if (out->nonfinite) {
            out->max_abs = nonfinite_max(g, t->dtype, to - from, job->factor, job->write);
        }
    }
}

/* Runs a gradient pass; `stats` (may be NULL when only writing) receives the merged results. */
static netcl_status grad_passes(const netcl_tensor *tensors, uint32_t count, float factor,
                                int write, netcl_grad_stats *stats)
{
    uint64_t elements = 0;
    for (uint32_t i = 0; i < count; ++i) {
        elements += tensors[i].grad != NULL ? tensors[i].numel : 0;
    }
    const unsigned parts = elements >= HOST_PARALLEL_MIN_ELEMENTS ? netcl_pool_threads() : 1;
    netcl_grad_stats *partial = calloc((size_t)parts * count + 1, sizeof *partial);
    if (partial == NULL) {
        return netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating gradient statistics failed");
    }
    grad_job job = {tensors, count, factor, write, elements, partial};
    if (parts > 1) {
        netcl_pool_run(run_grad_part, &job, parts, elements >= HOST_WAKE_MIN_ELEMENTS);
    } else {
        run_grad_part(&job, 0, 1);
    }
    for (uint32_t i = 0; i < count && stats != NULL; ++i) {
        if (tensors[i].grad_mem != NULL) {
            continue;  /* a device gradient's statistics come from device_grads.c */
        }
        netcl_grad_stats merged = {0.0, 0.0, 0};
        for (unsigned p = 0; p < parts; ++p) {
            const netcl_grad_stats *s = &partial[(size_t)p * count + i];
            merged.sum_squares += s->sum_squares;
            merged.max_abs = s->max_abs > merged.max_abs || s->max_abs != s->max_abs
                                 ? s->max_abs : merged.max_abs;
            merged.nonfinite |= s->nonfinite;
        }
        stats[i] = merged;
    }
    free(partial);
    return NETCL_SUCCESS;
}

netcl_status netcl_host_grad_stats(const netcl_tensor *tensors, uint32_t count, float inv_scale,
                                   netcl_grad_stats *stats)
{
    return grad_passes(tensors, count, inv_scale, 0, stats);
}

netcl_status netcl_host_scale_grads(const netcl_tensor *tensors, uint32_t count, float factor,
                                    netcl_grad_stats *stats)
{
    return grad_passes(tensors, count, factor, 1, stats);
}

void netcl_host_to_float(const netcl_tensor *t, float *out)
{
    for (uint64_t i = 0; i < t->numel; ++i) {
        out[i] = load_element(t->data, i, t->dtype);
    }
}
