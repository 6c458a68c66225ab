/*
 * The host program's signal handlers survive netcl: PoCL installs a SIGFPE handler when its
 * device starts and LLVM a dozen handlers when it first compiles, which in a JVM turned later
 * faults (implicit null checks, safepoint polls) into deaths without a crash report
 * (signal_guard.c). Here the test's own handlers are installed first; PoCL starts, builds and
 * compiles every kernel variant on a fresh kernel cache, and every handler must still be the
 * test's afterwards.
 */
#define _POSIX_C_SOURCE 200809L  /* sigaction, mkdtemp, setenv: the tests build as strict C11 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "test_util.h"

#define NUMEL 5000

static const int signals_to_check[] = {SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT,
                                       SIGBUS, SIGFPE, SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE,
                                       SIGTERM, SIGXCPU, SIGXFSZ, SIGSYS};
#define SIGNAL_COUNT (sizeof signals_to_check / sizeof signals_to_check[0])

static void host_handler(int signal, siginfo_t *info, void *context)
{
    (void)signal;
    (void)info;
    (void)context;
}

static void install_host_handlers(void)
{
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_sigaction = host_handler;
    act.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&act.sa_mask);
    for (size_t i = 0; i < SIGNAL_COUNT; ++i) {
        sigaction(signals_to_check[i], &act, NULL);
    }
}

static void check_host_handlers(const char *after)
{
    for (size_t i = 0; i < SIGNAL_COUNT; ++i) {
        struct sigaction now;
        sigaction(signals_to_check[i], NULL, &now);
        CHECK((now.sa_flags & SA_SIGINFO) && now.sa_sigaction == host_handler,
              "after %s: the handler of signal %d is no longer the program's", after,
              signals_to_check[i]);
    }
}

int main(void)
{
    /* A kernel cache of its own, empty, so that PoCL compiles every kernel here. */
    char cache[] = "/tmp/netcl-test-signals-XXXXXX";
    if (mkdtemp(cache) == NULL || setenv("POCL_CACHE_DIR", cache, 1) != 0) {
        fprintf(stderr, "cannot make a kernel cache folder\n");
        return 1;
    }
    install_host_handlers();
    uint32_t devices = 0;
    REQUIRE_OK(netcl_device_count(&devices));
    check_host_handlers("listing the devices");

    netcl_context *ctx = test_context();
    check_host_handlers("building the kernels");

    float *data = test_alloc_floats(NUMEL);
    float *grad = test_alloc_floats(NUMEL);
    test_rng rng = {3};
    test_rng_fill(&rng, grad, NUMEL);
    for (unsigned variant = 0; variant < 16; ++variant) {
        netcl_rmsprop *opt = NULL;
        REQUIRE_OK(netcl_rmsprop_create(ctx, &opt));
        REQUIRE_OK(netcl_rmsprop_set_path(opt, NETCL_PATH_KERNEL));
        netcl_param_group group = test_default_group(0, 1);
        group.weight_decay = (variant & 1) ? 0.01 : 0.0;
        group.maximize = (variant & 2) != 0;
        group.momentum = (variant & 4) ? 0.9 : 0.0;
        group.centered = (variant & 8) != 0;
        netcl_tensor t = test_host_tensor(data, grad, NUMEL);
        REQUIRE_OK(netcl_rmsprop_step(opt, &group, 1, &t, 1));
        REQUIRE_OK(netcl_rmsprop_step(opt, &group, 1, &t, 1));
        netcl_rmsprop_destroy(opt);
    }
    check_host_handlers("kernel steps of all 16 variants");

    free(data);
    free(grad);
    netcl_context_destroy(ctx);
    char remove_cache[sizeof cache + 16];
    snprintf(remove_cache, sizeof remove_cache, "rm -rf %s", cache);
    if (system(remove_cache) != 0) {
        fprintf(stderr, "could not remove %s\n", cache);
    }
    return test_finish("test_signals");
}
