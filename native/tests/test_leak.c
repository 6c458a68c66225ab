/*
 * Leaks over many lifetimes: `test_leak [CYCLES]` creates a context and an optimizer, takes one
 * step and destroys both, CYCLES times. Host memory: LeakSanitizer checks it at exit in the
 * sanitized build (lsan.supp suppresses only PoCL's and LLVM's own allocations). OpenCL objects
 * (which stay reachable inside the driver, so LeakSanitizer cannot see them): the fault
 * harness's counts, linked here only to count, must not grow after the first cycle (a process-
 * wide cache may keep objects from then on, never more). Every cycle's step must also give the
 * first cycle's result bit for bit.
 */
#define _POSIX_C_SOURCE 200809L  /* unsetenv */

#include "fault_inject.h"
#include "test_util.h"

enum { N = 1000 };

static long total(netcl_fault_objects o)
{
    return o.contexts + o.queues + o.programs + o.kernels + o.buffers;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    const long cycles = argc > 1 ? strtol(argv[1], &end, 10) : 0;
    if (argc != 2 || *end != '\0' || cycles < 1) {
        fprintf(stderr, "usage: test_leak CYCLES (>= 1)\n");
        return 2;
    }
    unsetenv("NETCL_DEVICE");
    float *data = test_alloc_floats(N), *grad = test_alloc_floats(N), *first = test_alloc_floats(N);
    test_rng rng = {11};
    test_rng_fill(&rng, grad, N);
    const netcl_tensor tensor = test_host_tensor(data, grad, N);
    netcl_param_group group = test_default_group(0, 1);
    group.momentum = 0.9;
    group.centered = 1;
    netcl_fault_objects after_first = {0};
    for (long c = 0; c < cycles; ++c) {
        for (int i = 0; i < N; ++i) {
            data[i] = (float)i / N - 0.5f;
        }
        if (c == 0) {
            netcl_fault_arm(NULL, 0, 0);  /* counts the first cycle's calls */
        }
        netcl_context *ctx = test_context();
        netcl_rmsprop *opt = NULL;
        REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
        REQUIRE_OK(netcl_rmsprop_step(opt, &group, 1, &tensor, 1));
        netcl_rmsprop_destroy(opt);
        netcl_context_destroy(ctx);
        netcl_fault_disarm();
        if (c == 0) {
            /* Else the counts below would say nothing. */
            CHECK(netcl_fault_calls("clCreateBuffer") > 0 && netcl_fault_calls("clReleaseMemObject") > 0,
                  "the fault harness did not see netcl's OpenCL calls");
            memcpy(first, data, N * sizeof(float));
            after_first = netcl_fault_live_objects();
        } else if (memcmp(first, data, N * sizeof(float)) != 0) {
            CHECK(0, "cycle %ld: the step differs from the first cycle's", c);
            break;
        }
    }
    const netcl_fault_objects now = netcl_fault_live_objects();
    printf("%ld cycles; OpenCL objects alive after the first: %ld, at the end: %ld (contexts %ld, "
           "queues %ld, programs %ld, kernels %ld, buffers %ld)\n", cycles, total(after_first),
           total(now), now.contexts, now.queues, now.programs, now.kernels, now.buffers);
    CHECK(memcmp(&now, &after_first, sizeof now) == 0, "OpenCL objects leaked: %ld alive after "
          "the first cycle, %ld after %ld", total(after_first), total(now), cycles);
    free(data);
    free(grad);
    free(first);
    return test_finish("test_leak");
}
