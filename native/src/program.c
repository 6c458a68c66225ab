/* Builds the embedded kernel source once per context and hands out kernels by variant. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "netcl_kernels.h"

netcl_status netcl_program_build(netcl_context *ctx)
{
    cl_device_fp_config fp = 0;
    cl_int err = clGetDeviceInfo(ctx->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "clGetDeviceInfo(CL_DEVICE_SINGLE_FP_CONFIG) failed");
    }
    /* PyTorch's sqrt and division are correctly rounded; OpenCL's default allows 3 ulp. */
    if (!(fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT)) {
        return netcl_fail(NETCL_UNSUPPORTED,
                          "device '%s' lacks correctly rounded divide and sqrt, which exact "
                          "RMSProp needs", ctx->info.name);
    }
    /* Big work-groups amortize PoCL's per-group cost on CPUs (measured: 4096 is 2x faster than
     * 256 there); GPUs want a few warps per group. */
    size_t max_group = 0;
    err = clGetDeviceInfo(ctx->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_group, &max_group,
                          NULL);
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "clGetDeviceInfo(CL_DEVICE_MAX_WORK_GROUP_SIZE) failed");
    }
    const size_t wanted = ctx->info.is_cpu ? 4096 : 256;
    ctx->chunk = (uint32_t)(max_group < wanted ? max_group : wanted);
    char options[256];
    snprintf(options, sizeof options,
             "-cl-std=CL1.2 -cl-fp32-correctly-rounded-divide-sqrt "
             "-DNETCL_CHUNK=%uu", ctx->chunk);

    const char *source = netcl_kernel_source_rmsprop;
    const size_t length = netcl_kernel_source_rmsprop_length;
    cl_program program = clCreateProgramWithSource(ctx->context, 1, &source, &length, &err);
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "clCreateProgramWithSource failed");
    }
    err = clBuildProgram(program, 1, &ctx->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[768] = "";
        clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log,
                              NULL);
        clReleaseProgram(program);
        return netcl_fail(NETCL_BUILD_FAILED, "building the kernels for '%s' failed (%d): %s",
                          ctx->info.name, err, log);
    }
    ctx->program = program;
    return NETCL_SUCCESS;
}

netcl_status netcl_program_create_kernel(const netcl_context *ctx, unsigned variant,
                                         cl_kernel *kernel)
{
    char name[32];
    snprintf(name, sizeof name, "rmsprop_%u%u%u%u_%u", (variant >> 3) & 1u, (variant >> 2) & 1u,
             (variant >> 1) & 1u, variant & 1u, variant >> 4);
    cl_int err;
    *kernel = clCreateKernel(ctx->program, name, &err);
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "clCreateKernel(%s) failed", name);
    }
    return NETCL_SUCCESS;
}
