/*
 * The per-device state that netcl_context_create's contexts share within the process: one
 * cl_context and the kernels built for it. Building costs 20-60 ms (about 1 s on PoCL without its
 * kernel cache); with a share in place a further context costs one command queue. A share lives
 * as long as a context uses it and is freed with the last one, so a process that has let go of
 * netcl holds none of its OpenCL objects.
 */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

struct netcl_device_share {
    struct netcl_device_share *next;
    unsigned users;       /* contexts holding the share; guarded by shares_lock */
    netcl_context built;  /* device, context, program, info, base_align_bytes, chunk,
                           * grad_chunk, grad_stats_fp64; no queue */
};

/* One lock for the list, held through a build: contexts created at once on a device that has no
 * share yet build its kernels once (the others wait for it). */
static pthread_mutex_t shares_lock = PTHREAD_MUTEX_INITIALIZER;
static struct netcl_device_share *shares;

static void free_share(struct netcl_device_share *share)
{
    if (share->built.program != NULL) {
        clReleaseProgram(share->built.program);
    }
    if (share->built.context != NULL) {
        clReleaseContext(share->built.context);
    }
    free(share);
}

static netcl_status build_share(cl_platform_id platform, cl_device_id device,
                                struct netcl_device_share **out)
{
    struct netcl_device_share *share = calloc(1, sizeof *share);
    if (share == NULL) {
        return netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating the device share failed");
    }
    const cl_context_properties properties[] = {CL_CONTEXT_PLATFORM,
                                                (cl_context_properties)platform, 0};
    cl_int err;
    share->built.device = device;
    share->built.context = clCreateContext(properties, 1, &device, NULL, NULL, &err);
    const netcl_status status = err == CL_SUCCESS ? netcl_context_build(&share->built)
                                                  : netcl_fail(err, "clCreateContext failed");
    if (status != NETCL_SUCCESS) {
        free_share(share);
        return status;
    }
    *out = share;
    return NETCL_SUCCESS;
}

netcl_status netcl_device_share_acquire(cl_platform_id platform, cl_device_id device,
                                        netcl_context *ctx)
{
    pthread_mutex_lock(&shares_lock);
    struct netcl_device_share *share = shares;
    while (share != NULL && share->built.device != device) {
        share = share->next;
    }
    netcl_status status = NETCL_SUCCESS;
    if (share == NULL) {
        status = build_share(platform, device, &share);
        if (status == NETCL_SUCCESS) {
            share->next = shares;
            shares = share;
        }
    }
    if (status == NETCL_SUCCESS) {
        share->users++;
    }
    pthread_mutex_unlock(&shares_lock);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    /* The context's own references: it releases them like those of a create_from_cl context. */
    clRetainContext(share->built.context);
    clRetainProgram(share->built.program);
    ctx->share = share;
    ctx->device = device;
    ctx->context = share->built.context;
    ctx->program = share->built.program;
    ctx->info = share->built.info;
    ctx->base_align_bytes = share->built.base_align_bytes;
    ctx->chunk = share->built.chunk;
    ctx->grad_chunk = share->built.grad_chunk;
    ctx->grad_stats_fp64 = share->built.grad_stats_fp64;
    return NETCL_SUCCESS;
}

void netcl_device_share_release(struct netcl_device_share *share)
{
    if (share == NULL) {
        return;
    }
    pthread_mutex_lock(&shares_lock);
    const int last = --share->users == 0;
    if (last) {
        struct netcl_device_share **link = &shares;
        while (*link != share) {
            link = &(*link)->next;
        }
        *link = share->next;
    }
    pthread_mutex_unlock(&shares_lock);
    if (last) {
        free_share(share);
    }
}
