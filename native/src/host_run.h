/* The host path's unit of work (host_step.c, host_update_avx512.c). */
#ifndef NETCL_HOST_RUN_H
#define NETCL_HOST_RUN_H

#include <stdint.h>

/*
 * A run of the host path: consecutive tensors of one group whose data, gradient and every kind
 * of state each continue where the previous tensor's end (slices of one allocation, stepped
 * together from the start), updated by one call of the vectorized loop (host_step.c).
 */
typedef struct host_run {
    uint32_t group;
    int32_t dtype;
    char *p;
    const char *g;
    float *v, *mb, *ga, *master;   /* unused kinds point at v */
    uint64_t n;
} host_run;

/* The elements [*from, *to) of run k among `count` runs whose first starts at element
 * first_from and whose last ends at element last_to: a part's share of the runs it updates. */
static inline void host_run_range(const host_run *runs, uint32_t k, uint32_t count,
                                  uint64_t first_from, uint64_t last_to, uint64_t *from,
                                  uint64_t *to)
{
    *from = k == 0 ? first_from : 0;
    *to = k == count - 1 ? last_to : runs[k].n;
}

#endif
