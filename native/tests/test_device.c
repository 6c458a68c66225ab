/*
 * Device listing and selection: by index, platform:device, name substring, NETCL_DEVICE and the
 * defaults for host and device-resident tensors; bad NETCL_WORK_GROUP_SIZE values; with
 * `--expect-no-platform` (run with OCL_ICD_VENDORS pointing at an empty folder) the clear error
 * when no OpenCL platform is installed.
 */
#define _POSIX_C_SOURCE 200809L  /* setenv */
#include <ctype.h>

#include "test_util.h"

static void check_no_platform(void)
{
    uint32_t count = 0;
    CHECK(netcl_device_count(&count) == NETCL_NO_PLATFORM, "status without a platform");
    CHECK(strstr(netcl_last_error(), "no OpenCL platform found: install an ICD such as "
                                     "pocl-opencl-icd") != NULL, "message: %s", netcl_last_error());
    netcl_context *ctx = NULL;
    CHECK(netcl_context_create(NULL, &ctx) == NETCL_NO_PLATFORM && ctx == NULL, "create without a platform");
}

static void check_selection_for(int32_t use, const char *selector, uint32_t expected_index)
{
    netcl_context *ctx = NULL;
    REQUIRE_OK(netcl_context_create_for(use, selector, &ctx));
    netcl_device_info info;
    REQUIRE_OK(netcl_context_get_info(ctx, &info));
    CHECK(info.global_index == expected_index, "use %d, selector '%s' chose device %u, expected %u",
          use, selector ? selector : "(null)", info.global_index, expected_index);
    netcl_context_destroy(ctx);
}

/* NETCL_WORK_GROUP_SIZE takes a power of two up to the device's largest work-group. It is read
 * where a device's kernels are built: no context lives here, so each create builds them. */
static void check_work_group_override(void)
{
    const char *bad[] = {"0", "3", "257", "1048576", "-256", "+256", " 256", "256x", "x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        setenv("NETCL_WORK_GROUP_SIZE", bad[i], 1);
        netcl_context *ctx = (netcl_context *)&ctx;
        const netcl_status status = netcl_context_create(NULL, &ctx);
        char message[80];
        snprintf(message, sizeof message, "NETCL_WORK_GROUP_SIZE=%s is not a power of two", bad[i]);
        CHECK(status == NETCL_INVALID_ARGUMENT && ctx == NULL &&
                  strstr(netcl_last_error(), message) != NULL,
              "NETCL_WORK_GROUP_SIZE='%s': %s, message '%s'", bad[i], netcl_status_name(status),
              netcl_last_error());
        if (status == NETCL_SUCCESS) {
            netcl_context_destroy(ctx);
        }
    }
    setenv("NETCL_WORK_GROUP_SIZE", "256", 1);
    netcl_context *ctx = NULL;
    REQUIRE_OK(netcl_context_create(NULL, &ctx));
    netcl_context_destroy(ctx);
    unsetenv("NETCL_WORK_GROUP_SIZE");
}

static void check_selection(const char *selector, uint32_t expected_index)
{
    check_selection_for(NETCL_FOR_HOST_TENSORS, selector, expected_index);
}

/* The first exact device that passes the first test of `order` any exact device passes. */
typedef int (*device_test)(const netcl_device_info *);
static int cpu_sharing_memory(const netcl_device_info *d) { return d->is_cpu && d->host_unified_memory; }
static int sharing_memory(const netcl_device_info *d) { return d->host_unified_memory; }
static int discrete_gpu(const netcl_device_info *d) { return d->is_gpu && !d->host_unified_memory; }
static int gpu(const netcl_device_info *d) { return d->is_gpu; }
static int accelerator(const netcl_device_info *d) { return d->is_accelerator; }
static int cpu(const netcl_device_info *d) { return d->is_cpu; }
static int any(const netcl_device_info *d) { (void)d; return 1; }

static uint32_t expected_default(uint32_t count, const device_test *order)
{
    for (; *order != NULL; ++order) {
        for (uint32_t i = 0; i < count; ++i) {
            netcl_device_info info;
            REQUIRE_OK(netcl_device_get_info(i, &info));
            if (info.correctly_rounded_divide_sqrt && (*order)(&info)) {
                return i;
            }
        }
    }
    return UINT32_MAX;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--expect-no-platform") == 0) {
        check_no_platform();
        return test_finish("test_device (no platform)");
    }
    unsetenv("NETCL_DEVICE");
    uint32_t count = 0;
    REQUIRE_OK(netcl_device_count(&count));
    CHECK(count >= 1, "no devices");
    /* The defaults: for host tensors a CPU device sharing host memory first (zero-copy), for
     * device-resident tensors a discrete GPU first; never a device netcl cannot run exactly. */
    const device_test host_order[] = {cpu_sharing_memory, sharing_memory, gpu, accelerator, cpu,
                                      any, NULL};
    const device_test device_order[] = {discrete_gpu, gpu, accelerator, cpu, any, NULL};
    check_selection(NULL, expected_default(count, host_order));
    check_selection_for(NETCL_FOR_HOST_TENSORS, "", expected_default(count, host_order));
    check_selection_for(NETCL_FOR_DEVICE_TENSORS, NULL, expected_default(count, device_order));
    netcl_context *bad = NULL;
    CHECK(netcl_context_create_for(2, NULL, &bad) == NETCL_INVALID_ARGUMENT && bad == NULL,
          "an unknown device use is refused");
    CHECK(strstr(netcl_last_error(), "unknown device use 2") != NULL, "message: %s", netcl_last_error());
    for (uint32_t i = 0; i < count; ++i) {
        netcl_device_info info;
        REQUIRE_OK(netcl_device_get_info(i, &info));
        printf("device %u (%u:%u): %s | %s | %s | %llu MiB, max alloc %llu MiB, unified %d, "
               "exact divide/sqrt %d\n", i, info.platform_index, info.device_index, info.name,
               info.vendor, info.version, (unsigned long long)(info.global_mem_bytes >> 20),
               (unsigned long long)(info.max_alloc_bytes >> 20), info.host_unified_memory,
               info.correctly_rounded_divide_sqrt);
        CHECK(info.name[0] != '\0' && info.global_mem_bytes > 0 && info.max_alloc_bytes > 0 &&
                  info.is_gpu + info.is_cpu + info.is_accelerator >= 1,
              "device %u info incomplete", i);
        char selector[32];
        snprintf(selector, sizeof selector, "%u", i);
        check_selection(selector, i);
        snprintf(selector, sizeof selector, "%u:%u", info.platform_index, info.device_index);
        check_selection(selector, i);
        /* A name substring, upper-cased: matching ignores case. */
        char name[8] = {0};
        for (int c = 0; c < 7 && info.name[c]; ++c) name[c] = (char)toupper((unsigned char)info.name[c]);
        netcl_context *ctx = NULL;
        REQUIRE_OK(netcl_context_create(name, &ctx));
        netcl_device_info chosen;
        REQUIRE_OK(netcl_context_get_info(ctx, &chosen));
        CHECK(strncmp(chosen.name, info.name, strlen(name)) == 0, "name selector '%s' chose %s",
              name, chosen.name);
        netcl_context_destroy(ctx);
    }
    check_work_group_override();
    /* NETCL_DEVICE applies when the selector is empty. */
    setenv("NETCL_DEVICE", "no-such-device-xyz", 1);
    netcl_context *ctx = NULL;
    CHECK(netcl_context_create("", &ctx) == NETCL_NO_DEVICE, "NETCL_DEVICE ignored");
    CHECK(strstr(netcl_last_error(), "no-such-device-xyz") != NULL, "message: %s", netcl_last_error());
    setenv("NETCL_DEVICE", "0", 1);
    check_selection(NULL, 0);
    check_selection_for(NETCL_FOR_DEVICE_TENSORS, NULL, 0);
    unsetenv("NETCL_DEVICE");
    return test_finish("test_device");
}
