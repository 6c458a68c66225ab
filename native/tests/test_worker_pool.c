/*
 * The host path's worker pool (worker_pool.c, compiled into the test): every part of a job runs
 * exactly once, whatever the part count, whether the job is long, and with two threads running
 * jobs at once (the second runs its own parts); and a short job after a gap longer than the
 * workers' spin, and the next one, leave them asleep and run on the caller, while a longer run
 * of close short jobs gets their help.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "test_util.h"
#include "worker_pool.h"

#define MAX_PARTS 64

typedef struct job {
    atomic_uint runs[MAX_PARTS];
    atomic_uint on_caller;   /* parts run on the thread that started the job */
    pthread_t caller;
    int work;                /* iterations per part */
} job;

static void count_part(void *arg, unsigned part, unsigned parts)
{
    job *j = arg;
    (void)parts;
    atomic_fetch_add(&j->runs[part], 1);
    if (pthread_equal(pthread_self(), j->caller)) {
        atomic_fetch_add(&j->on_caller, 1);
    }
    volatile double x = 1.0;  /* work, so that a worker can claim a part */
    for (int i = 0; i < j->work; ++i) x = x * 1.000001 + 1e-9;
}

/* Runs a job of `parts` parts of `work` iterations and returns how many ran on the caller; each
 * must run once. */
static unsigned run_job(unsigned parts, int long_job, int work, const char *what)
{
    job j;
    memset(&j, 0, sizeof j);
    j.caller = pthread_self();
    j.work = work;
    netcl_pool_run(count_part, &j, parts, long_job);
    for (unsigned p = 0; p < parts; ++p) {
        CHECK(atomic_load(&j.runs[p]) == 1, "%s: part %u of %u ran %u times", what, p, parts,
              atomic_load(&j.runs[p]));
    }
    return atomic_load(&j.on_caller);
}

static void *run_jobs(void *unused)
{
    (void)unused;
    for (unsigned parts = 1; parts <= MAX_PARTS; ++parts) {
        run_job(parts, parts % 2, 2000, "second thread");
    }
    return NULL;
}

int main(void)
{
    for (unsigned parts = 1; parts <= MAX_PARTS; ++parts) {
        run_job(parts, 0, 2000, "short, back to back");
        run_job(parts, 1, 2000, "long, back to back");
    }
    for (int round = 0; round < 3; ++round) {
        test_sleep_ms(5);
        run_job(2, 0, 2000, "short after a gap");
        run_job(8, 1, 2000, "long after a gap");
    }
    pthread_t other;
    CHECK(pthread_create(&other, NULL, run_jobs, NULL) == 0, "second thread started");
    run_jobs(NULL);
    pthread_join(other, NULL);

    /* After 20 ms without a job every worker sleeps: a job not marked long then runs on the
     * caller, however long it takes (here about 1 ms: a woken worker would take parts), and so
     * does the next one right after it. The scheduler may run a worker late (a busy machine), so
     * most, not all, rounds must show it. A longer run of close jobs wakes the workers. */
    if (netcl_pool_threads() > 1) {
        int alone = 0;
        for (int round = 0; round < 10; ++round) {
            test_sleep_ms(20);
            run_job(2, 0, 100, "short after a long gap");
            alone += run_job(4, 0, 200000, "short right after it") == 4;
        }
        CHECK(alone >= 8, "the second short job after a long gap ran on the caller alone in %d of 10 "
              "rounds", alone);
        int helped = 0;
        for (int job = 0; job < 12; ++job) {
            helped += run_job(4, 0, 200000, "short, in a run of close jobs") < 4;
        }
        CHECK(helped > 0, "in a run of 12 close short jobs, a worker took none of their parts");
    }
    return test_finish("test_worker_pool");
}
