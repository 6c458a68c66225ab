/*
 * Contexts on one device share one cl_context and one built program, each with its own queue;
 * an optimizer keeps its context alive; everything netcl created is released with its last user,
 * whatever the order of destruction, also with contexts created and destroyed on several threads
 * at once. The fault harness (fault/fault_inject.h) counts the OpenCL objects and calls.
 */
#define _POSIX_C_SOURCE 200809L  /* pthread barriers */
#include <math.h>
#include <pthread.h>

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "fault_inject.h"
#include "test_util.h"

static unsigned contexts_made(void)
{
    return netcl_fault_calls("clCreateContext");
}

static unsigned programs_built(void)
{
    return netcl_fault_calls("clBuildProgram");
}

static long live_queues(void)
{
    return netcl_fault_live_objects().queues;
}

static void check_all_released(const char *when)
{
    const netcl_fault_objects live = netcl_fault_live_objects();
    CHECK(live.contexts == 0 && live.programs == 0 && live.queues == 0 && live.kernels == 0 &&
              live.buffers == 0 && live.events == 0,
          "%s: %ld cl_context, %ld cl_program, %ld queue, %ld kernel, %ld cl_mem, %ld cl_event "
          "references left", when, live.contexts, live.programs, live.queues, live.kernels,
          live.buffers, live.events);
}

/* ---- a problem and its reference ---------------------------------------------------------- */

enum { N = 1000, STEPS = 6 };

typedef struct problem {
    float *data, *grad, *expected;
} problem;

/* PyTorch's plain RMSprop in float, in the operation order netcl's kernel keeps. */
static void reference_step(float *p, float *v, const float *g, const netcl_param_group *h)
{
    const float alpha = (float)h->alpha, one_minus_alpha = (float)(1.0 - h->alpha);
    const float eps = (float)h->eps, neg_lr = (float)(-h->lr);
    for (int i = 0; i < N; ++i) {
        v[i] = fmaf(one_minus_alpha * g[i], g[i], v[i] * alpha);
        p[i] = p[i] + (neg_lr * g[i]) / (sqrtf(v[i]) + eps);
    }
}

static problem make_problem(uint64_t seed)
{
    problem pr = {test_alloc_floats(N), test_alloc_floats(N), test_alloc_floats(N)};
    test_rng rng = {seed};
    test_rng_fill(&rng, pr.data, N);
    test_rng_fill(&rng, pr.grad, N);
    memcpy(pr.expected, pr.data, N * sizeof(float));
    float *v = test_alloc_floats(N);
    const netcl_param_group g = test_default_group(0, 1);
    for (int s = 0; s < STEPS; ++s) reference_step(pr.expected, v, pr.grad, &g);
    free(v);
    return pr;
}

static void free_problem(problem *pr)
{
    free(pr->data);
    free(pr->grad);
    free(pr->expected);
}

static netcl_status step(netcl_rmsprop *opt, problem *pr)
{
    const netcl_param_group g = test_default_group(0, 1);
    const netcl_tensor t = test_host_tensor(pr->data, pr->grad, N);
    return netcl_rmsprop_step(opt, &g, 1, &t, 1);
}

static int matches(const problem *pr)
{
    return memcmp(pr->data, pr->expected, N * sizeof(float)) == 0;
}

/* ---- checks ------------------------------------------------------------------------------- */

static void check_sharing(void)
{
    netcl_fault_arm(NULL, 0, 0);  /* counts calls from here */
    netcl_context *ctx[3];
    for (int i = 0; i < 3; ++i) ctx[i] = test_context();
    CHECK(contexts_made() == 1 && programs_built() == 1,
          "three contexts on one device: %u cl_contexts made, %u builds", contexts_made(),
          programs_built());
    CHECK(live_queues() == 3, "three contexts: %ld queues, expected one each", live_queues());
    netcl_device_info first, other;
    REQUIRE_OK(netcl_context_get_info(ctx[0], &first));
    REQUIRE_OK(netcl_context_get_info(ctx[2], &other));
    CHECK(memcmp(&first, &other, sizeof first) == 0, "contexts on one device differ in info");
    for (int i = 0; i < 3; ++i) netcl_context_destroy(ctx[i]);
    check_all_released("three contexts destroyed");

    /* The last context took the shared state with it: the next one builds again. */
    netcl_context *again = test_context();
    CHECK(contexts_made() == 2 && programs_built() == 2,
          "a context after all were destroyed: %u cl_contexts made, %u builds", contexts_made(),
          programs_built());
    netcl_fault_disarm();
    netcl_context_destroy(again);
    check_all_released("the context after them destroyed");
}

static void check_caller_context_keeps_its_own_program(void)
{
    netcl_context *shared = test_context();
    netcl_device_info info;
    REQUIRE_OK(netcl_context_get_info(shared, &info));
    cl_platform_id platforms[16];
    cl_device_id devices[64];
    REQUIRE_OK(clGetPlatformIDs(16, platforms, NULL));
    REQUIRE_OK(clGetDeviceIDs(platforms[info.platform_index], CL_DEVICE_TYPE_ALL, 64, devices, NULL));
    cl_device_id device = devices[info.device_index];
    cl_int err;
    cl_context cl_ctx = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    REQUIRE_OK(err);
    cl_command_queue queue = clCreateCommandQueue(cl_ctx, device, 0, &err);
    REQUIRE_OK(err);
    netcl_fault_arm(NULL, 0, 0);
    netcl_context *own = NULL;
    REQUIRE_OK(netcl_context_create_from_cl(cl_ctx, device, queue, &own));
    netcl_fault_disarm();
    CHECK(programs_built() == 1, "create_from_cl next to a shared context: %u builds",
          programs_built());
    problem pr = make_problem(11);
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(own, &opt));
    for (int s = 0; s < STEPS; ++s) REQUIRE_OK(step(opt, &pr));
    CHECK(matches(&pr), "an optimizer on the caller's context differs from the reference");
    netcl_context_destroy(own);
    netcl_rmsprop_destroy(opt);
    clReleaseCommandQueue(queue);
    clReleaseContext(cl_ctx);
    netcl_context_destroy(shared);
    free_problem(&pr);
    check_all_released("caller's and shared context destroyed");
}

/* A context destroyed before its optimizers: they keep stepping, and the last one frees it. */
static void check_context_destroyed_first(void)
{
    netcl_context *a = test_context(), *b = test_context();
    problem pa = make_problem(21), pa2 = make_problem(22), pb = make_problem(23);
    netcl_rmsprop *on_a = NULL, *also_on_a = NULL, *on_b = NULL;
    REQUIRE_OK(netcl_rmsprop_create(a, &on_a));
    REQUIRE_OK(netcl_rmsprop_create(a, &also_on_a));
    REQUIRE_OK(netcl_rmsprop_create(b, &on_b));
    REQUIRE_OK(step(on_a, &pa));
    REQUIRE_OK(step(also_on_a, &pa2));
    REQUIRE_OK(step(on_b, &pb));
    netcl_context_destroy(a);
    CHECK(live_queues() == 2, "a context with optimizers destroyed: %ld queues, expected 2",
          live_queues());
    for (int s = 1; s < STEPS / 2; ++s) {
        REQUIRE_OK(step(on_a, &pa));
        REQUIRE_OK(step(also_on_a, &pa2));
        REQUIRE_OK(step(on_b, &pb));
    }
    netcl_rmsprop_destroy(on_a);
    CHECK(live_queues() == 2, "one of two optimizers of a destroyed context gone: %ld queues",
          live_queues());
    netcl_context_destroy(b);
    for (int s = STEPS / 2; s < STEPS; ++s) {
        REQUIRE_OK(step(also_on_a, &pa2));
        REQUIRE_OK(step(on_b, &pb));
    }
    netcl_param_state st;
    REQUIRE_OK(netcl_rmsprop_get_state(also_on_a, 0, &st));
    CHECK(st.step == STEPS, "state of an optimizer whose context was destroyed: step %llu",
          (unsigned long long)st.step);
    netcl_rmsprop_destroy(also_on_a);
    CHECK(live_queues() == 1, "context freed with its last optimizer: %ld queues", live_queues());
    netcl_rmsprop_destroy(on_b);
    CHECK(matches(&pa2) && matches(&pb), "optimizers outliving their contexts differ from the "
                                         "reference");
    free_problem(&pa);
    free_problem(&pa2);
    free_problem(&pb);
    check_all_released("contexts destroyed before their optimizers");
}

/* Threads that create contexts at the same moment, then cycle create, step, destroy. */
enum { THREADS = 4, CYCLES = 12 };

typedef struct worker {
    pthread_t thread;
    int index;
    int mismatches;
    netcl_status failure;
} worker;

static pthread_barrier_t created, checked;

static netcl_status run_cycle(worker *w, int cycle, int wait_at_barriers)
{
    problem pr = make_problem((uint64_t)(100 * w->index + cycle + 1));
    netcl_context *ctx = NULL;
    netcl_rmsprop *opt = NULL;
    netcl_status status = netcl_context_create(NULL, &ctx);
    if (status == NETCL_SUCCESS) status = netcl_rmsprop_create(ctx, &opt);
    if (wait_at_barriers) {
        pthread_barrier_wait(&created);
        pthread_barrier_wait(&checked);
    }
    for (int s = 0; s < STEPS && status == NETCL_SUCCESS; ++s) status = step(opt, &pr);
    if (status == NETCL_SUCCESS && !matches(&pr)) w->mismatches++;
    /* Both orders of destruction. */
    if ((w->index + cycle) % 2 == 0) {
        netcl_context_destroy(ctx);
        netcl_rmsprop_destroy(opt);
    } else {
        netcl_rmsprop_destroy(opt);
        netcl_context_destroy(ctx);
    }
    free_problem(&pr);
    return status;
}

static void *work(void *arg)
{
    worker *w = arg;
    for (int cycle = 0; cycle < CYCLES && w->failure == NETCL_SUCCESS; ++cycle) {
        w->failure = run_cycle(w, cycle, cycle == 0);
    }
    return NULL;
}

static void check_threads(void)
{
    worker workers[THREADS];
    pthread_barrier_init(&created, NULL, THREADS + 1);
    pthread_barrier_init(&checked, NULL, THREADS + 1);
    netcl_fault_arm(NULL, 0, 0);
    for (int i = 0; i < THREADS; ++i) {
        workers[i] = (worker){.index = i};
        pthread_create(&workers[i].thread, NULL, work, &workers[i]);
    }
    pthread_barrier_wait(&created);
    CHECK(contexts_made() == 1 && programs_built() == 1,
          "%d contexts created at once: %u cl_contexts made, %u builds", THREADS, contexts_made(),
          programs_built());
    CHECK(live_queues() == THREADS, "%d contexts created at once: %ld queues", THREADS,
          live_queues());
    netcl_fault_disarm();
    pthread_barrier_wait(&checked);
    for (int i = 0; i < THREADS; ++i) {
        pthread_join(workers[i].thread, NULL);
        CHECK(workers[i].failure == NETCL_SUCCESS, "thread %d failed: %s", i,
              netcl_status_name(workers[i].failure));
        CHECK(workers[i].mismatches == 0, "thread %d: %d of %d cycles differ from the reference",
              i, workers[i].mismatches, CYCLES);
    }
    pthread_barrier_destroy(&created);
    pthread_barrier_destroy(&checked);
    check_all_released("threads done");
}

int main(void)
{
    check_sharing();
    check_caller_context_keeps_its_own_program();
    check_context_destroyed_first();
    check_threads();
    return test_finish("test_context");
}
