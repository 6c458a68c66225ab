/* The host path's update on CPUs with AVX-512 (host_update_avx512.c). */
#ifndef NETCL_HOST_UPDATE_AVX512_H
#define NETCL_HOST_UPDATE_AVX512_H

#include <stdint.h>

#include "kernel_hyper.h"

/* Whether the CPU has AVX-512 F, BW and VL; the first call also times the group sizes once (about 0.2 ms). */
int netcl_host_update_avx512_init(void);

/* The fastest group size for `variant` (group_variant's bits) over n floats: vectors per square
 * root on the divider, the others' on the FMA ports; 1 = all on the divider. Once _init ran. */
unsigned netcl_host_update_avx512_group(unsigned variant, uint64_t n);

/* update() of host_step.c, the same bits for every group size (1 to 3); only once _init
 * returned 1. */
void netcl_host_update_avx512(unsigned variant, int dtype, unsigned group, const kernel_hyper h,
                              void *p, const void *g, float *v, float *mb, float *ga,
                              float *master, uint64_t n);

#endif
