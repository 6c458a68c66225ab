/* The host path's worker threads (worker_pool.c). */
#ifndef NETCL_WORKER_POOL_H
#define NETCL_WORKER_POOL_H

/* Runs part `part` of `parts` of a job; parts are independent of each other. */
typedef void (*netcl_pool_task)(void *arg, unsigned part, unsigned parts);

/* Threads a job can use: the workers and the calling thread. Starts the workers once. */
unsigned netcl_pool_threads(void);

/* At most this many parts per job. */
#define NETCL_POOL_MAX_PARTS 0xFFFFu

/* Runs task(arg, p, parts) for every p < parts, each part on whichever thread (a worker or the
 * caller) claims it first, and returns when all are done. A busy pool (a job from another
 * thread) makes the caller run every part itself; so does a pool whose workers all sleep, for a
 * job that is not `long_job` (long enough to repay their wake-up) unless it is the third or later
 * of jobs that each follow the last closely. */
void netcl_pool_run(netcl_pool_task task, void *arg, unsigned parts, int long_job);

#endif
