/*
 * netcl-bench: step time of netcl's RMSProp against the device's copy bandwidth and a plain C
 * loop, measured in the same run on the same sizes. Prints a table; --json writes
 * the results for scripts/bench. --create measures instead what creating an optimizer costs.
 * It measures, never asserts.
 *
 *   netcl-bench [--quick] [--device SELECTOR] [--json FILE]
 *   netcl-bench --create [--device SELECTOR]
 *   netcl-bench --grad-stats [--quick] [--device SELECTOR]
 *   netcl-bench --moving-grads [--quick] [--device SELECTOR]
 *
 * --grad-stats measures the gradient statistics pass (netcl_rmsprop_grad_stats: GradScaler's
 * check and clipGradNorm's norm) per element type on host tensors, and on a device buffer.
 *
 * --moving-grads measures the kernel path with gradients that move every step (a fresh buffer
 * per backward pass) against gradients at a fixed address.
 *
 * The steps' gradients are those of every benchmark harness (java/bench's Gradients.java): two
 * sets allocated beforehand, float i holding GRAD_EVEN * (1 + i % 7) in one and GRAD_ODD times
 * the same in the other, and step k takes the first for even k, the second for odd k (one
 * constant gradient makes centered RMSProp NaN within ~1,200 steps; see Gradients.java). A
 * step passes the other set's addresses: nothing is written or allocated while it is timed.
 */
#define _POSIX_C_SOURCE 200809L
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench_kernels.h"
#include "c_loop.h"
#include "netcl.h"

#define MAX_RESULTS 256
/* The largest list: 1,000 tiny tensors (see run_cases). */
#define MAX_TENSORS 1024
#define GRAD_EVEN 1e-3f
#define GRAD_ODD (-GRAD_EVEN)

typedef struct stats {
    double median_ms, p10_ms, p90_ms;
    int steps;
} stats;

typedef struct result {
    char impl[16];
    char variant[24];
    char layout[16];
    uint64_t numel;
    uint32_t tensors;
    uint64_t bytes_per_step;
    stats time;
} result;

typedef struct bench {
    int quick;
    netcl_context *ctx;
    netcl_device_info info;
    cl_context cl_ctx;
    cl_command_queue queue;
    cl_kernel copy;
    size_t local_size;  /* of the copy kernel: the work-group size netcl uses on this device */
    result results[MAX_RESULTS];
    int result_count;
} bench;

typedef struct variant {
    const char *name;
    double momentum, weight_decay;
    int centered;
} variant;

static const variant PLAIN = {"plain", 0.0, 0.0, 0};
static const variant VARIANTS[] = {
    {"plain", 0.0, 0.0, 0},
    {"momentum", 0.9, 0.0, 0},
    {"centered_momentum", 0.9, 0.0, 1},
    {"weight_decay", 0.0, 1e-4, 0},
};

static void die(const char *what, netcl_status status)
{
    fprintf(stderr, "netcl-bench: %s failed: %s: %s\n", what, netcl_status_name(status),
            netcl_last_error());
    exit(1);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef void (*step_fn)(void *arg);

/* Runs `fn` after warm-up until the time budget (or step cap) is spent; per-step statistics. */
static stats measure(const bench *b, step_fn fn, void *arg)
{
    const double budget_ms = b->quick ? 150.0 : 600.0;
    const int max_steps = b->quick ? 300 : 2000;
    enum { WARMUP = 3, MIN_STEPS = 20 };
    for (int i = 0; i < WARMUP; ++i) fn(arg);
    double *times = malloc(max_steps * sizeof *times);
    int n = 0;
    const double start = now_ms();
    while (n < max_steps && (n < MIN_STEPS || now_ms() - start < budget_ms)) {
        const double t0 = now_ms();
        fn(arg);
        times[n++] = now_ms() - t0;
    }
    qsort(times, n, sizeof *times, compare_doubles);
    stats s = {times[n / 2], times[n / 10], times[(n * 9) / 10], n};
    free(times);
    return s;
}

/* Float i of p becomes value * (1 + i % 7): the values of every harness. */
static void fill_floats(float *p, uint64_t n, float value)
{
    for (uint64_t i = 0; i < n; ++i) p[i] = value * (float)(1 + i % 7);
}

static float *alloc_floats(uint64_t n, float value)
{
    const size_t bytes = (n * sizeof(float) + 127) / 128 * 128;
    float *p = aligned_alloc(128, bytes);
    if (p == NULL) {
        fprintf(stderr, "netcl-bench: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    fill_floats(p, n, value);
    return p;
}

static uint64_t bytes_per_element(const variant *v)
{
    return 20 + (v->momentum > 0 ? 8 : 0) + (v->centered ? 8 : 0);
}

static void record(bench *b, const char *impl, const variant *v, const char *layout,
                   uint64_t numel, uint32_t tensors, stats s)
{
    if (b->result_count == MAX_RESULTS) return;
    result *r = &b->results[b->result_count++];
    snprintf(r->impl, sizeof r->impl, "%s", impl);
    snprintf(r->variant, sizeof r->variant, "%s", v->name);
    snprintf(r->layout, sizeof r->layout, "%s", layout);
    r->numel = numel;
    r->tensors = tensors;
    r->bytes_per_step = numel * bytes_per_element(v);
    r->time = s;
    const double gbps = r->bytes_per_step / (s.median_ms * 1e6);
    printf("%-10s %-18s %-10s %10llu %4u %10.4f ms [%8.4f, %8.4f] %7.2f GB/s\n", impl, v->name,
           layout, (unsigned long long)numel, tensors, s.median_ms, s.p10_ms, s.p90_ms, gbps);
    fflush(stdout);
}

/* A benchmark whose parameters became NaN or infinite timed a diverged optimizer: say so, and
 * stop rather than report its times. */
static void check_finite(const char *impl, const variant *v, const float *param, uint64_t n)
{
    for (uint64_t i = 0; i < n; ++i) {
        if (!isfinite(param[i])) {
            fprintf(stderr, "netcl-bench: %s %s, %llu floats: parameter %llu is %g after the steps: "
                            "the times are those of a diverged optimizer\n",
                    impl, v->name, (unsigned long long)n, (unsigned long long)i, param[i]);
            exit(1);
        }
    }
}

/* ---- netcl -------------------------------------------------------------------------------- */

typedef struct netcl_run {
    netcl_rmsprop *opt;
    netcl_param_group group;
    /* tensors[k % 2]: step k's tensors, the same data with the gradients of GRAD_EVEN or GRAD_ODD. */
    netcl_tensor tensors[2][MAX_TENSORS];
    uint32_t count;
    uint64_t steps;
} netcl_run;

static void netcl_step(void *arg)
{
    netcl_run *run = arg;
    netcl_status status =
        netcl_rmsprop_step(run->opt, &run->group, 1, run->tensors[run->steps++ % 2], run->count);
    if (status != NETCL_SUCCESS) die("netcl_rmsprop_step", status);
}

/* Steps `count` tensors of the given sizes, laid out as slices of one buffer or apart, on a
 * path (enum netcl_path): "netcl" is the automatic choice, "netcl-kernel" and "netcl-host" the
 * forced ones. */
static void bench_netcl(bench *b, const variant *v, const uint64_t *sizes, uint32_t count,
                        int contiguous, int32_t path)
{
    netcl_run run = {0};
    run.count = count;
    run.group = (netcl_param_group){1e-3, 0.99, 1e-8, v->weight_decay, v->momentum, v->centered,
                                    0, 0, count};
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; ++i) total += sizes[i];
    static const float grad_values[2] = {GRAD_EVEN, GRAD_ODD};
    float *block = contiguous ? alloc_floats(total, 0.5f) : NULL;
    float *block_grads[2] = {NULL, NULL};
    for (int k = 0; k < 2 && contiguous; ++k) block_grads[k] = alloc_floats(total, grad_values[k]);
    uint64_t at = 0;
    for (uint32_t i = 0; i < count; ++i) {
        float *data = contiguous ? block + at : alloc_floats(sizes[i], 0.5f);
        for (int k = 0; k < 2; ++k) {
            netcl_tensor *t = &run.tensors[k][i];
            t->numel = sizes[i];
            t->data = data;
            t->grad = contiguous ? block_grads[k] + at : alloc_floats(sizes[i], grad_values[k]);
        }
        at += sizes[i];
    }
    netcl_status status = netcl_rmsprop_create(b->ctx, &run.opt);
    if (status != NETCL_SUCCESS) die("netcl_rmsprop_create", status);
    status = netcl_rmsprop_set_path(run.opt, path);
    if (status != NETCL_SUCCESS) die("netcl_rmsprop_set_path", status);
    const stats s = measure(b, netcl_step, &run);
    static const char *const names[] = {"netcl", "netcl-kernel", "netcl-host"};
    for (uint32_t i = 0; i < count; ++i) {
        check_finite(names[path], v, run.tensors[0][i].data, sizes[i]);
    }
    record(b, names[path], v, count == 1 ? "single" : contiguous ? "contiguous" : "separate", total,
           count, s);
    netcl_rmsprop_destroy(run.opt);
    for (uint32_t i = 0; i < count && !contiguous; ++i) {
        free(run.tensors[0][i].data);
        for (int k = 0; k < 2; ++k) free((void *)run.tensors[k][i].grad);
    }
    free(block);
    for (int k = 0; k < 2; ++k) free(block_grads[k]);
}

/* ---- references --------------------------------------------------------------------------- */

typedef struct copy_run {
    const bench *b;
    size_t items;
} copy_run;

static void copy_step(void *arg)
{
    copy_run *run = arg;
    const size_t local = run->b->local_size;
    const size_t global = run->items;
    cl_int err = clEnqueueNDRangeKernel(run->b->queue, run->b->copy, 1, NULL, &global, &local, 0,
                                        NULL, NULL);
    err |= clFinish(run->b->queue);
    if (err != CL_SUCCESS) die("the copy kernel", err);
}

/* The device copies bytes_per_step / 2 bytes: reading and writing move bytes_per_step in all. */
static void bench_copy(bench *b, const variant *v, uint64_t numel)
{
    const uint64_t half = numel * bytes_per_element(v) / 2;
    const size_t items = (size_t)((half / 4 + b->local_size - 1) / b->local_size * b->local_size);
    cl_int err;
    cl_mem src = clCreateBuffer(b->cl_ctx, CL_MEM_READ_WRITE, items * 4, NULL, &err);
    cl_mem dst = clCreateBuffer(b->cl_ctx, CL_MEM_READ_WRITE, items * 4, NULL, &err);
    if (err != CL_SUCCESS) die("allocating copy buffers", err);
    const float zero = 0.0f;
    clEnqueueFillBuffer(b->queue, src, &zero, sizeof zero, 0, items * 4, 0, NULL, NULL);
    clEnqueueFillBuffer(b->queue, dst, &zero, sizeof zero, 0, items * 4, 0, NULL, NULL);
    clSetKernelArg(b->copy, 0, sizeof src, &src);
    clSetKernelArg(b->copy, 1, sizeof dst, &dst);
    copy_run run = {b, items};
    record(b, "copy", v, "single", numel, 1, measure(b, copy_step, &run));
    clReleaseMemObject(src);
    clReleaseMemObject(dst);
}

typedef struct loop_run {
    netcl_param_group group;
    float *p, *g[2], *v, *m, *ga;  /* g[k % 2]: step k's gradient */
    uint64_t n, steps;
} loop_run;

static void loop_step(void *arg)
{
    loop_run *run = arg;
    c_loop_rmsprop(&run->group, run->p, run->g[run->steps++ % 2], run->v, run->m, run->ga, run->n);
}

static void bench_c_loop(bench *b, const variant *v, uint64_t numel)
{
    loop_run run = {{1e-3, 0.99, 1e-8, v->weight_decay, v->momentum, v->centered, 0, 0, 1},
                    alloc_floats(numel, 0.5f),
                    {alloc_floats(numel, GRAD_EVEN), alloc_floats(numel, GRAD_ODD)},
                    alloc_floats(numel, 0), alloc_floats(numel, 0), alloc_floats(numel, 0), numel, 0};
    const stats s = measure(b, loop_step, &run);
    check_finite("c-loop", v, run.p, numel);
    record(b, "c-loop", v, "single", numel, 1, s);
    free(run.p); free(run.g[0]); free(run.g[1]); free(run.v); free(run.m); free(run.ga);
}

/* ---- cases -------------------------------------------------------------------------------- */

static uint32_t read_resnet50(uint64_t *sizes)
{
    FILE *f = fopen(NETCL_RESNET50_SHAPES, "r");
    if (f == NULL) {
        fprintf(stderr, "netcl-bench: cannot open %s\n", NETCL_RESNET50_SHAPES);
        exit(1);
    }
    char line[512];
    uint32_t count = 0;
    while (fgets(line, sizeof line, f) != NULL && count < MAX_TENSORS) {
        char name[256];
        unsigned long long numel;
        if (line[0] != '#' && sscanf(line, "%255s %llu", name, &numel) == 2) sizes[count++] = numel;
    }
    fclose(f);
    return count;
}

/* Each path of netcl: the automatic choice, then each forced (the host path where it exists). */
static void bench_netcl_paths(bench *b, const variant *v, const uint64_t *sizes, uint32_t count,
                              int contiguous)
{
    bench_netcl(b, v, sizes, count, contiguous, NETCL_PATH_AUTO);
    bench_netcl(b, v, sizes, count, contiguous, NETCL_PATH_KERNEL);
    if (b->info.is_cpu && b->info.host_unified_memory) {
        bench_netcl(b, v, sizes, count, contiguous, NETCL_PATH_HOST);
    }
}

static void single_tensor_case(bench *b, const variant *v, uint64_t numel)
{
    bench_copy(b, v, numel);
    bench_c_loop(b, v, numel);
    bench_netcl_paths(b, v, &numel, 1, 1);
}

static void run_cases(bench *b)
{
    /* Sizes 2^10 .. 2^26 (quick: every 4th exponent, and always 2^24, the size of the targets). */
    const uint64_t big = 1ull << 24;
    const int last_exp = b->quick ? 24 : 26, stride = b->quick ? 4 : 2;
    for (int e = 10; e <= last_exp; e += stride) {
        single_tensor_case(b, &PLAIN, 1ull << e);
    }
    if (b->quick) {
        single_tensor_case(b, &PLAIN, big);
    }
    for (size_t i = 1; i < sizeof VARIANTS / sizeof VARIANTS[0]; ++i) {
        single_tensor_case(b, &VARIANTS[i], big);
    }
    uint64_t sixteen[16];
    for (int i = 0; i < 16; ++i) sixteen[i] = big / 16;
    bench_netcl_paths(b, &PLAIN, sixteen, 16, 1);
    bench_netcl_paths(b, &PLAIN, sixteen, 16, 0);

    /* A model's biases and norms: many tiny tensors, whose per-tensor bookkeeping shows against
     * one tensor of the same total (issue 8's goal: at most 1.2 times its time), as slices of
     * one allocation and allocated apart (each with a partial last vector, and on the kernel
     * path a launch each). */
    enum { TINY_COUNT = 1000, TINY_NUMEL = 100 };
    uint64_t tiny[TINY_COUNT];
    for (int i = 0; i < TINY_COUNT; ++i) tiny[i] = TINY_NUMEL;
    const uint64_t tiny_total = TINY_COUNT * TINY_NUMEL;
    bench_netcl_paths(b, &PLAIN, &tiny_total, 1, 1);
    bench_netcl_paths(b, &PLAIN, tiny, TINY_COUNT, 1);
    bench_netcl_paths(b, &PLAIN, tiny, TINY_COUNT, 0);

    uint64_t resnet[MAX_TENSORS];
    const uint32_t count = read_resnet50(resnet);
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; ++i) total += resnet[i];
    single_tensor_case(b, &PLAIN, total);
    bench_netcl_paths(b, &PLAIN, resnet, count, 1);
    bench_netcl_paths(b, &PLAIN, resnet, count, 0);
}

/* ---- creation ----------------------------------------------------------------------------- */

static double create_ms(const char *selector, netcl_context **ctx, netcl_rmsprop **opt)
{
    const double t0 = now_ms();
    netcl_status status = netcl_context_create(selector, ctx);
    if (status != NETCL_SUCCESS) die("netcl_context_create", status);
    status = netcl_rmsprop_create(*ctx, opt);
    if (status != NETCL_SUCCESS) die("netcl_rmsprop_create", status);
    return now_ms() - t0;
}

/* Context + optimizer: the first on the device builds the kernels (from PoCL's cache after its
 * first run), further ones while one lives share that build, and one after all were destroyed
 * builds again. */
static void bench_create(const char *selector)
{
    enum { FURTHER = 21 };
    netcl_context *ctx[FURTHER + 1];
    netcl_rmsprop *opt[FURTHER + 1];
    double t0 = now_ms();
    uint32_t devices = 0;
    netcl_status status = netcl_device_count(&devices);
    if (status != NETCL_SUCCESS) die("netcl_device_count", status);
    const double platform_ms = now_ms() - t0;
    const double first_ms = create_ms(selector, &ctx[0], &opt[0]);
    double further_ms[FURTHER];
    for (int i = 0; i < FURTHER; ++i) further_ms[i] = create_ms(selector, &ctx[i + 1], &opt[i + 1]);
    t0 = now_ms();
    for (int i = 0; i <= FURTHER; ++i) {
        netcl_rmsprop_destroy(opt[i]);
        netcl_context_destroy(ctx[i]);
    }
    const double destroy_ms = now_ms() - t0;
    const double again_ms = create_ms(selector, &ctx[0], &opt[0]);
    netcl_rmsprop_destroy(opt[0]);
    netcl_context_destroy(ctx[0]);
    qsort(further_ms, FURTHER, sizeof further_ms[0], compare_doubles);
    printf("netcl-bench %s: creating a context and an optimizer\n", netcl_version());
    printf("  %-44s %10.4f ms\n", "OpenCL platform start (netcl_device_count)", platform_ms);
    printf("  %-44s %10.4f ms\n", "first on the device", first_ms);
    printf("  %-44s %10.4f ms (median of %d, max %.4f ms)\n", "further, while one lives",
           further_ms[FURTHER / 2], FURTHER, further_ms[FURTHER - 1]);
    printf("  %-44s %10.4f ms (all %d)\n", "destroying", destroy_ms, FURTHER + 1);
    printf("  %-44s %10.4f ms\n", "first again, after all were destroyed", again_ms);
}

/* ---- gradient statistics ------------------------------------------------------------------ */

typedef struct grad_stats_run {
    netcl_rmsprop *opt;
    netcl_tensor tensor;
    netcl_grad_stats out;
} grad_stats_run;

static void grad_stats_pass(void *arg)
{
    grad_stats_run *run = arg;
    netcl_status status = netcl_rmsprop_grad_stats(run->opt, &run->tensor, 1, 0.5f, &run->out);
    if (status != NETCL_SUCCESS) die("netcl_rmsprop_grad_stats", status);
}

/* Gradients of a trained model's magnitude (1e-3 .. 7e-3, normal in every type), as `dtype`. */
static void *gradient_of(int32_t dtype, uint64_t n)
{
    float *values = alloc_floats(n, GRAD_EVEN);
    if (dtype == NETCL_FP32) return values;
    uint16_t *half = aligned_alloc(128, (n * 2 + 127) / 128 * 128);
    if (half == NULL) die("allocating a gradient", NETCL_OUT_OF_HOST_MEMORY);
    for (uint64_t i = 0; i < n; ++i) {
        uint32_t bits;
        memcpy(&bits, &values[i], sizeof bits);
        /* The upper half of the float, or an IEEE half with the float's exponent and its
         * mantissa cut short (these values are normal halves). */
        half[i] = dtype == NETCL_BF16
                      ? (uint16_t)(bits >> 16)
                      : (uint16_t)(((bits >> 16) & 0x8000u) | ((((bits >> 23) & 0xFFu) - 112u) << 10) |
                                   ((bits >> 13) & 0x3FFu));
    }
    free(values);
    return half;
}

/* One tensor's statistics pass per type on the host, and FP32 in a device buffer (the kernel);
 * each against the host FP32 pass of the same size, measured just before it. */
static void bench_grad_stats(bench *b)
{
    static const char *const names[] = {"fp32", "bf16", "fp16"};
    printf("%-12s %-5s %10s %13s [%8s, %8s] %12s %10s\n", "impl", "dtype", "numel", "median", "p10",
           "p90", "bandwidth", "/ fp32");
    for (int e = 16; e <= 24; e += 4) {
        const uint64_t n = 1ull << e;
        double fp32_ms = 0.0;
        for (int d = 0; d < 4; ++d) {
            const int device = d == 3;
            const int32_t dtype = device ? NETCL_FP32 : d;
            grad_stats_run run = {0};
            run.tensor.numel = n;
            run.tensor.dtype = dtype;
            void *data = gradient_of(dtype, n), *grad = gradient_of(dtype, n);
            struct _cl_mem *data_mem = NULL, *grad_mem = NULL;
            if (device) {
                netcl_status status = netcl_buffer_create(b->ctx, n, &data_mem);
                if (status == NETCL_SUCCESS) status = netcl_buffer_create(b->ctx, n, &grad_mem);
                if (status == NETCL_SUCCESS) status = netcl_buffer_write(b->ctx, grad_mem, 0, n, grad);
                if (status != NETCL_SUCCESS) die("preparing device buffers", status);
                run.tensor.data_mem = data_mem;
                run.tensor.grad_mem = grad_mem;
            } else {
                run.tensor.data = data;
                run.tensor.grad = grad;
            }
            netcl_status status = netcl_rmsprop_create(b->ctx, &run.opt);
            if (status != NETCL_SUCCESS) die("netcl_rmsprop_create", status);
            const stats s = measure(b, grad_stats_pass, &run);
            fp32_ms = d == 0 ? s.median_ms : fp32_ms;
            const double bytes = (double)n * (dtype == NETCL_FP32 ? 4 : 2);
            printf("%-12s %-5s %10llu %10.4f ms [%8.4f, %8.4f] %7.2f GB/s %9.2fx\n",
                   device ? "netcl-device" : "netcl-host", names[dtype], (unsigned long long)n,
                   s.median_ms, s.p10_ms, s.p90_ms, bytes / (s.median_ms * 1e6),
                   s.median_ms / fp32_ms);
            fflush(stdout);
            netcl_rmsprop_destroy(run.opt);
            netcl_buffer_release(data_mem);
            netcl_buffer_release(grad_mem);
            free(data);
            free(grad);
        }
    }
}

/* ---- moving gradients --------------------------------------------------------------------- */

/* At most this many gradient buffers used in turn: with three or more, every step's address
 * differs from the last two steps' (a brand-new address each step). */
enum { MOVING_RING = 4 };

typedef struct moving_mode {
    const char *name;
    int ring;         /* gradient buffers used in turn */
    int one_memory;   /* all of them views of the same memory */
} moving_mode;

/* A brand-new address over new memory also reads memory the cache no longer holds (at 2^22
 * floats the ring's 64 MiB against a fixed address's 16 MiB); over one memory mapped at
 * MOVING_RING addresses only the new address differs from the fixed one. */
static const moving_mode MOVING_MODES[] = {
    {"fixed", 1, 0},
    {"alternating", 2, 0},
    {"fresh", MOVING_RING, 0},
    {"fresh, one memory", MOVING_RING, 1},
};
enum { MOVING_MODE_COUNT = sizeof MOVING_MODES / sizeof MOVING_MODES[0] };

typedef struct moving_run {
    netcl_run run;
    float *grads[MOVING_RING];
    int next;
    const moving_mode *mode;
} moving_run;

static void moving_step(void *arg)
{
    moving_run *m = arg;
    m->run.tensors[m->run.steps % 2][0].grad = m->grads[m->next];  /* the set netcl_step takes */
    m->next = (m->next + 1) % m->mode->ring;
    netcl_step(&m->run);
}

/* `n` gradients of GRAD_EVEN (see fill_floats) mapped at MOVING_RING addresses of one memory. */
static void map_one_memory(uint64_t n, float **views)
{
    char name[64];
    snprintf(name, sizeof name, "/netcl-bench-%ld", (long)getpid());
    const int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    const size_t bytes = n * sizeof(float);
    if (fd < 0 || shm_unlink(name) != 0 || ftruncate(fd, (off_t)bytes) != 0) {
        fprintf(stderr, "netcl-bench: creating %zu bytes of shared memory failed\n", bytes);
        exit(1);
    }
    for (int r = 0; r < MOVING_RING; ++r) {
        views[r] = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (views[r] == MAP_FAILED) {
            fprintf(stderr, "netcl-bench: mapping %zu bytes of shared memory failed\n", bytes);
            exit(1);
        }
    }
    close(fd);
    fill_floats(views[0], n, GRAD_EVEN);
}

/*
 * One tensor on the kernel path with its gradients at a fixed address, alternating between two
 * and at a brand-new address every step, in rounds of every mode (the machine's noise then hits
 * every mode alike); per size the median over rounds of each round's ratio to the fixed
 * address, with the least and greatest.
 */
static void bench_moving_grads(bench *b)
{
    enum { MAX_ROUNDS = 9 };
    const int rounds = b->quick ? 3 : MAX_ROUNDS;
    printf("%-18s %10s %10s %27s\n", "gradients", "numel", "median", "/ fixed [least, greatest]");
    for (int e = 10; e <= 24; e += b->quick ? 7 : 2) {
        const uint64_t n = 1ull << e;
        moving_run runs[MOVING_MODE_COUNT];
        for (int m = 0; m < MOVING_MODE_COUNT; ++m) {
            moving_run *mr = &runs[m];
            *mr = (moving_run){.mode = &MOVING_MODES[m]};
            mr->run.count = 1;
            mr->run.group = (netcl_param_group){1e-3, 0.99, 1e-8, 0.0, 0.0, 0, 0, 0, 1};
            float *data = alloc_floats(n, 0.5f);
            for (int k = 0; k < 2; ++k) {
                mr->run.tensors[k][0].numel = n;
                mr->run.tensors[k][0].data = data;
            }
            if (mr->mode->one_memory) {
                map_one_memory(n, mr->grads);
            } else {
                for (int r = 0; r < mr->mode->ring; ++r) mr->grads[r] = alloc_floats(n, 1e-3f);
            }
            netcl_status status = netcl_rmsprop_create(b->ctx, &mr->run.opt);
            if (status == NETCL_SUCCESS) status = netcl_rmsprop_set_path(mr->run.opt, NETCL_PATH_KERNEL);
            if (status != NETCL_SUCCESS) die("creating an optimizer", status);
        }
        double ms[MOVING_MODE_COUNT][MAX_ROUNDS], ratio[MOVING_MODE_COUNT][MAX_ROUNDS];
        for (int r = 0; r < rounds; ++r) {
            /* Each round starts with another mode, so that none always runs first. */
            for (int k = 0; k < MOVING_MODE_COUNT; ++k) {
                const int m = (r + k) % MOVING_MODE_COUNT;
                ms[m][r] = measure(b, moving_step, &runs[m]).median_ms;
            }
            for (int m = 0; m < MOVING_MODE_COUNT; ++m) ratio[m][r] = ms[m][r] / ms[0][r];
        }
        for (int m = 0; m < MOVING_MODE_COUNT; ++m) {
            qsort(ms[m], rounds, sizeof ms[m][0], compare_doubles);
            qsort(ratio[m], rounds, sizeof ratio[m][0], compare_doubles);
            printf("%-18s %10llu %10.4f ms %8.3fx [%6.3f, %6.3f]\n", MOVING_MODES[m].name,
                   (unsigned long long)n, ms[m][rounds / 2], ratio[m][rounds / 2], ratio[m][0],
                   ratio[m][rounds - 1]);
            netcl_rmsprop_destroy(runs[m].run.opt);
            free(runs[m].run.tensors[0][0].data);
            for (int r = 0; r < runs[m].mode->ring; ++r) {
                if (runs[m].mode->one_memory) {
                    munmap(runs[m].grads[r], n * sizeof(float));
                } else {
                    free(runs[m].grads[r]);
                }
            }
        }
        fflush(stdout);
    }
}

/* ---- output ------------------------------------------------------------------------------- */

static void write_json(const bench *b, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "netcl-bench: cannot write %s\n", path);
        exit(1);
    }
    fprintf(f, "{\n  \"tool\": \"netcl-bench\",\n  \"netcl_version\": \"%s\",\n", netcl_version());
    fprintf(f, "  \"device\": {\"name\": \"%s\", \"vendor\": \"%s\", \"version\": \"%s\", "
               "\"host_unified_memory\": %d},\n  \"threads\": %d,\n  \"results\": [\n",
            b->info.name, b->info.vendor, b->info.version, b->info.host_unified_memory,
            c_loop_threads());
    for (int i = 0; i < b->result_count; ++i) {
        const result *r = &b->results[i];
        fprintf(f, "    {\"impl\": \"%s\", \"variant\": \"%s\", \"layout\": \"%s\", \"numel\": %llu, "
                   "\"tensors\": %u, \"ms_per_step\": %.6f, \"p10_ms\": %.6f, \"p90_ms\": %.6f, "
                   "\"steps\": %d, \"bytes_per_step\": %llu, \"gb_per_s\": %.3f}%s\n",
                r->impl, r->variant, r->layout, (unsigned long long)r->numel, r->tensors,
                r->time.median_ms, r->time.p10_ms, r->time.p90_ms, r->time.steps,
                (unsigned long long)r->bytes_per_step,
                r->bytes_per_step / (r->time.median_ms * 1e6), i + 1 < b->result_count ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    fclose(f);
}

static void setup_copy_kernel(bench *b)
{
    /* netcl's context is reused through a second context on the same device. */
    cl_platform_id platform;
    cl_device_id devices[64];
    cl_uint platforms = 0;
    cl_platform_id all[16];
    clGetPlatformIDs(16, all, &platforms);
    platform = all[b->info.platform_index];
    clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 64, devices, NULL);
    cl_device_id device = devices[b->info.device_index];
    cl_int err;
    b->cl_ctx = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    b->queue = clCreateCommandQueue(b->cl_ctx, device, 0, &err);
    const char *src = netcl_kernel_source_copy;
    const size_t len = netcl_kernel_source_copy_length;
    cl_program program = clCreateProgramWithSource(b->cl_ctx, 1, &src, &len, &err);
    err |= clBuildProgram(program, 1, &device, "", NULL, NULL);
    b->copy = clCreateKernel(program, "copy_floats", &err);
    size_t max_group = 256;
    clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_group, &max_group, NULL);
    const size_t wanted = b->info.is_cpu ? 4096 : 256;
    b->local_size = max_group < wanted ? max_group : wanted;
    clReleaseProgram(program);
    if (err != CL_SUCCESS) die("building the copy kernel", err);
}

int main(int argc, char **argv)
{
    static bench b;
    const char *json = NULL, *selector = NULL;
    int create = 0, grad_stats = 0, moving_grads = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--quick") == 0) {
            b.quick = 1;
        } else if (strcmp(argv[i], "--create") == 0) {
            create = 1;
        } else if (strcmp(argv[i], "--grad-stats") == 0) {
            grad_stats = 1;
        } else if (strcmp(argv[i], "--moving-grads") == 0) {
            moving_grads = 1;
        } else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
            json = argv[++i];
        } else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
            selector = argv[++i];
        } else {
            fprintf(stderr, "usage: netcl-bench [--quick] [--device SELECTOR] [--json FILE]\n"
                            "       netcl-bench --create [--device SELECTOR]\n"
                            "       netcl-bench --grad-stats [--quick] [--device SELECTOR]\n"
                            "       netcl-bench --moving-grads [--quick] [--device SELECTOR]\n");
            return 2;
        }
    }
    if (create) {
        bench_create(selector);
        return 0;
    }
    netcl_status status = netcl_context_create(selector, &b.ctx);
    if (status != NETCL_SUCCESS) die("netcl_context_create", status);
    netcl_context_get_info(b.ctx, &b.info);
    if (grad_stats) {
        printf("netcl-bench %s on %s: gradient statistics\n", netcl_version(), b.info.name);
        bench_grad_stats(&b);
        netcl_context_destroy(b.ctx);
        return 0;
    }
    if (moving_grads) {
        printf("netcl-bench %s on %s: kernel path, gradients that move every step\n",
               netcl_version(), b.info.name);
        bench_moving_grads(&b);
        netcl_context_destroy(b.ctx);
        return 0;
    }
    setup_copy_kernel(&b);
    printf("netcl-bench %s on %s (%s), %d host threads for c-loop\n", netcl_version(), b.info.name,
           b.info.version, c_loop_threads());
    printf("%-10s %-18s %-10s %10s %4s %13s [%8s, %8s] %12s\n", "impl", "variant", "layout",
           "numel", "tens", "median", "p10", "p90", "bandwidth");
    run_cases(&b);
    if (json != NULL) write_json(&b, json);
    clReleaseKernel(b.copy);
    clReleaseCommandQueue(b.queue);
    clReleaseContext(b.cl_ctx);
    netcl_context_destroy(b.ctx);
    return 0;
}
