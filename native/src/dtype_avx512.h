/*
 * dtype.h's conversions, 16 elements at a time with AVX-512 (F, BW and VL), giving the same bits
 * (test_host_avx512 compares them with dtype.h over every input): bfloat16 and float16 to float32
 * exactly, float32 to each rounded to nearest even, NaN as dtype.h writes it.
 */
#ifndef NETCL_DTYPE_AVX512_H
#define NETCL_DTYPE_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#define DTYPE_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))

/* The 16 two-byte elements at x where `lanes` is set (zeros elsewhere). */
static inline __attribute__((always_inline)) DTYPE_AVX512_TARGET __m256i load_halves(
    const uint16_t *x, __mmask16 lanes)
{
    return _mm256_maskz_loadu_epi16(lanes, x);
}

static inline __attribute__((always_inline)) DTYPE_AVX512_TARGET __m512 bf16x16_to_float(__m256i h)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* vcvtph2ps is exact; a signalling NaN comes out quiet where fp16_to_float keeps it signalling,
 * which no caller sees: the update multiplies the gradient first, which quiets it the same way. */
static inline __attribute__((always_inline)) DTYPE_AVX512_TARGET __m512 fp16x16_to_float(__m256i h)
{
    return _mm512_cvtph_ps(h);
}

/* c10::BFloat16's round_to_nearest_even, NaN as 0x7FC0 (float_to_bf16). */
static inline __attribute__((always_inline)) DTYPE_AVX512_TARGET __m256i float_to_bf16x16(__m512 f)
{
    const __m512i u = _mm512_castps_si512(f);
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i rounded = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)), odd), 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q);
    rounded = _mm512_mask_mov_epi32(rounded, nan, _mm512_set1_epi32(0x7FC0));
    return _mm512_cvtepi32_epi16(rounded);
}

/* vcvtps2ph rounds to nearest even (overflow to infinity, subnormal halves) as float_to_fp16
 * does; NaN becomes its sign with 0x7E00 there, where vcvtps2ph would keep payload bits. */
static inline __attribute__((always_inline)) DTYPE_AVX512_TARGET __m256i float_to_fp16x16(__m512 f)
{
    const __m256i rounded = _mm512_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __mmask16 nan = _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q);
    const __m256i sign = _mm512_cvtepi32_epi16(
        _mm512_and_si512(_mm512_srli_epi32(_mm512_castps_si512(f), 16), _mm512_set1_epi32(0x8000)));
    return _mm256_mask_mov_epi16(rounded, nan, _mm256_or_si256(sign, _mm256_set1_epi16(0x7E00)));
}

#endif
