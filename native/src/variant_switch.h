/*
 * A switch over a group's variant (group_variant's bits: weight decay, maximize, momentum,
 * centered) and an element type that calls CALL(weight_decay, maximize, momentum, centered,
 * dtype) with each combination as constants, so that every one gets its own specialized loop
 * (host_step.c, host_update_avx512.c).
 */
#ifndef NETCL_VARIANT_SWITCH_H
#define NETCL_VARIANT_SWITCH_H

#define NETCL_VARIANT_CASE(CALL, V, T)                                                        \
    case V * 4 + T:                                                                           \
        CALL((V >> 3) & 1, (V >> 2) & 1, (V >> 1) & 1, V & 1, T);                            \
        break;
#define NETCL_VARIANT_CASES(CALL, V)                                                          \
    NETCL_VARIANT_CASE(CALL, V, 0) NETCL_VARIANT_CASE(CALL, V, 1) NETCL_VARIANT_CASE(CALL, V, 2)

#define NETCL_SWITCH_VARIANT(variant, dtype, CALL)                                            \
    switch ((variant) * 4 + (unsigned)(dtype)) {                                              \
        NETCL_VARIANT_CASES(CALL, 0) NETCL_VARIANT_CASES(CALL, 1) NETCL_VARIANT_CASES(CALL, 2) \
        NETCL_VARIANT_CASES(CALL, 3) NETCL_VARIANT_CASES(CALL, 4) NETCL_VARIANT_CASES(CALL, 5) \
        NETCL_VARIANT_CASES(CALL, 6) NETCL_VARIANT_CASES(CALL, 7) NETCL_VARIANT_CASES(CALL, 8) \
        NETCL_VARIANT_CASES(CALL, 9) NETCL_VARIANT_CASES(CALL, 10)                            \
        NETCL_VARIANT_CASES(CALL, 11) NETCL_VARIANT_CASES(CALL, 12)                           \
        NETCL_VARIANT_CASES(CALL, 13) NETCL_VARIANT_CASES(CALL, 14)                           \
        NETCL_VARIANT_CASES(CALL, 15)                                                         \
    default:                                                                                  \
        break;                                                                                \
    }

#endif
