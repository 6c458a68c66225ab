/* Builds the embedded kernel source once per context and hands out kernels by variant. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "netcl_kernels.h"

/*
 * Big work-groups amortize PoCL's per-group cost on CPUs (measured: 4096 is 2x faster than 256
 * there); GPUs want a few warps per group. NETCL_WORK_GROUP_SIZE overrides the choice, a tuning
 * and testing knob (the tests run the GPUs' 256 on PoCL with it): a power of two the device
 * supports, else the context is not created. Contexts that share a build share its size.
 */
static netcl_status choose_work_group_size(netcl_context *ctx, size_t max_group)
{
    const char *forced = getenv("NETCL_WORK_GROUP_SIZE");
    if (forced == NULL || forced[0] == '\0') {
        const size_t wanted = ctx->info.is_cpu ? 4096 : 256;
        ctx->chunk = (uint32_t)(max_group < wanted ? max_group : wanted);
        return NETCL_SUCCESS;
    }
    char *end = NULL;
    const unsigned long size = isdigit((unsigned char)forced[0]) ? strtoul(forced, &end, 10) : 0;
    if (size == 0 || *end != '\0' || (size & (size - 1)) != 0 || size > max_group) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "NETCL_WORK_GROUP_SIZE=%s is not a power of two "
                          "from 1 to the device's largest work-group (%zu)", forced, max_group);
    }
    ctx->chunk = (uint32_t)size;
    return NETCL_SUCCESS;
}

/*
 * A work-group of the gradient statistics kernels (grad_stats.cl) covers at least this many
 * floats, a whole number of them per work-item: each leaves one partial result of 16 bytes,
 * read back to the host, so that those stay at 16 bytes per 16 KiB of gradients whatever the
 * work-group size (256 on GPUs: 16 floats per work-item, rather than a partial per KiB).
 */
#define GRAD_CHUNK_MIN_FLOATS 4096u

/*
 * Whether NETCL_GRAD_STATS_FLOAT=1 asks the gradient statistics kernels (grad_stats.cl) for
 * compensated float even where the device has doubles: a testing knob, so that the branch GPUs
 * without cl_khr_fp64 take runs on PoCL too.
 */
static int grad_stats_float_forced(void)
{
    const char *forced = getenv("NETCL_GRAD_STATS_FLOAT");
    return forced != NULL && strcmp(forced, "1") == 0;
}

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
    size_t max_group = 0;
    err = clGetDeviceInfo(ctx->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_group, &max_group,
                          NULL);
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "clGetDeviceInfo(CL_DEVICE_MAX_WORK_GROUP_SIZE) failed");
    }
    netcl_status status = choose_work_group_size(ctx, max_group);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    cl_device_fp_config fp64 = 0;
    err = clGetDeviceInfo(ctx->device, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp64, &fp64, NULL);
    if (err != CL_SUCCESS && err != CL_INVALID_VALUE) {  /* OpenCL 1.0 devices lack the query */
        return netcl_fail(err, "clGetDeviceInfo(CL_DEVICE_DOUBLE_FP_CONFIG) failed");
    }
    ctx->grad_stats_fp64 = err == CL_SUCCESS && fp64 != 0 && !grad_stats_float_forced();
    const uint32_t grad_items = (GRAD_CHUNK_MIN_FLOATS + ctx->chunk - 1) / ctx->chunk;
    ctx->grad_chunk = ctx->chunk * grad_items;
    char options[256];
    snprintf(options, sizeof options,
             "-cl-std=CL1.2 -cl-fp32-correctly-rounded-divide-sqrt "
             "-DNETCL_CHUNK=%uu -DNETCL_GRAD_ITEMS=%uu%s", ctx->chunk, grad_items,
             ctx->grad_stats_fp64 ? " -DNETCL_FP64" : "");

    /* The struct's header first: the kernels' kernel_hyper is the host's (kernel_hyper.h). */
    const char *sources[] = {netcl_kernel_source_kernel_hyper, netcl_kernel_source_rmsprop,
                             netcl_kernel_source_grad_stats};
    const size_t lengths[] = {netcl_kernel_source_kernel_hyper_length,
                              netcl_kernel_source_rmsprop_length,
                              netcl_kernel_source_grad_stats_length};
    cl_program program = clCreateProgramWithSource(ctx->context, 3, sources, lengths, &err);
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "clCreateProgramWithSource failed");
    }
    /* PoCL's kernel cache is shared by every process using one POCL_CACHE_DIR, and two processes
     * building the same program at once can collide on its temporary files ("unable to rename
     * temporary ..."; seen with ranks under mpirun and tests beside each other). Such a failure
     * is transient, a real one fails again: build once more before giving up. */
    netcl_signal_guard guard;
    netcl_signal_guard_begin(&guard);  /* LLVM installs its handlers when it first compiles */
    err = clBuildProgram(program, 1, &ctx->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        err = clBuildProgram(program, 1, &ctx->device, options, NULL, NULL);
    }
    netcl_signal_guard_end(&guard);
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

static netcl_status create_kernel(const netcl_context *ctx, const char *name, cl_kernel *kernel)
{
    cl_int err;
    *kernel = clCreateKernel(ctx->program, name, &err);
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "clCreateKernel(%s) failed", name);
    }
    return NETCL_SUCCESS;
}

netcl_status netcl_program_create_kernel(const netcl_context *ctx, unsigned variant,
                                         cl_kernel *kernel)
{
    char name[32];
    snprintf(name, sizeof name, "rmsprop_%u%u%u%u_%u", (variant >> 3) & 1u, (variant >> 2) & 1u,
             (variant >> 1) & 1u, variant & 1u, variant >> 4);
    return create_kernel(ctx, name, kernel);
}

netcl_status netcl_program_create_grad_kernel(const netcl_context *ctx, int write,
                                              cl_kernel *kernel)
{
    return create_kernel(ctx, write ? "scale_grads" : "grad_stats", kernel);
}
