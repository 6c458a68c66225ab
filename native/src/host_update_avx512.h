/* The host path's float32 update on CPUs with AVX-512 (host_update_avx512.c). */
#ifndef NETCL_HOST_UPDATE_AVX512_H
#define NETCL_HOST_UPDATE_AVX512_H

#include <stdint.h>

#include "kernel_hyper.h"

/* Whether the CPU has AVX-512F; the first call also times the two loops once (about 0.1 ms). */
int netcl_host_update_avx512_init(void);

/* Whether the square roots are shared between the FMA ports and the divider (the faster loop). */
int netcl_host_update_avx512_mixed(void);

/* update() of host_step.c for float32 tensors, the same bits whether `mixed` or not; only once
 * _init returned 1. */
void netcl_host_update_avx512(unsigned variant, int mixed, const kernel_hyper h, float *p,
                              const float *g, float *v, float *mb, float *ga, uint64_t n);

#endif
