/*
 * A process-wide pool of worker threads for the host path: one fewer than the CPUs (the caller
 * works too), started on first use and kept for the life of the process, so a step pays a
 * wake-up, not a thread creation.
 *
 * One job runs at a time. A step that finds the pool busy (another optimizer stepping on another
 * thread) runs alone on its own thread instead of waiting. After a job, workers spin for a short
 * while before they sleep: steps that follow each other closely (a tight loop, a benchmark) then
 * skip the wake-up. Waking a sleeping worker costs the caller about 20 us here (2-core VM: the
 * futex wake of a halted virtual CPU), more than a job of 2^16 floats takes on one thread, so a
 * short job wakes sleeping workers only in a run of jobs that each follow the last within the
 * spin time (a tight loop, whose workers then keep spinning). After a longer gap (a training
 * loop's forward and backward pass), and for the job right after such a first one (a mixed-
 * precision step after its gradient pass), it runs on the caller alone.
 *
 * Parts are claimed, not assigned: the caller and the workers take the next unclaimed part until
 * none is left, and the caller then waits only for parts that others are running. A worker that
 * the scheduler has not run yet (another program on the other core, a worker still waking up)
 * therefore never holds a step up: the caller does its parts. A claim names its job's
 * generation, so a worker that wakes after its job has ended claims nothing of the next one.
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
/* How long an idle worker polls for the next job, and a caller for its parts, before sleeping. */
#define SPIN_NANOSECONDS 50000

/* The claim word: the job's generation (high 32 bits), its part count and the next part. */
#define CLAIM(generation, parts, next) (((uint64_t)(generation) << 32) | ((uint64_t)(parts) << 16) | (next))
#define CLAIM_GENERATION(c) ((uint32_t)((c) >> 32))
#define CLAIM_PARTS(c) ((unsigned)(((c) >> 16) & 0xFFFFu))
#define CLAIM_NEXT(c) ((unsigned)((c) & 0xFFFFu))

static struct {
    pthread_once_t once;
    pthread_mutex_t busy;          /* held by the step that owns the pool */
    pthread_mutex_t lock;          /* guards sleeping and waking */
    pthread_cond_t wake;           /* workers wait here for a job */
    pthread_cond_t finished;       /* the caller waits here for its job's last part */
    unsigned workers;
    atomic_uint_fast64_t claim;
    atomic_uint done;              /* parts of the current job finished */
    atomic_uint sleeping_workers;
    atomic_int caller_sleeping;
    uint32_t generation;           /* the caller's, under `busy` */
    atomic_uint_fast64_t last_end; /* now_ns() when the last job ended */
    atomic_uint close_run;         /* jobs in a row that followed the last within the spin time */
    netcl_pool_task task;          /* the job: read only after claiming one of its parts */
    void *arg;
} pool = {.once = PTHREAD_ONCE_INIT,
          .busy = PTHREAD_MUTEX_INITIALIZER,
          .lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER,
          .finished = PTHREAD_COND_INITIALIZER};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * One round of polling. Mostly a pause; every YIELD_EVERY rounds (about 1 us) a yield as well: a
 * worker and the step's thread may share one CPU (a machine busy with other work, a thread the
 * scheduler has not moved yet), and then the one polling must let the other run, or each waits
 * out the other's whole time slice. Not a yield every round: sched_yield takes about 0.55 us
 * here (AMD EPYC Zen 5 VM; a pause 30 ns), so a worker noticed a job, and the caller the end of
 * the worker's part, that much later. Measured (one float32 tensor, back-to-back steps, both
 * threads, best of 10 runs of 3,000, two runs): 2^15 floats 2.89-2.90 -> 2.51-2.52 us, 2^16
 * 4.87-4.98 -> 4.44-4.66 us, 2^18 19.2-19.5 -> 18.6-18.9 us; one thread alone takes 4.1 us at
 * 2^15 and 8.3-8.4 us at 2^16.
 */
#define YIELD_EVERY 32u

static inline void poll_pause(unsigned *rounds)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (++*rounds % YIELD_EVERY == 0) {
        sched_yield();
    }
}

/* Claims the next part of job `generation`; returns 0 when it has none left (or has ended). */
static int claim_part(uint32_t generation, unsigned *part, unsigned *parts)
{
    uint64_t c = atomic_load_explicit(&pool.claim, memory_order_acquire);
    while (CLAIM_GENERATION(c) == generation && CLAIM_NEXT(c) < CLAIM_PARTS(c)) {
        if (atomic_compare_exchange_weak_explicit(&pool.claim, &c, c + 1, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            *part = CLAIM_NEXT(c);
            *parts = CLAIM_PARTS(c);
            return 1;
        }
    }
    return 0;
}

/* Runs claimed parts of job `generation` until none is left. */
static void run_parts(uint32_t generation)
{
    unsigned part, parts;
    while (claim_part(generation, &part, &parts)) {
        pool.task(pool.arg, part, parts);
        /* seq_cst, as the caller's store to caller_sleeping and load of done: one of the two
         * sees the other, so the last part's end is never missed. */
        if (atomic_fetch_add(&pool.done, 1) + 1 == parts && atomic_load(&pool.caller_sleeping)) {
            pthread_mutex_lock(&pool.lock);
            pthread_cond_signal(&pool.finished);
            pthread_mutex_unlock(&pool.lock);
        }
    }
}

static void *worker_main(void *unused)
{
    (void)unused;
    uint32_t seen = CLAIM_GENERATION(atomic_load(&pool.claim));
    for (;;) {
        /* Wait for a new job: spin a little, then sleep. seq_cst on `claim` and
         * `sleeping_workers` here and in netcl_pool_run: a caller that sees no sleeper has
         * published its job where this worker's check under the lock sees it. */
        uint32_t generation = CLAIM_GENERATION(atomic_load(&pool.claim));
        const uint64_t until = now_ns() + SPIN_NANOSECONDS;
        unsigned rounds = 0;
        while (generation == seen && now_ns() < until) {
            poll_pause(&rounds);
            generation = CLAIM_GENERATION(atomic_load(&pool.claim));
        }
        if (generation == seen) {
            pthread_mutex_lock(&pool.lock);
            atomic_fetch_add(&pool.sleeping_workers, 1);
            while ((generation = CLAIM_GENERATION(atomic_load(&pool.claim))) == seen) {
                pthread_cond_wait(&pool.wake, &pool.lock);
            }
            atomic_fetch_sub(&pool.sleeping_workers, 1);
            pthread_mutex_unlock(&pool.lock);
        }
        seen = generation;
        run_parts(generation);
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
        if (pthread_create(&thread, &attr, worker_main, NULL) != 0) {
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

void netcl_pool_run(netcl_pool_task task, void *arg, unsigned parts, int long_job)
{
    const int close = now_ns() - atomic_load_explicit(&pool.last_end, memory_order_relaxed) < SPIN_NANOSECONDS;
    const unsigned run = close ? atomic_load_explicit(&pool.close_run, memory_order_relaxed) + 1 : 0;
    atomic_store_explicit(&pool.close_run, run, memory_order_relaxed);
    const int wake = long_job || run >= 2;
    if (parts <= 1 || parts > NETCL_POOL_MAX_PARTS || netcl_pool_threads() < 2 ||
        (!wake && atomic_load(&pool.sleeping_workers) == pool.workers) ||
        pthread_mutex_trylock(&pool.busy) != 0) {
        for (unsigned part = 0; part < parts; ++part) {
            task(arg, part, parts);
        }
        atomic_store_explicit(&pool.last_end, now_ns(), memory_order_relaxed);
        return;
    }
    const uint32_t generation = ++pool.generation;
    pool.task = task;
    pool.arg = arg;
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    atomic_store(&pool.claim, CLAIM(generation, parts, 0));
    if (wake && atomic_load(&pool.sleeping_workers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    run_parts(generation);
    /* Parts others claimed may still run: wait for them (spin, then sleep). */
    const uint64_t until = now_ns() + SPIN_NANOSECONDS;
    unsigned rounds = 0;
    while (atomic_load_explicit(&pool.done, memory_order_acquire) != parts && now_ns() < until) {
        poll_pause(&rounds);
    }
    if (atomic_load_explicit(&pool.done, memory_order_acquire) != parts) {
        pthread_mutex_lock(&pool.lock);
        atomic_store(&pool.caller_sleeping, 1);
        while (atomic_load(&pool.done) != parts) {
            pthread_cond_wait(&pool.finished, &pool.lock);
        }
        atomic_store(&pool.caller_sleeping, 0);
        pthread_mutex_unlock(&pool.lock);
    }
    atomic_store_explicit(&pool.last_end, now_ns(), memory_order_relaxed);
    pthread_mutex_unlock(&pool.busy);
}
