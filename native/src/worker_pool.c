/*
 * A process-wide pool of worker threads for the host path: one fewer than the CPUs (the caller
 * works too), started on first use and kept for the life of the process, so a step pays a
 * wake-up, not a thread creation.
 *
 * One job runs at a time. A step that finds the pool busy (another optimizer stepping on another
 * thread) runs alone on its own thread instead of waiting. After a job, workers spin for a short
 * while before they sleep: steps that follow each other closely (a tight loop, a benchmark) then
 * skip the wake-up, and a training loop with longer gaps pays only the sleep's wake-up.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "worker_pool.h"

#define MAX_WORKERS 15u
/* How long an idle worker polls for the next job before it sleeps. */
#define SPIN_NANOSECONDS 50000

static struct {
    pthread_once_t once;
    pthread_mutex_t busy;          /* held by the step that owns the pool */
    pthread_mutex_t lock;          /* guards the fields below for sleeping and waking */
    pthread_cond_t wake;
    pthread_cond_t done;
    unsigned workers;
    atomic_uint_fast64_t generation;
    atomic_uint pending;
    netcl_pool_task task;
    void *arg;
    unsigned parts;
} pool = {.once = PTHREAD_ONCE_INIT,
          .busy = PTHREAD_MUTEX_INITIALIZER,
          .lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One round of polling. Yielding, not only pausing: a worker and the step's thread may share
 * one CPU (a machine busy with other work, a thread the scheduler has not moved yet), and then
 * the one polling must let the other run, or each waits out the other's whole time slice. */
static inline void poll_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    sched_yield();
}

static void *worker_main(void *index_arg)
{
    const unsigned part = (unsigned)(uintptr_t)index_arg;
    uint64_t seen = 0;
    for (;;) {
        /* Wait for a new generation: spin a little, then sleep. */
        uint64_t generation = atomic_load_explicit(&pool.generation, memory_order_acquire);
        if (generation == seen) {
            const uint64_t until = now_ns() + SPIN_NANOSECONDS;
            while ((generation = atomic_load_explicit(&pool.generation, memory_order_acquire)) ==
                       seen &&
                   now_ns() < until) {
                poll_pause();
            }
        }
        if (generation == seen) {
            pthread_mutex_lock(&pool.lock);
            while ((generation = atomic_load_explicit(&pool.generation, memory_order_acquire)) ==
                   seen) {
                pthread_cond_wait(&pool.wake, &pool.lock);
            }
            pthread_mutex_unlock(&pool.lock);
        }
        seen = generation;
        if (part < pool.parts) {
            pool.task(pool.arg, part, pool.parts);
        }
        if (atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
    }
    return NULL;
}

static void start_workers(void)
{
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned wanted = cpus > 1 ? (unsigned)cpus - 1 : 0;
    if (wanted > MAX_WORKERS) wanted = MAX_WORKERS;
    for (unsigned w = 0; w < wanted; ++w) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        /* Worker w runs part w + 1; the caller runs part 0. */
        if (pthread_create(&thread, &attr, worker_main, (void *)(uintptr_t)(w + 1)) != 0) {
            pthread_attr_destroy(&attr);
            break;
        }
        pthread_attr_destroy(&attr);
        pool.workers++;
    }
}

unsigned netcl_pool_threads(void)
{
    pthread_once(&pool.once, start_workers);
    return pool.workers + 1;
}

void netcl_pool_run(netcl_pool_task task, void *arg, unsigned parts)
{
    if (parts <= 1 || netcl_pool_threads() < 2 || pthread_mutex_trylock(&pool.busy) != 0) {
        for (unsigned part = 0; part < parts; ++part) {
            task(arg, part, parts);
        }
        return;
    }
    if (parts > pool.workers + 1) {
        parts = pool.workers + 1;
    }
    pool.task = task;
    pool.arg = arg;
    pool.parts = parts;
    atomic_store_explicit(&pool.pending, pool.workers, memory_order_relaxed);
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    task(arg, 0, parts);
    /* Every worker acknowledges the generation, even one without a part, so that none still
     * reads the job's fields when the next job writes them. */
    const uint64_t until = now_ns() + SPIN_NANOSECONDS;
    while (atomic_load_explicit(&pool.pending, memory_order_acquire) != 0 && now_ns() < until) {
        poll_pause();
    }
    pthread_mutex_lock(&pool.lock);
    while (atomic_load_explicit(&pool.pending, memory_order_acquire) != 0) {
        pthread_cond_wait(&pool.done, &pool.lock);
    }
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.busy);
}
