/*
 * The correctly rounded float32 square root (what sqrtf and vsqrtps return) computed on the FMA
 * units of an AVX-512 CPU instead of its divider.
 *
 * Why: a host-path step that fits in the caches is bound by the divider, which computes both the
 * square root and the division of every element (Sapphire Rapids, 16 floats: vdivps about 6
 * cycles, vsqrtps about 8, while the rest of the update needs about 5 cycles of the two FMA
 * ports). Taking the square root of some vectors on the FMA ports lets the two units work in
 * parallel (host_update_avx512.c).
 *
 * How, for x in [2^-100, 2^100) (sqrt_alu, at the end, says what becomes of the others):
 *  1. r = rsqrt14(x), relative error below 2^-14 (Intel SDM); s0 = RN(x r); one correction with
 *     the residual, s = RN(s0 + RN(x - s0^2) r/2), leaves a relative error below 2^-26 before
 *     its rounding (about 1.5 * 2^-28), so s is within 0.75 ulp of sqrt(x); when s is a power of
 *     two above sqrt(x), within 3/8 of its ulp, less than the spacing below it.
 *  2. Round down: if x - s^2 < 0 (its sign is exact: the fma rounds once, and x - s^2 is a
 *     multiple of ulp(s)^2 >= 2^-146, so it cannot underflow to zero), s is the float below,
 *     one less in its bits. Now lo <= sqrt(x) < hi, hi = lo's successor (bits + 1).
 *  3. Round to nearest: with u = hi - lo, sqrt(x) >= (lo + hi)/2 iff x >= lo hi + u^2/4. x, lo^2
 *     and lo u are multiples of u^2, so x - lo hi, exact inside the fma, is an integer multiple
 *     of u^2: it exceeds u^2/4 iff it is positive, and it is never u^2/4 (no float's square root
 *     is a midpoint). Round up iff RN(x - lo hi) > 0.
 * native/tests/test_host_avx512.c compares it with vsqrtps over all 2^32 inputs.
 */
#ifndef NETCL_SQRT_ALU_H
#define NETCL_SQRT_ALU_H

#include <immintrin.h>
#include <math.h>

#define SQRT_ALU_TARGET __attribute__((target("avx512f")))

/* x's bits minus those of 2^-100, below this (2^100's minus 2^-100's) unsigned: in range. */
#define SQRT_ALU_LOWEST_BITS 0x0D800000u
#define SQRT_ALU_RANGE_BITS (0x71800000u - SQRT_ALU_LOWEST_BITS)

/* Steps 1-3 above, for x in [2^-100, 2^100) (and what sqrt_alu says of negatives and NaN). */
static inline __attribute__((always_inline)) SQRT_ALU_TARGET __m512 sqrt_alu_in_range(__m512 x)
{
    const __m512 r = _mm512_rsqrt14_ps(x);
    const __m512 s0 = _mm512_mul_ps(x, r);
    const __m512 half_r = _mm512_mul_ps(r, _mm512_set1_ps(0.5f));
    const __m512 s = _mm512_fmadd_ps(_mm512_fnmadd_ps(s0, s0, x), half_r, s0);
    const __mmask16 above = _mm512_cmp_ps_mask(_mm512_fnmadd_ps(s, s, x), _mm512_setzero_ps(),
                                               _CMP_LT_OQ);
    const __m512i lo_bits = _mm512_mask_sub_epi32(_mm512_castps_si512(s), above,
                                                  _mm512_castps_si512(s), _mm512_set1_epi32(1));
    const __m512 lo = _mm512_castsi512_ps(lo_bits);
    const __m512 hi = _mm512_castsi512_ps(_mm512_add_epi32(lo_bits, _mm512_set1_epi32(1)));
    const __mmask16 up = _mm512_cmp_ps_mask(_mm512_fnmadd_ps(lo, hi, x), _mm512_setzero_ps(),
                                            _CMP_GT_OQ);
    return _mm512_mask_blend_ps(up, lo, hi);
}

/*
 * Positive lanes outside the range (`lanes`: subnormal, tiny or huge) scaled into it by 2^126 or
 * 2^-126 and their roots scaled back by 2^-63 or 2^63: exact, as both are powers of two and
 * every such root is a normal float.
 */
static inline SQRT_ALU_TARGET __m512 sqrt_alu_scaled(__m512 x, __mmask16 lanes)
{
    const __mmask16 tiny = lanes & _mm512_cmp_ps_mask(x, _mm512_set1_ps(1.0f), _CMP_LT_OQ);
    const __mmask16 huge = lanes & (__mmask16)~tiny;
    __m512 scaled = _mm512_mask_mul_ps(x, tiny, x, _mm512_set1_ps(0x1p126f));
    scaled = _mm512_mask_mul_ps(scaled, huge, x, _mm512_set1_ps(0x1p-126f));
    __m512 root = sqrt_alu_in_range(scaled);
    root = _mm512_mask_mul_ps(root, tiny, root, _mm512_set1_ps(0x1p-63f));
    return _mm512_mask_mul_ps(root, huge, root, _mm512_set1_ps(0x1p63f));
}

/*
 * Lanes outside the range: negative ones and NaN come out of steps 1-3 as vsqrtps gives them
 * (rsqrt14 makes them the default NaN, or NaN x quieted, and every later operation and the
 * final choice keep that NaN); +-0 and +inf are their own roots; positive finite ones are
 * scaled. So a vector of zero averages (parameters whose gradients are zero) or of NaN costs a
 * few operations more, not a trip to the divider.
 */
static inline __attribute__((always_inline)) SQRT_ALU_TARGET __m512 sqrt_alu(__m512 x)
{
    const __m512i bits = _mm512_castps_si512(x);
    const __mmask16 outside =
        _mm512_cmp_epu32_mask(_mm512_sub_epi32(bits, _mm512_set1_epi32((int)SQRT_ALU_LOWEST_BITS)),
                              _mm512_set1_epi32((int)SQRT_ALU_RANGE_BITS), _MM_CMPINT_NLT);
    if (__builtin_expect(outside == 0, 1)) {
        return sqrt_alu_in_range(x);
    }
    /* Outside lanes that are not negative or NaN (x >= 0 is false for both): none in a vector
     * whose only outside lanes are NaN or negative (a diverged state), which costs one compare. */
    const __mmask16 care = outside & _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
    if (care == 0) {
        return sqrt_alu_in_range(x);
    }
    /* Positive, finite and not zero: bits - 1 below 0x7F7FFFFF (the largest finite). */
    const __mmask16 scalable = care & _mm512_cmp_epu32_mask(
        _mm512_sub_epi32(bits, _mm512_set1_epi32(1)), _mm512_set1_epi32(0x7F7FFFFF), _MM_CMPINT_LT);
    const __m512 root = scalable != 0 ? sqrt_alu_scaled(x, scalable) : sqrt_alu_in_range(x);
    const __mmask16 own_root = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_EQ_OQ) |
                               _mm512_cmp_ps_mask(x, _mm512_set1_ps(INFINITY), _CMP_EQ_OQ);
    return _mm512_mask_mov_ps(root, own_root, x);
}

#endif
