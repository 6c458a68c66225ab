/* The host path's update on CPUs with AVX-512 (host_update_avx512.c). */
#ifndef NETCL_HOST_UPDATE_AVX512_H
#define NETCL_HOST_UPDATE_AVX512_H

#include <stdint.h>

#include "host_run.h"
#include "kernel_hyper.h"

/* Whether the CPU has AVX-512 F, BW and VL; the first call also times the group sizes once (about 0.2 ms). */
int netcl_host_update_avx512_init(void);

/* Whether a step of `elements` floats starting now takes the AVX-512 loop: _init's answer, unless
 * the step is short, the CPU is Intel's and the last step began long ago (see IDLE_NANOSECONDS).
 * Notes the start. */
int netcl_host_update_avx512_now(uint64_t elements);

/* The fastest group size for `variant` (group_variant's bits) over n floats: vectors per square
 * root on the divider, the others' on the FMA ports; 1 = all on the divider. Once _init ran. */
unsigned netcl_host_update_avx512_group(unsigned variant, uint64_t n);

/* update() of host_step.c over `count` runs of one element type, with one group's
 * hyperparameters: elements [first_from, n) of the first run (first_from < its n), all of the
 * runs between, and [0, last_to) of the last (for a single run: [first_from, last_to)); the
 * same bits for every group size (1 to 3); only once _init returned 1. Over many short runs (a
 * model's biases and norms) their partial vectors come last (see update_runs). */
void netcl_host_update_avx512(unsigned variant, int dtype, unsigned group, const kernel_hyper h,
                              const host_run *runs, uint32_t count, uint64_t first_from,
                              uint64_t last_to);

#endif
