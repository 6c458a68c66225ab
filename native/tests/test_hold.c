/*
 * netcl_hold: calls its callback once, returns its status, ignores the pointers; NULL is refused.
 * netcl_rmsprop_step_holding: the same bits as netcl_rmsprop_step and _step_with, the same
 * refusals, the pointers ignored.
 */
#include "test_util.h"

#define NUMEL 37

static int calls;

static netcl_status succeed(void)
{
    calls++;
    return NETCL_SUCCESS;
}

static netcl_status fail_out_of_memory(void)
{
    calls++;
    return NETCL_OUT_OF_HOST_MEMORY;
}

/* One step of a fresh optimizer over copies of the same values: by netcl_rmsprop_step_with
 * (netcl_rmsprop_step for NULL options) into `direct`, by netcl_rmsprop_step_holding, with a
 * held pointer, into `held`. */
static void step_both_ways(netcl_context *ctx, const netcl_step_options *options, float *direct,
                           float *held)
{
    test_rng rng = {7};
    float grad[NUMEL];
    test_rng_fill(&rng, direct, NUMEL);
    test_rng_fill(&rng, grad, NUMEL);
    memcpy(held, direct, sizeof grad);
    netcl_param_group group = test_default_group(0, 1);
    group.momentum = 0.9;
    for (int way = 0; way < 2; ++way) {
        netcl_rmsprop *opt = NULL;
        REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
        netcl_tensor t = test_host_tensor(way == 0 ? direct : held, grad, NUMEL);
        for (int step = 0; step < 3; ++step) {
            if (way == 0) {
                REQUIRE_OK(options == NULL ? netcl_rmsprop_step(opt, &group, 1, &t, 1)
                                           : netcl_rmsprop_step_with(opt, &group, 1, &t, 1, options));
            } else {
                REQUIRE_OK(netcl_rmsprop_step_holding(opt, &group, 1, &t, 1, options,
                                                      (void *)grad, (void *)NULL));
            }
        }
        netcl_rmsprop_destroy(opt);
    }
}

static void check_step_holding(void)
{
    netcl_context *ctx = test_context();
    float direct[NUMEL], held[NUMEL];
    step_both_ways(ctx, NULL, direct, held);
    CHECK(memcmp(direct, held, sizeof held) == 0, "without options: netcl_rmsprop_step's bits");
    const netcl_step_options scaled = {sizeof scaled, 0.5f, 0.25f};
    step_both_ways(ctx, &scaled, direct, held);
    CHECK(memcmp(direct, held, sizeof held) == 0, "with options: netcl_rmsprop_step_with's bits");

    const netcl_step_options bad = {sizeof bad, 1.0f, 2.0f};
    netcl_rmsprop *opt = NULL;
    REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
    float before[NUMEL];
    memcpy(before, held, sizeof held);
    netcl_tensor t = test_host_tensor(held, direct, NUMEL);
    netcl_param_group group = test_default_group(0, 1);
    CHECK(netcl_rmsprop_step_holding(opt, &group, 1, &t, 1, &bad, (void *)held) ==
              NETCL_INVALID_ARGUMENT, "clip_coef 2 refused");
    CHECK(strstr(netcl_last_error(), "clip_coef") != NULL, "message '%s'", netcl_last_error());
    CHECK(netcl_rmsprop_step_holding(NULL, &group, 1, &t, 1, NULL) == NETCL_INVALID_ARGUMENT,
          "NULL optimizer refused");
    uint32_t params = 1;
    REQUIRE_OK(netcl_rmsprop_get_param_count(opt, &params));
    CHECK(params == 0 && memcmp(before, held, sizeof held) == 0, "a refused step changes nothing");
    netcl_rmsprop_destroy(opt);
    netcl_context_destroy(ctx);
}

int main(void)
{
    float memory[4] = {1, 2, 3, 4};
    CHECK(netcl_hold(succeed) == NETCL_SUCCESS, "no pointers");
    CHECK(calls == 1, "called %d times", calls);
    CHECK(netcl_hold(succeed, (void *)memory, (void *)NULL, (void *)&calls) == NETCL_SUCCESS,
          "three pointers");
    CHECK(calls == 2, "called %d times", calls);
    CHECK(netcl_hold(fail_out_of_memory, (void *)memory) == NETCL_OUT_OF_HOST_MEMORY,
          "the callback's status is returned");
    CHECK(calls == 3, "called %d times", calls);
    CHECK(memory[0] == 1 && memory[3] == 4, "the pointers are not touched");

    CHECK(netcl_hold(NULL, (void *)memory) == NETCL_INVALID_ARGUMENT, "NULL callback");
    CHECK(strstr(netcl_last_error(), "then is NULL") != NULL, "message '%s'", netcl_last_error());
    CHECK(calls == 3 && memory[0] == 1, "a refused call changes nothing");
    CHECK(netcl_hold(succeed) == NETCL_SUCCESS && netcl_last_error()[0] == '\0',
          "a successful call clears the last error");
    check_step_holding();
    return test_finish("test_hold");
}
