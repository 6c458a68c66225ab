/*
 * Device listing and selection: by index, platform:device, name substring, NETCL_DEVICE and the
 * default; bad NETCL_WORK_GROUP_SIZE values; with `--expect-no-platform` (run with
 * OCL_ICD_VENDORS pointing at an empty folder) the clear error when no OpenCL platform is
 * installed.
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

static void check_selection(const char *selector, uint32_t expected_index)
{
    netcl_context *ctx = NULL;
    REQUIRE_OK(netcl_context_create(selector, &ctx));
    netcl_device_info info;
    REQUIRE_OK(netcl_context_get_info(ctx, &info));
    CHECK(info.global_index == expected_index, "selector '%s' chose device %u, expected %u",
          selector ? selector : "(null)", info.global_index, expected_index);
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
    /* The default: the first GPU, else the first accelerator, else the first CPU device. */
    uint32_t first_of_kind[3] = {UINT32_MAX, UINT32_MAX, UINT32_MAX};
    for (uint32_t i = 0; i < count; ++i) {
        netcl_device_info info;
        REQUIRE_OK(netcl_device_get_info(i, &info));
        const int kinds[3] = {info.is_gpu, info.is_accelerator, info.is_cpu};
        for (int k = 0; k < 3; ++k) {
            if (kinds[k] && first_of_kind[k] == UINT32_MAX) first_of_kind[k] = i;
        }
    }
    const uint32_t expected_default = first_of_kind[0] != UINT32_MAX ? first_of_kind[0]
                                    : first_of_kind[1] != UINT32_MAX ? first_of_kind[1]
                                    : first_of_kind[2] != UINT32_MAX ? first_of_kind[2] : 0;
    check_selection(NULL, expected_default);
    for (uint32_t i = 0; i < count; ++i) {
        netcl_device_info info;
        REQUIRE_OK(netcl_device_get_info(i, &info));
        printf("device %u (%u:%u): %s | %s | %s | %llu MiB, max alloc %llu MiB, unified %d\n", i,
               info.platform_index, info.device_index, info.name, info.vendor, info.version,
               (unsigned long long)(info.global_mem_bytes >> 20),
               (unsigned long long)(info.max_alloc_bytes >> 20), info.host_unified_memory);
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
    unsetenv("NETCL_DEVICE");
    return test_finish("test_device");
}
