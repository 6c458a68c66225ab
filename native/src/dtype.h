/*
 * Element types of tensors (enum netcl_dtype) and exact conversions between float32 and the
 * 2-byte types, rounding like PyTorch's Tensor.to(dtype): to nearest, ties to even.
 */
#ifndef NETCL_DTYPE_H
#define NETCL_DTYPE_H

#include <stdint.h>
#include <string.h>

#include "netcl.h"

static inline size_t dtype_size(int32_t dtype)
{
    return dtype == NETCL_FP32 ? 4u : 2u;
}

static inline int dtype_valid(int32_t dtype)
{
    return dtype == NETCL_FP32 || dtype == NETCL_BF16 || dtype == NETCL_FP16;
}

static inline uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float bf16_to_float(uint16_t h)
{
    return bits_float((uint32_t)h << 16);
}

/* c10::BFloat16's round_to_nearest_even: NaN becomes the quiet NaN 0x7FC0. */
static inline uint16_t float_to_bf16(float f)
{
    const uint32_t u = float_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) {
        return 0x7FC0u;
    }
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

static inline float fp16_to_float(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1Fu;
    const uint32_t mantissa = h & 0x3FFu;
    if (exponent == 0x1Fu) {
        return bits_float(sign | 0x7F800000u | (mantissa << 13));
    }
    if (exponent == 0) {
        /* Zero or subnormal: mantissa * 2^-24, exact in float. */
        const float magnitude = (float)mantissa * bits_float(0x33800000u);
        return bits_float(sign | float_bits(magnitude));
    }
    return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

/* IEEE half from float, to nearest even, overflow to infinity; NaN stays NaN with its sign and
 * the quiet bit (as fp16_ieee_from_fp32_value, which PyTorch's c10::Half uses). */
static inline uint16_t float_to_fp16(float f)
{
    const uint32_t u = float_bits(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t magnitude = u & 0x7FFFFFFFu;
    if (magnitude > 0x7F800000u) {
        return (uint16_t)(sign | 0x7E00u);
    }
    if (magnitude >= 0x477FF000u) {  /* rounds to 65536 or more: infinity */
        return (uint16_t)(sign | 0x7C00u);
    }
    if (magnitude < 0x38800000u) {   /* below 2^-14: a subnormal half (or zero) */
        /* Adding 0.5 moves the value's bits so that float rounding does the half's rounding. */
        const float shifted = bits_float(magnitude) + 0.5f;
        return (uint16_t)(sign | (uint16_t)(float_bits(shifted) - float_bits(0.5f)));
    }
    const uint32_t rounded = magnitude + 0xFFFu + ((magnitude >> 13) & 1u);
    return (uint16_t)(sign | (uint16_t)((rounded - (112u << 23)) >> 13));
}

#endif
