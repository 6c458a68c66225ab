/*
 * Leaks over many lifetimes: `test_leak CYCLES` creates a context and an optimizer, takes one
 * step (the kernel path and the host path in turn) and destroys both, CYCLES times: the first
 * cycle alone on the device (it builds the kernels and frees them again), the others next to a
 * context that lives throughout, so that they share its kernels as an application's contexts do.
 * Host memory: LeakSanitizer checks it at exit in the sanitized build (lsan.supp suppresses only
 * PoCL's and LLVM's own allocations). OpenCL objects, which stay reachable inside the driver
 * where LeakSanitizer cannot tell them from live ones: the fault harness, linked here only to
 * count, must find as many after each cycle as before it, and none at the end. Every cycle's
 * step must give the first cycle's result bit for bit.
 */
#define _POSIX_C_SOURCE 200809L  /* unsetenv */

#include "fault_inject.h"
#include "test_util.h"

enum { N = 1000 };

static long total(netcl_fault_objects o)
{
    return o.contexts + o.queues + o.programs + o.kernels + o.buffers + o.events;
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
    netcl_context *anchor = NULL;
    netcl_fault_objects before = netcl_fault_live_objects();
    netcl_fault_arm(NULL, 0, 0); /* counts the calls, to show the harness sees them */
    for (long c = 0; c < cycles; ++c) {
        for (int i = 0; i < N; ++i) {
            data[i] = (float)i / N - 0.5f;
        }
        netcl_context *ctx = test_context();
        netcl_rmsprop *opt = NULL;
        REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
        REQUIRE_OK(netcl_rmsprop_set_path(opt, c % 2 ? NETCL_PATH_HOST : NETCL_PATH_KERNEL));
        REQUIRE_OK(netcl_rmsprop_step(opt, &group, 1, &tensor, 1));
        netcl_rmsprop_destroy(opt);
        netcl_context_destroy(ctx);
        const netcl_fault_objects after = netcl_fault_live_objects();
        if (c == 0) {
            CHECK(data[0] != -0.5f, "the first step left its parameter as it was");
            memcpy(first, data, N * sizeof(float));
        }
        if (memcmp(first, data, N * sizeof(float)) != 0 ||
            memcmp(&before, &after, sizeof after) != 0) {
            CHECK(0, "cycle %ld: the step differs from the first cycle's, or OpenCL objects "
                  "leaked (%ld alive, %ld before the cycle)", c, total(after), total(before));
            break;
        }
        if (c == 0) {
            anchor = test_context();
            before = netcl_fault_live_objects();
        }
    }
    netcl_fault_disarm();
    CHECK(netcl_fault_calls("clEnqueueNDRangeKernel") > 0 && netcl_fault_calls("clReleaseMemObject") > 0,
          "the fault harness did not see netcl's OpenCL calls");
    netcl_context_destroy(anchor);
    const netcl_fault_objects left = netcl_fault_live_objects();
    printf("%ld cycles; OpenCL objects alive at the end: %ld (contexts %ld, queues %ld, programs "
           "%ld, kernels %ld, buffers %ld)\n", cycles, total(left), left.contexts, left.queues,
           left.programs, left.kernels, left.buffers);
    CHECK(total(left) == 0, "OpenCL objects leaked: %ld alive at the end", total(left));
    free(data);
    free(grad);
    free(first);
    return test_finish("test_leak");
}
