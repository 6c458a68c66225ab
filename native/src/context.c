/* Platforms and devices: enumeration, selection, and the context + queue netcl runs on. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device_choice.h"
#include "internal.h"

#define MAX_PLATFORMS 16u
#define MAX_DEVICES 64u

/* Every device of every platform, in the order of their global indices. */
typedef struct device_list {
    uint32_t count;
    cl_platform_id platform[MAX_DEVICES];
    cl_device_id device[MAX_DEVICES];
    uint32_t platform_index[MAX_DEVICES];
    uint32_t device_index[MAX_DEVICES];
} device_list;

static netcl_status find_devices(device_list *list)
{
    cl_platform_id platforms[MAX_PLATFORMS];
    cl_uint platform_count = 0;
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, platforms, &platform_count);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && platform_count == 0)) {
        return netcl_fail(NETCL_NO_PLATFORM,
                          "no OpenCL platform found: install an ICD such as pocl-opencl-icd");
    }
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "clGetPlatformIDs failed");
    }
    if (platform_count > MAX_PLATFORMS) {
        platform_count = MAX_PLATFORMS;
    }
    list->count = 0;
    for (cl_uint p = 0; p < platform_count; ++p) {
        cl_device_id devices[MAX_DEVICES];
        cl_uint device_count = 0;
        err = clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devices, &device_count);
        if (err == CL_DEVICE_NOT_FOUND) {
            continue;  /* a platform without devices, e.g. PoCL without a writable kernel cache */
        }
        if (err != CL_SUCCESS) {
            return netcl_fail(err, "clGetDeviceIDs failed on platform %u", p);
        }
        for (cl_uint d = 0; d < device_count && d < MAX_DEVICES && list->count < MAX_DEVICES; ++d) {
            list->platform[list->count] = platforms[p];
            list->device[list->count] = devices[d];
            list->platform_index[list->count] = p;
            list->device_index[list->count] = d;
            list->count++;
        }
    }
    return NETCL_SUCCESS;
}

/* The first OpenCL call starts the platforms' devices: PoCL installs a SIGFPE handler then. */
static netcl_status list_devices(device_list *list)
{
    netcl_signal_guard guard;
    netcl_signal_guard_begin(&guard);
    const netcl_status status = find_devices(list);
    netcl_signal_guard_end(&guard);
    return status;
}

static netcl_status fill_device_info(cl_device_id device, netcl_device_info *info)
{
    memset(info, 0, sizeof *info);
    cl_device_type type = 0;
    cl_ulong global_mem = 0, max_alloc = 0;
    cl_bool unified = CL_FALSE;
    cl_device_fp_config fp = 0;
    cl_int err = clGetDeviceInfo(device, CL_DEVICE_NAME, sizeof info->name - 1, info->name, NULL);
    if (err == CL_SUCCESS) {
        err = clGetDeviceInfo(device, CL_DEVICE_VENDOR, sizeof info->vendor - 1, info->vendor, NULL);
    }
    if (err == CL_SUCCESS) {
        err = clGetDeviceInfo(device, CL_DEVICE_VERSION, sizeof info->version - 1, info->version,
                              NULL);
    }
    if (err == CL_SUCCESS) {
        err = clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    }
    if (err == CL_SUCCESS) {
        err = clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof global_mem, &global_mem, NULL);
    }
    if (err == CL_SUCCESS) {
        err = clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    }
    if (err == CL_SUCCESS) {
        err = clGetDeviceInfo(device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    }
    if (err == CL_SUCCESS) {
        /* Deprecated in OpenCL 2.0 but still answered by every ICD; a failure means "no". */
        if (clGetDeviceInfo(device, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL)
            != CL_SUCCESS) {
            unified = CL_FALSE;
        }
    }
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "clGetDeviceInfo failed");
    }
    info->global_mem_bytes = global_mem;
    info->max_alloc_bytes = max_alloc;
    info->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    info->is_accelerator = (type & CL_DEVICE_TYPE_ACCELERATOR) != 0;
    info->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    info->host_unified_memory = unified == CL_TRUE;
    info->correctly_rounded_divide_sqrt = (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0;
    return NETCL_SUCCESS;
}

static netcl_status describe(const device_list *list, uint32_t index, netcl_device_info *info)
{
    netcl_status status = fill_device_info(list->device[index], info);
    if (status == NETCL_SUCCESS) {
        info->platform_index = list->platform_index[index];
        info->device_index = list->device_index[index];
        info->global_index = index;
    }
    return status;
}

netcl_status netcl_device_count(uint32_t *count)
{
    netcl_clear_error();
    if (count == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "count is NULL");
    }
    device_list list;
    netcl_status status = list_devices(&list);
    if (status == NETCL_SUCCESS) {
        *count = list.count;
    }
    return status;
}

netcl_status netcl_device_get_info(uint32_t global_index, netcl_device_info *info)
{
    netcl_clear_error();
    if (info == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "info is NULL");
    }
    device_list list;
    netcl_status status = list_devices(&list);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    if (global_index >= list.count) {
        return netcl_fail(NETCL_NO_DEVICE, "device index %u out of range: %u device(s)",
                          global_index, list.count);
    }
    return describe(&list, global_index, info);
}

static int contains_ignoring_case(const char *haystack, const char *needle)
{
    const size_t n = strlen(needle);
    for (const char *h = haystack; *h != '\0'; ++h) {
        size_t i = 0;
        while (i < n && h[i] != '\0' &&
               tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i])) {
            ++i;
        }
        if (i == n) {
            return 1;
        }
    }
    return n == 0;
}

/* Parses "N" or "P:D" completely; returns 0 when the selector is not of that form. */
static int parse_indices(const char *selector, long *first, long *second)
{
    char *end;
    *second = -1;
    if (!isdigit((unsigned char)selector[0])) {
        return 0;
    }
    *first = strtol(selector, &end, 10);
    if (*end == ':' && isdigit((unsigned char)end[1])) {
        *second = strtol(end + 1, &end, 10);
    }
    return *end == '\0';
}

/* The default device for `use`; fails naming the devices skipped when none qualifies. */
static netcl_status select_default(const device_list *list, int32_t use, uint32_t *chosen)
{
    netcl_device_info infos[MAX_DEVICES];
    for (uint32_t i = 0; i < list->count; ++i) {
        netcl_status status = describe(list, i, &infos[i]);
        if (status != NETCL_SUCCESS) {
            return status;
        }
    }
    *chosen = netcl_choose_default_device(infos, list->count, use);
    if (*chosen < list->count) {
        return NETCL_SUCCESS;
    }
    char names[768] = "";
    size_t used = 0;
    for (uint32_t i = 0; i < list->count && used < sizeof names; ++i) {
        const int n = snprintf(names + used, sizeof names - used, "%s'%s'", i > 0 ? ", " : "",
                               infos[i].name);
        used += n > 0 ? (size_t)n : 0;
    }
    return netcl_fail(NETCL_NO_DEVICE, "no OpenCL device netcl can run exactly: %s lack%s "
                      "correctly rounded divide and sqrt", names, list->count == 1 ? "s" : "");
}

static netcl_status select_device(const device_list *list, int32_t use, const char *selector,
                                  uint32_t *chosen)
{
    if (list->count == 0) {
        return netcl_fail(NETCL_NO_DEVICE, "no OpenCL device found on any platform (PoCL needs a "
                                           "writable POCL_CACHE_DIR)");
    }
    if (selector == NULL || selector[0] == '\0') {
        return select_default(list, use, chosen);
    }
    long first, second;
    if (parse_indices(selector, &first, &second)) {
        for (uint32_t i = 0; i < list->count; ++i) {
            const int match = second < 0 ? (long)i == first
                                         : (long)list->platform_index[i] == first &&
                                           (long)list->device_index[i] == second;
            if (match) {
                *chosen = i;
                return NETCL_SUCCESS;
            }
        }
        return netcl_fail(NETCL_NO_DEVICE, "no OpenCL device '%s': %u device(s) found", selector,
                          list->count);
    }
    for (uint32_t i = 0; i < list->count; ++i) {
        char name[256] = "";
        clGetDeviceInfo(list->device[i], CL_DEVICE_NAME, sizeof name - 1, name, NULL);
        if (contains_ignoring_case(name, selector)) {
            *chosen = i;
            return NETCL_SUCCESS;
        }
    }
    return netcl_fail(NETCL_NO_DEVICE, "no OpenCL device whose name contains '%s' (%u device(s) "
                                       "found)", selector, list->count);
}

netcl_status netcl_context_build(netcl_context *ctx)
{
    netcl_status status = fill_device_info(ctx->device, &ctx->info);
    if (status != NETCL_SUCCESS) {
        return status;
    }
    cl_uint align_bits = 0;
    cl_int err = clGetDeviceInfo(ctx->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits,
                                 &align_bits, NULL);
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "clGetDeviceInfo(CL_DEVICE_MEM_BASE_ADDR_ALIGN) failed");
    }
    ctx->base_align_bytes = align_bits >= 8 ? align_bits / 8 : 1;
    return netcl_program_build(ctx);
}

netcl_status netcl_context_create(const char *selector, netcl_context **context)
{
    return netcl_context_create_for(NETCL_FOR_HOST_TENSORS, selector, context);
}

netcl_status netcl_context_create_for(int32_t use, const char *selector, netcl_context **context)
{
    netcl_clear_error();
    if (context == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "context is NULL");
    }
    if (use != NETCL_FOR_HOST_TENSORS && use != NETCL_FOR_DEVICE_TENSORS) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "unknown device use %d (NETCL_FOR_HOST_TENSORS "
                          "or NETCL_FOR_DEVICE_TENSORS)", use);
    }
    *context = NULL;
    if (selector == NULL || selector[0] == '\0') {
        selector = getenv("NETCL_DEVICE");
    }
    device_list list;
    netcl_status status = list_devices(&list);
    uint32_t chosen = 0;
    if (status == NETCL_SUCCESS) {
        status = select_device(&list, use, selector, &chosen);
    }
    if (status != NETCL_SUCCESS) {
        return status;
    }
    netcl_context *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        return netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating the context failed");
    }
    atomic_init(&ctx->references, 1);
    status = netcl_device_share_acquire(list.platform[chosen], list.device[chosen], ctx);
    if (status != NETCL_SUCCESS) {
        goto cleanup;
    }
    cl_int err;
    ctx->queue = clCreateCommandQueue(ctx->context, ctx->device, 0, &err);
    if (err != CL_SUCCESS) {
        status = netcl_fail(err, "clCreateCommandQueue failed");
        goto cleanup;
    }
    ctx->info.platform_index = list.platform_index[chosen];
    ctx->info.device_index = list.device_index[chosen];
    ctx->info.global_index = chosen;
    *context = ctx;
    return NETCL_SUCCESS;
cleanup:
    netcl_context_release(ctx);
    return status;
}

netcl_status netcl_context_create_from_cl(struct _cl_context *caller_context,
                                          struct _cl_device_id *caller_device,
                                          struct _cl_command_queue *caller_queue,
                                          netcl_context **context)
{
    netcl_clear_error();
    if (context == NULL || caller_context == NULL || caller_queue == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL",
                          context == NULL ? "context" : caller_context == NULL ? "cl_context"
                                                                               : "cl_queue");
    }
    *context = NULL;
    cl_command_queue_properties properties = 0;
    cl_context queue_context = NULL;
    cl_device_id queue_device = NULL;
    cl_int err = clGetCommandQueueInfo(caller_queue, CL_QUEUE_PROPERTIES, sizeof properties,
                                       &properties, NULL);
    if (err == CL_SUCCESS) {
        err = clGetCommandQueueInfo(caller_queue, CL_QUEUE_CONTEXT, sizeof queue_context,
                                    &queue_context, NULL);
    }
    if (err == CL_SUCCESS) {
        err = clGetCommandQueueInfo(caller_queue, CL_QUEUE_DEVICE, sizeof queue_device, &queue_device,
                                    NULL);
    }
    if (err != CL_SUCCESS) {
        return netcl_fail(err, "querying the caller's queue or device failed");
    }
    if (caller_device == NULL) {
        caller_device = queue_device;
    }
    if (queue_context != caller_context || queue_device != caller_device) {
        return netcl_fail(NETCL_INVALID_ARGUMENT,
                          "cl_queue belongs to another context or device than the ones given");
    }
    if (properties & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) {
        return netcl_fail(NETCL_UNSUPPORTED, "cl_queue is out-of-order; netcl needs an in-order "
                                             "queue");
    }
    netcl_context *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        return netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating the context failed");
    }
    atomic_init(&ctx->references, 1);
    clRetainContext(caller_context);
    clRetainCommandQueue(caller_queue);
    ctx->context = caller_context;
    ctx->device = caller_device;
    ctx->queue = caller_queue;
    /* The caller's cl_context is not netcl's to share: the kernels are built for this one. */
    netcl_status status = netcl_context_build(ctx);
    if (status != NETCL_SUCCESS) {
        netcl_context_release(ctx);
        return status;
    }
    ctx->info.global_index = UINT32_MAX;  /* not chosen from netcl's list */
    *context = ctx;
    return NETCL_SUCCESS;
}

void netcl_context_retain(netcl_context *ctx)
{
    atomic_fetch_add(&ctx->references, 1);
}

void netcl_context_release(netcl_context *ctx)
{
    if (atomic_fetch_sub(&ctx->references, 1) != 1) {
        return;
    }
    if (ctx->queue != NULL) {
        clFinish(ctx->queue);
        clReleaseCommandQueue(ctx->queue);
    }
    if (ctx->program != NULL) {
        clReleaseProgram(ctx->program);
    }
    if (ctx->context != NULL) {
        clReleaseContext(ctx->context);
    }
    netcl_device_share_release(ctx->share);
    free(ctx);
}

void netcl_context_destroy(netcl_context *context)
{
    if (context != NULL) {
        netcl_context_release(context);
    }
}

netcl_status netcl_context_get_info(const netcl_context *context, netcl_device_info *info)
{
    netcl_clear_error();
    if (context == NULL || info == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL", context == NULL ? "context" : "info");
    }
    *info = context->info;
    return NETCL_SUCCESS;
}

netcl_status netcl_context_set_memory_mode(netcl_context *context, int32_t mode)
{
    netcl_clear_error();
    if (context == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "context is NULL");
    }
    if (mode != NETCL_MEMORY_AUTO && mode != NETCL_MEMORY_STAGED) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "unknown memory mode %d", mode);
    }
    context->memory_mode = mode;
    return NETCL_SUCCESS;
}

netcl_status netcl_context_get_staged_bytes(const netcl_context *context, uint64_t *bytes)
{
    netcl_clear_error();
    if (context == NULL || bytes == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "%s is NULL", context == NULL ? "context" : "bytes");
    }
    *bytes = context->staged_bytes;
    return NETCL_SUCCESS;
}
