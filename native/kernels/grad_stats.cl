/*
 * Gradient statistics of device-resident FP32 gradients (netcl_rmsprop_grad_stats and
 * netcl_rmsprop_scale_grads on cl_mem tensors), as the host path defines them (host_step.c):
 * per tensor the sum of the squares of (float)(g * factor), the largest magnitude and whether a
 * gradient as given was inf or NaN.
 *
 * A launch covers the gradients of one buffer; the host cuts each tensor into chunks of at most
 * NETCL_CHUNK elements (a table of ulong2: offset in floats within the buffer, length), one
 * work-group per chunk, one element per work-item. Each work-group reduces its chunk in local
 * memory in a fixed tree and writes one partial result per chunk: two ulongs, the sum and the
 * largest |g| as float bits. The host adds a tensor's partials in chunk order, so a result does
 * not depend on scheduling.
 *
 * The largest magnitude comes from an integer maximum over the bits of |g|: they order like the
 * magnitudes, inf and NaN above every finite value, so the host makes both the maximum and the
 * non-finite flag of it (host_step.c's netcl_grad_stats_result).
 *
 * The sum: in double where the device has cl_khr_fp64 (the host defines NETCL_FP64), exactly the
 * host's terms (the square of a float is exact in double). Elsewhere in compensated float: each
 * square as the unevaluated sum of two floats (fma gives its rounding error exactly), added
 * pairwise with Knuth's two-sum, about 44 bits of precision, which the host then adds in
 * double. Squares beyond float's range (|g * factor| > 1.8e19) are inf there, as in PyTorch's
 * float32 norm.
 */
#pragma OPENCL FP_CONTRACT OFF

#ifndef NETCL_CHUNK
#error "the host defines NETCL_CHUNK (the work-group size) when building this program"
#endif

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

/* The largest power of two below NETCL_CHUNK: where the tree's first level starts. */
inline uint tree_top(void)
{
    uint top = 1;
    while (2 * top < NETCL_CHUNK) {
        top *= 2;
    }
    return top;
}

/* One chunk: its element per work-item, scaled in place when `write`, then reduced in `sums`
 * and `largest` (NETCL_CHUNK each: local memory is declared in the kernels, as OpenCL C 1.2
 * requires). */
inline void chunk_stats(global float *restrict g, global const ulong2 *restrict chunks,
                        const uint first_chunk, const float factor,
                        global ulong *restrict partials, local square_sum *sums,
                        local uint *largest, const int write)
{
    const uint chunk = first_chunk + get_group_id(0);
    const ulong2 c = chunks[chunk];
    const uint lid = get_local_id(0);
    const int inside = lid < c.y;
    const float given = inside ? g[c.x + lid] : 0.0f;
    const float scaled = given * factor;
    if (write && inside) {
        g[c.x + lid] = scaled;
    }
    sums[lid] = square_of(scaled);
    largest[lid] = as_uint(given) & 0x7FFFFFFFu;
    for (uint stride = tree_top(); stride > 0; stride >>= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid < stride && lid + stride < NETCL_CHUNK) {
            sums[lid] = add_sums(sums[lid], sums[lid + stride]);
            largest[lid] = max(largest[lid], largest[lid + stride]);
        }
    }
    if (lid == 0) {
        partials[2 * chunk] = as_ulong(sums[0]);  /* a double or two floats */
        partials[2 * chunk + 1] = largest[0];
    }
}

#define GRAD_STATS_ARGS                                                                     \
    global float *restrict g, global const ulong2 *restrict chunks, const uint first_chunk, \
    const float factor, global ulong *restrict partials

#define GRAD_STATS_KERNEL(NAME, WRITE)                                                     \
    kernel __attribute__((reqd_work_group_size(NETCL_CHUNK, 1, 1))) void NAME(GRAD_STATS_ARGS) \
    {                                                                                       \
        local square_sum sums[NETCL_CHUNK];                                                 \
        local uint largest[NETCL_CHUNK];                                                    \
        chunk_stats(g, chunks, first_chunk, factor, partials, sums, largest, WRITE);        \
    }

GRAD_STATS_KERNEL(grad_stats, 0)
GRAD_STATS_KERNEL(scale_grads, 1)
