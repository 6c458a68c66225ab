/*
 * Gradient statistics of device-resident FP32 gradients (netcl_rmsprop_grad_stats and
 * netcl_rmsprop_scale_grads on cl_mem tensors), as the host path defines them (host_step.c):
 * per tensor the sum of the squares of (float)(g * factor), the largest magnitude and whether a
 * gradient as given was inf or NaN.
 *
 * A launch covers the gradients of one buffer; the host cuts each tensor into chunks of at most
 * GRAD_CHUNK elements (a table of ulong2: offset in floats within the buffer, length), one
 * work-group per chunk, NETCL_GRAD_ITEMS elements per work-item (the host chooses it: 1 for
 * PoCL's 4,096 work-items, 16 for GPUs' 256). Each work-group reduces its chunk in local
 * memory in a fixed order (chunk_stats) and writes one partial result per chunk: two ulongs,
 * the sum and the largest |g| as float bits. The host adds a tensor's partials in chunk order,
 * so a result does not depend on scheduling.
 *
 * The largest magnitude comes from an integer maximum over the bits of |g|: they order like the
 * magnitudes, inf and NaN above every finite value, so the host makes both the maximum and the
 * non-finite flag of it (host_step.c's netcl_grad_stats_result).
 *
 * The sum: in double where the device has cl_khr_fp64 (the host defines NETCL_FP64), exactly the
 * host's terms (the square of a float is exact in double). Elsewhere in compensated float: each
 * square as the unevaluated sum of two floats (fma gives its rounding error exactly), added
 * with Knuth's two-sum, about 44 bits of precision, which the host then adds in double.
 * Squares beyond float's range (|g * factor| > 1.8e19) are inf there, as in PyTorch's float32
 * norm.
 */
#pragma OPENCL FP_CONTRACT OFF

#ifndef NETCL_CHUNK
#error "the host defines NETCL_CHUNK (the work-group size) when building this program"
#endif

#ifndef NETCL_GRAD_ITEMS
#error "the host defines NETCL_GRAD_ITEMS (elements per work-item) when building this program"
#endif
#define GRAD_CHUNK (NETCL_CHUNK * NETCL_GRAD_ITEMS)

#ifdef NETCL_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double square_sum;

inline square_sum square_of(const float u)
{
    const double wide = (double)u;
    return wide * wide;
}

inline square_sum add_sums(const square_sum a, const square_sum b)
{
    return a + b;
}
#else
/* (high, low): the value is high + low, |low| at most half an ulp of high. */
typedef float2 square_sum;

inline square_sum square_of(const float u)
{
    const float square = u * u;
    /* The rounding error of u * u, exact; none to keep once the square is not finite. */
    return (float2)(square, isfinite(square) ? fma(u, u, -square) : 0.0f);
}

inline square_sum add_sums(const square_sum a, const square_sum b)
{
    const float sum = a.x + b.x;
    if (!isfinite(sum)) {
        return (float2)(sum, 0.0f);  /* inf stays inf (two-sum would make it NaN) */
    }
    const float b_part = sum - a.x;
    const float error = (a.x - (sum - b_part)) + (b.x - b_part);
    const float low = error + (a.y + b.y);
    const float high = sum + low;
    return (float2)(high, low - (high - sum));
}
#endif

/* Work-items that add up a chunk's values, each every LANES-th one, before one of them adds
 * their sums in order. */
#define LANES (NETCL_CHUNK < 64u ? NETCL_CHUNK : 64u)

/* Element `at` of a chunk into `values`, and scaled into the gradient when `write`. */
inline void stage_element(global float *restrict g, const ulong2 c, const uint at,
                          const float factor, local float *values, const int write)
{
    if (c.y == GRAD_CHUNK || at < c.y) {
        const float given = g[c.x + at];
        values[at] = given;
        if (write) {
            g[c.x + at] = given * factor;
        }
    }
}

/*
 * One chunk in three steps between two barriers: each work-item reads its elements (and, when
 * `write`, stores them scaled), NETCL_CHUNK apart, as in the step kernel, so that PoCL
 * vectorizes across work-items and GPUs coalesce; LANES work-items add every LANES-th value;
 * work-item 0 adds their sums in lane order. A tree over all the work-items took PoCL a loop
 * over the whole work-group per level: 8 times slower than this on its CPU device (2^24
 * floats, 4,096 work-items: 123 against 15 ms).
 */
inline void chunk_stats(global float *restrict g, global const ulong2 *restrict chunks,
                        const uint first_chunk, const float factor,
                        global ulong *restrict partials, local float *values,
                        local square_sum *lane_sums, local uint *lane_largest, const int write)
{
    const uint chunk = first_chunk + get_group_id(0);
    const ulong2 c = chunks[chunk];
    const uint lid = get_local_id(0);
#if NETCL_GRAD_ITEMS == 1
    /* No loop at all: PoCL does not vectorize across work-items around one, even of one trip
     * (2^20 floats: 1.7 against 0.9 ms). */
    stage_element(g, c, lid, factor, values, write);
#else
    for (uint item = 0; item < NETCL_GRAD_ITEMS; ++item) {
        stage_element(g, c, lid + item * NETCL_CHUNK, factor, values, write);
    }
#endif
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < LANES) {
        /* Four sums in turn: one would wait for each addition before the next (PoCL runs a
         * work-item's loop as it is: 2^24 floats took 20 ms in double and 54 ms in compensated
         * float with one sum, 15 and 30 ms with four). */
        square_sum sum[4] = {(square_sum)(0.0f), (square_sum)(0.0f), (square_sum)(0.0f),
                             (square_sum)(0.0f)};
        uint largest = 0;
        uint k = lid;
        for (; k + 3 * LANES < c.y; k += 4 * LANES) {
            for (uint u = 0; u < 4; ++u) {
                const float given = values[k + u * LANES];
                sum[u] = add_sums(sum[u], square_of(given * factor));
                largest = max(largest, as_uint(given) & 0x7FFFFFFFu);
            }
        }
        for (uint u = 0; k < c.y; k += LANES, ++u) {
            const float given = values[k];
            sum[u] = add_sums(sum[u], square_of(given * factor));
            largest = max(largest, as_uint(given) & 0x7FFFFFFFu);
        }
        lane_sums[lid] = add_sums(add_sums(sum[0], sum[1]), add_sums(sum[2], sum[3]));
        lane_largest[lid] = largest;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0) {
        square_sum sum = lane_sums[0];
        uint largest = lane_largest[0];
        for (uint lane = 1; lane < LANES; ++lane) {
            sum = add_sums(sum, lane_sums[lane]);
            largest = max(largest, lane_largest[lane]);
        }
        partials[2 * chunk] = as_ulong(sum);  /* a double or two floats */
        partials[2 * chunk + 1] = largest;
    }
}

#define GRAD_STATS_ARGS                                                                     \
    global float *restrict g, global const ulong2 *restrict chunks, const uint first_chunk, \
    const float factor, global ulong *restrict partials

#define GRAD_STATS_KERNEL(NAME, WRITE)                                                     \
    kernel __attribute__((reqd_work_group_size(NETCL_CHUNK, 1, 1))) void NAME(GRAD_STATS_ARGS) \
    {                                                                                       \
        local float values[GRAD_CHUNK];                                                     \
        local square_sum lane_sums[LANES];                                                  \
        local uint lane_largest[LANES];                                                     \
        chunk_stats(g, chunks, first_chunk, factor, partials, values, lane_sums,            \
                    lane_largest, WRITE);                                                   \
    }

GRAD_STATS_KERNEL(grad_stats, 0)
GRAD_STATS_KERNEL(scale_grads, 1)
