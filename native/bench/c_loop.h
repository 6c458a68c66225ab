/* The plain C reference of netcl-bench: the same RMSProp update as a vectorized loop on all cores. */
#ifndef NETCL_BENCH_C_LOOP_H
#define NETCL_BENCH_C_LOOP_H

#include <stddef.h>

#include "netcl.h"

void c_loop_rmsprop(const netcl_param_group *h, float *param, const float *grad, float *square_avg,
                    float *momentum_buffer, float *grad_avg, size_t n);

/* The number of threads c_loop_rmsprop runs on: all cores with OpenMP, else 1. */
int c_loop_threads(void);

#endif
