/*
 * The default device with PoCL behind a simulated device list: this test defines
 * clGetDeviceIDs and clGetDeviceInfo (the executable's symbols come first for libnetcl) and
 * forwards them to the real ones, adding a simulated discrete GPU in front of PoCL's devices or
 * hiding PoCL's correctly rounded divide and sqrt.
 *  - A simulated GPU without correctly rounded divide and sqrt, first in the list: both defaults
 *    skip it and run on PoCL (the old default took the first GPU and failed on it).
 *  - PoCL without it: the defaults fail with NETCL_NO_DEVICE naming it; a selector that picks it
 *    fails with NETCL_UNSUPPORTED.
 * netcl never creates a context on the simulated device: choosing it would be a bug.
 */

#define _POSIX_C_SOURCE 200809L  /* setenv, unsetenv */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "test_util.h"

static int simulate_gpu;       /* a simulated GPU comes first on the first platform */
static int hide_exact_math;    /* the real devices lack correctly rounded divide and sqrt */
static struct { int unused; } simulated_gpu_object;
#define SIMULATED_GPU ((cl_device_id)(void *)&simulated_gpu_object)

CL_API_ENTRY cl_int CL_API_CALL clGetDeviceIDs(cl_platform_id platform, cl_device_type type,
                                               cl_uint num_entries, cl_device_id *devices,
                                               cl_uint *num_devices)
{
    typedef cl_int(CL_API_CALL *fn)(cl_platform_id, cl_device_type, cl_uint, cl_device_id *,
                                    cl_uint *);
    cl_platform_id first = NULL;
    clGetPlatformIDs(1, &first, NULL);
    const cl_uint extra = simulate_gpu && platform == first && (type & CL_DEVICE_TYPE_GPU) ? 1 : 0;
    cl_uint found = 0;
    const cl_int err = REAL(fn, clGetDeviceIDs)(platform, type, num_entries > extra ? num_entries - extra : 0,
                                                devices != NULL && num_entries > extra ? devices + extra : NULL,
                                                &found);
    if (extra && devices != NULL && num_entries > 0) {
        devices[0] = SIMULATED_GPU;
    }
    if (num_devices != NULL) {
        *num_devices = found + extra;
    }
    return err == CL_DEVICE_NOT_FOUND && extra ? CL_SUCCESS : err;
}

static cl_int answer(const void *value, size_t size, size_t capacity, void *out, size_t *size_ret)
{
    if (out != NULL) {
        if (capacity < size) return CL_INVALID_VALUE;
        memcpy(out, value, size);
    }
    if (size_ret != NULL) *size_ret = size;
    return CL_SUCCESS;
}

CL_API_ENTRY cl_int CL_API_CALL clGetDeviceInfo(cl_device_id device, cl_device_info param,
                                                size_t capacity, void *out, size_t *size_ret)
{
    if (device == SIMULATED_GPU) {
        const cl_device_type type = CL_DEVICE_TYPE_GPU;
        const cl_ulong memory = 8ull << 30, alloc = 2ull << 30;
        const cl_bool unified = CL_FALSE;
        const cl_device_fp_config fp = CL_FP_ROUND_TO_NEAREST | CL_FP_INF_NAN | CL_FP_FMA;
        switch (param) {
        case CL_DEVICE_NAME: return answer("Simulated GPU", 14, capacity, out, size_ret);
        case CL_DEVICE_VENDOR: return answer("netcl tests", 12, capacity, out, size_ret);
        case CL_DEVICE_VERSION: return answer("OpenCL 3.0 simulated", 21, capacity, out, size_ret);
        case CL_DEVICE_TYPE: return answer(&type, sizeof type, capacity, out, size_ret);
        case CL_DEVICE_GLOBAL_MEM_SIZE: return answer(&memory, sizeof memory, capacity, out, size_ret);
        case CL_DEVICE_MAX_MEM_ALLOC_SIZE: return answer(&alloc, sizeof alloc, capacity, out, size_ret);
        case CL_DEVICE_HOST_UNIFIED_MEMORY: return answer(&unified, sizeof unified, capacity, out, size_ret);
        case CL_DEVICE_SINGLE_FP_CONFIG: return answer(&fp, sizeof fp, capacity, out, size_ret);
        default:
            fprintf(stderr, "netcl asked the simulated GPU for info 0x%x: it is being used\n", param);
            exit(1);
        }
    }
    typedef cl_int(CL_API_CALL *fn)(cl_device_id, cl_device_info, size_t, void *, size_t *);
    const cl_int err = REAL(fn, clGetDeviceInfo)(device, param, capacity, out, size_ret);
    if (err == CL_SUCCESS && hide_exact_math && param == CL_DEVICE_SINGLE_FP_CONFIG && out != NULL) {
        *(cl_device_fp_config *)out &= ~(cl_device_fp_config)CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT;
    }
    return err;
}

static void expect_default_on(int32_t use, uint32_t index, const char *name)
{
    netcl_context *ctx = NULL;
    REQUIRE_OK(netcl_context_create_for(use, NULL, &ctx));
    netcl_device_info info;
    REQUIRE_OK(netcl_context_get_info(ctx, &info));
    CHECK(info.global_index == index && strcmp(info.name, name) == 0,
          "use %d: the default is device %u '%s', expected %u '%s'", use, info.global_index,
          info.name, index, name);
    netcl_context_destroy(ctx);
}

int main(void)
{
    unsetenv("NETCL_DEVICE");
    netcl_device_info pocl;
    REQUIRE_OK(netcl_device_get_info(0, &pocl));

    simulate_gpu = 1;
    uint32_t count = 0;
    REQUIRE_OK(netcl_device_count(&count));
    netcl_device_info gpu;
    REQUIRE_OK(netcl_device_get_info(0, &gpu));
    CHECK(strcmp(gpu.name, "Simulated GPU") == 0 && gpu.is_gpu && !gpu.correctly_rounded_divide_sqrt,
          "device 0 is the simulated GPU without exact divide/sqrt: '%s'", gpu.name);
    REQUIRE_OK(netcl_device_get_info(1, &pocl));
    CHECK(pocl.correctly_rounded_divide_sqrt, "PoCL reports exact divide and sqrt");
    expect_default_on(NETCL_FOR_HOST_TENSORS, 1, pocl.name);
    expect_default_on(NETCL_FOR_DEVICE_TENSORS, 1, pocl.name);
    simulate_gpu = 0;

    hide_exact_math = 1;
    REQUIRE_OK(netcl_device_get_info(0, &pocl));
    CHECK(!pocl.correctly_rounded_divide_sqrt, "the hidden flag is reported");
    for (int32_t use = NETCL_FOR_HOST_TENSORS; use <= NETCL_FOR_DEVICE_TENSORS; ++use) {
        netcl_context *ctx = NULL;
        CHECK(netcl_context_create_for(use, NULL, &ctx) == NETCL_NO_DEVICE && ctx == NULL,
              "use %d: no exact device, no default", use);
        CHECK(strstr(netcl_last_error(), "no OpenCL device netcl can run exactly") != NULL &&
                  strstr(netcl_last_error(), pocl.name) != NULL,
              "message: %s", netcl_last_error());
    }
    netcl_context *ctx = NULL;
    CHECK(netcl_context_create("0", &ctx) == NETCL_UNSUPPORTED && ctx == NULL,
          "a selector picks an inexact device and fails on it");
    CHECK(strstr(netcl_last_error(), "lacks correctly rounded divide and sqrt") != NULL,
          "message: %s", netcl_last_error());
    hide_exact_math = 0;
    return test_finish("test_device_simulated");
}
