/*
 * A netcl user's program, built by test_consumer.sh through find_package, pkg-config and
 * add_subdirectory: it checks the library's version, then makes one RMSProp step on the default
 * device and compares it with the update computed here in double precision.
 *
 *   consumer EXPECTED_VERSION      exit status 0 when both match
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <netcl.h>

#define COUNT 4

static int fail(const char *what, netcl_status status)
{
    fprintf(stderr, "consumer: %s failed: %s: %s\n", what, netcl_status_name(status),
            netcl_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: consumer EXPECTED_VERSION\n");
        return 2;
    }
    if (strcmp(netcl_version(), argv[1]) != 0) {
        fprintf(stderr, "consumer: netcl_version() is %s, expected %s\n", netcl_version(), argv[1]);
        return 1;
    }

    float param[COUNT] = {1.0f, -2.0f, 0.5f, 3.0f};
    const float grad[COUNT] = {0.5f, -1.0f, 2.0f, 0.0f};
    const netcl_param_group group = {.lr = 1e-2, .alpha = 0.99, .eps = 1e-8, .first = 0, .count = 1};
    const netcl_tensor tensor = {.data = param, .grad = grad, .numel = COUNT};
    double expected[COUNT];
    for (int i = 0; i < COUNT; ++i) {  /* the first step: square_avg starts at 0 */
        double square_avg = (1.0 - group.alpha) * grad[i] * grad[i];
        expected[i] = param[i] - group.lr * grad[i] / (sqrt(square_avg) + group.eps);
    }

    netcl_context *context = NULL;
    netcl_rmsprop *optimizer = NULL;
    int result = 1;
    netcl_status status = netcl_context_create(NULL, &context);
    if (status != NETCL_SUCCESS) {
        result = fail("netcl_context_create", status);
        goto cleanup;
    }
    status = netcl_rmsprop_create(context, &optimizer);
    if (status != NETCL_SUCCESS) {
        result = fail("netcl_rmsprop_create", status);
        goto cleanup;
    }
    status = netcl_rmsprop_step(optimizer, &group, 1, &tensor, 1);
    if (status != NETCL_SUCCESS) {
        result = fail("netcl_rmsprop_step", status);
        goto cleanup;
    }
    result = 0;
    for (int i = 0; i < COUNT; ++i) {
        if (fabs(param[i] - expected[i]) > 1e-6 * fabs(expected[i])) {
            fprintf(stderr, "consumer: param[%d] is %.9g after the step, expected %.9g\n", i,
                    param[i], expected[i]);
            result = 1;
        }
    }
    if (result == 0) printf("consumer: netcl %s, one RMSProp step as expected\n", netcl_version());

cleanup:
    netcl_rmsprop_destroy(optimizer);
    netcl_context_destroy(context);
    return result;
}
