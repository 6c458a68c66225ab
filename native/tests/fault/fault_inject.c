/*
 * The OpenCL functions netcl calls, interposed for the tests (API in fault_inject.h).
 *
 * How it binds: this shared library defines those cl* functions and is linked into a test
 * executable ahead of libnetcl and libOpenCL, so the dynamic linker, which searches the
 * executable's libraries in link order, binds netcl's calls (and the test's own) here; each
 * function forwards to the next definition, the ICD loader's, through dlsym(RTLD_NEXT).
 * Linking it rather than LD_PRELOADing it works unchanged under AddressSanitizer (whose
 * runtime must come first in the preload list, which a preloaded library would have to
 * arrange) and lets the test call the control functions directly, so one process runs every
 * case: contexts and kernel builds are shared between cases instead of paid for each.
 *
 * What a fault does: the call returns the armed status (or NULL with *errcode_ret set) without
 * reaching OpenCL, as a real failure would, so nothing is created, enqueued or changed. clFinish
 * and clWaitForEvents are the exception: they stand for a device failure, after which the
 * queue's commands may or may not have run; the real call still runs first, so that no command
 * still writes memory while the test compares it.
 *
 * Retains and releases are counted (netcl_fault_live_objects: a leaked object shows) but never
 * fail: a failed release leaves the caller nothing to do but the injection itself would leak,
 * and implementations fail retains only for invalid handles.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "fault_inject.h"

/* Every interposed function and whether a fault can be injected into it. */
#define FAULT_FUNCTIONS(X)          \
    X(clGetPlatformIDs, 1)          \
    X(clGetDeviceIDs, 1)            \
    X(clGetDeviceInfo, 1)           \
    X(clCreateContext, 1)           \
    X(clCreateCommandQueue, 1)      \
    X(clGetCommandQueueInfo, 1)     \
    X(clCreateProgramWithSource, 1) \
    X(clBuildProgram, 1)            \
    X(clGetProgramBuildInfo, 1)     \
    X(clCreateKernel, 1)            \
    X(clSetKernelArg, 1)            \
    X(clCreateBuffer, 1)            \
    X(clGetMemObjectInfo, 1)        \
    X(clEnqueueMapBuffer, 1)        \
    X(clEnqueueUnmapMemObject, 1)   \
    X(clEnqueueFillBuffer, 1)       \
    X(clEnqueueWriteBuffer, 1)      \
    X(clEnqueueReadBuffer, 1)       \
    X(clEnqueueNDRangeKernel, 1)    \
    X(clEnqueueBarrierWithWaitList, 1) \
    X(clEnqueueMarkerWithWaitList, 1) \
    X(clFlush, 1)                   \
    X(clFinish, 1)                  \
    X(clWaitForEvents, 1)           \
    X(clGetEventInfo, 1)            \
    X(clRetainContext, 0)           \
    X(clRetainCommandQueue, 0)      \
    X(clRetainMemObject, 0)         \
    X(clRetainProgram, 0)           \
    X(clRetainEvent, 0)             \
    X(clReleaseContext, 0)          \
    X(clReleaseCommandQueue, 0)     \
    X(clReleaseProgram, 0)          \
    X(clReleaseKernel, 0)           \
    X(clReleaseMemObject, 0)        \
    X(clReleaseEvent, 0)

#define AS_ENUM(name, injectable) FN_##name,
enum fault_function { FAULT_FUNCTIONS(AS_ENUM) FUNCTION_COUNT };
#undef AS_ENUM

#define AS_ENTRY(name, injectable) {#name, injectable},
static const struct {
    const char *name;
    int injectable;
} functions[FUNCTION_COUNT] = {FAULT_FUNCTIONS(AS_ENTRY)};
#undef AS_ENTRY

typedef void (*any_function)(void);

/* Counting is atomic (tests create contexts on several threads at once); arming and injecting
 * are done by one test thread. */
enum object_kind { CONTEXTS, QUEUES, PROGRAMS, KERNELS, BUFFERS, EVENTS, KIND_COUNT };
static atomic_long live[KIND_COUNT];
static atomic_uint calls[FUNCTION_COUNT];
static atomic_int armed;
static _Atomic(any_function) real[FUNCTION_COUNT];
static long target = -1;
static unsigned target_nth;
static cl_int target_code;
static int fired;
static int work_before_fault;
static int hide_unified_memory;

/* The ICD loader's definition of function f. Test code: without it nothing can run. */
static any_function real_function(enum fault_function f)
{
    any_function function = atomic_load(&real[f]);
    if (function == NULL) {
        void *symbol = dlsym(RTLD_NEXT, functions[f].name);
        if (symbol == NULL) {
            fprintf(stderr, "fault_inject: no %s after this library: %s\n", functions[f].name,
                    dlerror());
            abort();
        }
        memcpy(&function, &symbol, sizeof symbol);  /* ISO C has no object-to-function cast */
        atomic_store(&real[f], function);
    }
    return function;
}

#define REAL(name) ((__typeof__(&name))real_function(FN_##name))

/* Counts the call; returns 1 and the status to fail with when it is the armed one. */
static int inject(enum fault_function f, cl_int *code)
{
    if (!atomic_load(&armed)) {
        return 0;
    }
    const unsigned call = atomic_fetch_add(&calls[f], 1) + 1;
    if ((long)f == target && call == target_nth) {
        fired = 1;
        *code = target_code;
        return 1;
    }
    return 0;
}

/* A command that returned an event made one more object. */
static cl_int note_event(cl_int status, const cl_event *event)
{
    atomic_fetch_add(&live[EVENTS], status == CL_SUCCESS && event != NULL && *event != NULL);
    return status;
}

static cl_int note_work(cl_int status, const cl_event *event)
{
    if (armed && !fired && status == CL_SUCCESS) {
        work_before_fault = 1;
    }
    return note_event(status, event);
}

#define FAIL_STATUS(name)                 \
    do {                                  \
        cl_int code_;                     \
        if (inject(FN_##name, &code_)) {  \
            return code_;                 \
        }                                 \
    } while (0)

#define FAIL_HANDLE(name, errcode_ret)    \
    do {                                  \
        cl_int code_;                     \
        if (inject(FN_##name, &code_)) {  \
            if ((errcode_ret) != NULL) {  \
                *(errcode_ret) = code_;   \
            }                             \
            return NULL;                  \
        }                                 \
    } while (0)

/* ---- control ------------------------------------------------------------------------------ */

int netcl_fault_arm(const char *function, unsigned nth, int32_t code)
{
    const long index = function != NULL ? netcl_fault_function_index(function) : -1;
    if (function != NULL && (index < 0 || !functions[index].injectable)) {
        return 0;
    }
    for (int f = 0; f < FUNCTION_COUNT; ++f) {
        atomic_store(&calls[f], 0);
    }
    target = nth > 0 ? index : -1;
    target_nth = nth;
    target_code = code;
    fired = 0;
    work_before_fault = 0;
    atomic_store(&armed, 1);
    return 1;
}

void netcl_fault_disarm(void)
{
    atomic_store(&armed, 0);
}

unsigned netcl_fault_calls(const char *function)
{
    const long index = netcl_fault_function_index(function);
    return index < 0 ? 0 : atomic_load(&calls[index]);
}

int netcl_fault_fired(void)
{
    return fired;
}

int netcl_fault_work_before_fault(void)
{
    return work_before_fault;
}

size_t netcl_fault_function_count(void)
{
    return FUNCTION_COUNT;
}

const char *netcl_fault_function_name(size_t index)
{
    return index < FUNCTION_COUNT ? functions[index].name : NULL;
}

int netcl_fault_function_injectable(size_t index)
{
    return index < FUNCTION_COUNT && functions[index].injectable;
}

long netcl_fault_function_index(const char *function)
{
    for (long f = 0; f < FUNCTION_COUNT; ++f) {
        if (strcmp(functions[f].name, function) == 0) {
            return f;
        }
    }
    return -1;
}

netcl_fault_objects netcl_fault_live_objects(void)
{
    const netcl_fault_objects objects = {atomic_load(&live[CONTEXTS]), atomic_load(&live[QUEUES]),
                                         atomic_load(&live[PROGRAMS]), atomic_load(&live[KERNELS]),
                                         atomic_load(&live[BUFFERS]), atomic_load(&live[EVENTS])};
    return objects;
}

void netcl_fault_hide_unified_memory(int hide)
{
    hide_unified_memory = hide;
}

/* ---- platforms, devices, contexts, queues ------------------------------------------------- */

CL_API_ENTRY cl_int CL_API_CALL clGetPlatformIDs(cl_uint num_entries, cl_platform_id *platforms,
                                                 cl_uint *num_platforms)
{
    FAIL_STATUS(clGetPlatformIDs);
    return REAL(clGetPlatformIDs)(num_entries, platforms, num_platforms);
}

CL_API_ENTRY cl_int CL_API_CALL clGetDeviceIDs(cl_platform_id platform, cl_device_type type,
                                               cl_uint num_entries, cl_device_id *devices,
                                               cl_uint *num_devices)
{
    FAIL_STATUS(clGetDeviceIDs);
    return REAL(clGetDeviceIDs)(platform, type, num_entries, devices, num_devices);
}

CL_API_ENTRY cl_int CL_API_CALL clGetDeviceInfo(cl_device_id device, cl_device_info name,
                                                size_t size, void *value, size_t *size_ret)
{
    FAIL_STATUS(clGetDeviceInfo);
    const cl_int status = REAL(clGetDeviceInfo)(device, name, size, value, size_ret);
    if (status == CL_SUCCESS && hide_unified_memory && name == CL_DEVICE_HOST_UNIFIED_MEMORY &&
        value != NULL) {
        *(cl_bool *)value = CL_FALSE;
    }
    return status;
}

CL_API_ENTRY cl_context CL_API_CALL clCreateContext(
    const cl_context_properties *properties, cl_uint num_devices, const cl_device_id *devices,
    void(CL_CALLBACK *notify)(const char *, const void *, size_t, void *), void *user_data,
    cl_int *errcode_ret)
{
    FAIL_HANDLE(clCreateContext, errcode_ret);
    cl_context context = REAL(clCreateContext)(properties, num_devices, devices, notify, user_data,
                                               errcode_ret);
    atomic_fetch_add(&live[CONTEXTS], context != NULL);
    return context;
}

CL_API_ENTRY cl_command_queue CL_API_CALL clCreateCommandQueue(cl_context context,
                                                               cl_device_id device,
                                                               cl_command_queue_properties props,
                                                               cl_int *errcode_ret)
{
    FAIL_HANDLE(clCreateCommandQueue, errcode_ret);
    cl_command_queue queue = REAL(clCreateCommandQueue)(context, device, props, errcode_ret);
    atomic_fetch_add(&live[QUEUES], queue != NULL);
    return queue;
}

CL_API_ENTRY cl_int CL_API_CALL clGetCommandQueueInfo(cl_command_queue queue,
                                                      cl_command_queue_info name, size_t size,
                                                      void *value, size_t *size_ret)
{
    FAIL_STATUS(clGetCommandQueueInfo);
    return REAL(clGetCommandQueueInfo)(queue, name, size, value, size_ret);
}

/* ---- programs and kernels ----------------------------------------------------------------- */

CL_API_ENTRY cl_program CL_API_CALL clCreateProgramWithSource(cl_context context, cl_uint count,
                                                              const char **strings,
                                                              const size_t *lengths,
                                                              cl_int *errcode_ret)
{
    FAIL_HANDLE(clCreateProgramWithSource, errcode_ret);
    cl_program program = REAL(clCreateProgramWithSource)(context, count, strings, lengths,
                                                         errcode_ret);
    atomic_fetch_add(&live[PROGRAMS], program != NULL);
    return program;
}

CL_API_ENTRY cl_int CL_API_CALL clBuildProgram(cl_program program, cl_uint num_devices,
                                               const cl_device_id *devices, const char *options,
                                               void(CL_CALLBACK *notify)(cl_program, void *),
                                               void *user_data)
{
    FAIL_STATUS(clBuildProgram);
    return REAL(clBuildProgram)(program, num_devices, devices, options, notify, user_data);
}

CL_API_ENTRY cl_int CL_API_CALL clGetProgramBuildInfo(cl_program program, cl_device_id device,
                                                      cl_program_build_info name, size_t size,
                                                      void *value, size_t *size_ret)
{
    FAIL_STATUS(clGetProgramBuildInfo);
    return REAL(clGetProgramBuildInfo)(program, device, name, size, value, size_ret);
}

CL_API_ENTRY cl_kernel CL_API_CALL clCreateKernel(cl_program program, const char *name,
                                                  cl_int *errcode_ret)
{
    FAIL_HANDLE(clCreateKernel, errcode_ret);
    cl_kernel kernel = REAL(clCreateKernel)(program, name, errcode_ret);
    atomic_fetch_add(&live[KERNELS], kernel != NULL);
    return kernel;
}

CL_API_ENTRY cl_int CL_API_CALL clSetKernelArg(cl_kernel kernel, cl_uint index, size_t size,
                                               const void *value)
{
    FAIL_STATUS(clSetKernelArg);
    return REAL(clSetKernelArg)(kernel, index, size, value);
}

/* ---- buffers ------------------------------------------------------------------------------ */

CL_API_ENTRY cl_mem CL_API_CALL clCreateBuffer(cl_context context, cl_mem_flags flags,
                                               size_t size, void *host_ptr, cl_int *errcode_ret)
{
    FAIL_HANDLE(clCreateBuffer, errcode_ret);
    cl_mem buffer = REAL(clCreateBuffer)(context, flags, size, host_ptr, errcode_ret);
    atomic_fetch_add(&live[BUFFERS], buffer != NULL);
    return buffer;
}

CL_API_ENTRY cl_int CL_API_CALL clGetMemObjectInfo(cl_mem buffer, cl_mem_info name, size_t size,
                                                   void *value, size_t *size_ret)
{
    FAIL_STATUS(clGetMemObjectInfo);
    return REAL(clGetMemObjectInfo)(buffer, name, size, value, size_ret);
}

/* ---- commands ----------------------------------------------------------------------------- */

CL_API_ENTRY void *CL_API_CALL clEnqueueMapBuffer(cl_command_queue queue, cl_mem buffer,
                                                  cl_bool blocking, cl_map_flags flags,
                                                  size_t offset, size_t size, cl_uint wait_count,
                                                  const cl_event *wait_list, cl_event *event,
                                                  cl_int *errcode_ret)
{
    FAIL_HANDLE(clEnqueueMapBuffer, errcode_ret);
    cl_int status = CL_SUCCESS;
    void *mapped = REAL(clEnqueueMapBuffer)(queue, buffer, blocking, flags, offset, size, wait_count,
                                            wait_list, event, &status);
    if (errcode_ret != NULL) {
        *errcode_ret = status;
    }
    note_event(status, event);
    return mapped;
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueUnmapMemObject(cl_command_queue queue, cl_mem buffer,
                                                        void *mapped, cl_uint wait_count,
                                                        const cl_event *wait_list,
                                                        cl_event *event)
{
    FAIL_STATUS(clEnqueueUnmapMemObject);
    return note_event(REAL(clEnqueueUnmapMemObject)(queue, buffer, mapped, wait_count, wait_list,
                                                    event), event);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueFillBuffer(cl_command_queue queue, cl_mem buffer,
                                                    const void *pattern, size_t pattern_size,
                                                    size_t offset, size_t size,
                                                    cl_uint wait_count, const cl_event *wait_list,
                                                    cl_event *event)
{
    FAIL_STATUS(clEnqueueFillBuffer);
    return note_work(REAL(clEnqueueFillBuffer)(queue, buffer, pattern, pattern_size, offset, size,
                                               wait_count, wait_list, event), event);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueWriteBuffer(cl_command_queue queue, cl_mem buffer,
                                                     cl_bool blocking, size_t offset, size_t size,
                                                     const void *source, cl_uint wait_count,
                                                     const cl_event *wait_list, cl_event *event)
{
    FAIL_STATUS(clEnqueueWriteBuffer);
    return note_work(REAL(clEnqueueWriteBuffer)(queue, buffer, blocking, offset, size, source,
                                                wait_count, wait_list, event), event);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueReadBuffer(cl_command_queue queue, cl_mem buffer,
                                                    cl_bool blocking, size_t offset, size_t size,
                                                    void *destination, cl_uint wait_count,
                                                    const cl_event *wait_list, cl_event *event)
{
    FAIL_STATUS(clEnqueueReadBuffer);
    return note_work(REAL(clEnqueueReadBuffer)(queue, buffer, blocking, offset, size, destination,
                                               wait_count, wait_list, event), event);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueNDRangeKernel(cl_command_queue queue, cl_kernel kernel,
                                                       cl_uint dimensions, const size_t *offset,
                                                       const size_t *global, const size_t *local,
                                                       cl_uint wait_count,
                                                       const cl_event *wait_list, cl_event *event)
{
    FAIL_STATUS(clEnqueueNDRangeKernel);
    return note_work(REAL(clEnqueueNDRangeKernel)(queue, kernel, dimensions, offset, global, local,
                                                  wait_count, wait_list, event), event);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueBarrierWithWaitList(cl_command_queue queue,
                                                             cl_uint wait_count,
                                                             const cl_event *wait_list,
                                                             cl_event *event)
{
    FAIL_STATUS(clEnqueueBarrierWithWaitList);
    return note_event(REAL(clEnqueueBarrierWithWaitList)(queue, wait_count, wait_list, event), event);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueMarkerWithWaitList(cl_command_queue queue,
                                                            cl_uint wait_count,
                                                            const cl_event *wait_list,
                                                            cl_event *event)
{
    FAIL_STATUS(clEnqueueMarkerWithWaitList);
    return note_event(REAL(clEnqueueMarkerWithWaitList)(queue, wait_count, wait_list, event), event);
}

CL_API_ENTRY cl_int CL_API_CALL clFlush(cl_command_queue queue)
{
    FAIL_STATUS(clFlush);
    return REAL(clFlush)(queue);
}

CL_API_ENTRY cl_int CL_API_CALL clFinish(cl_command_queue queue)
{
    const cl_int status = REAL(clFinish)(queue);  /* first: see the file comment */
    FAIL_STATUS(clFinish);
    return status;
}

CL_API_ENTRY cl_int CL_API_CALL clWaitForEvents(cl_uint count, const cl_event *events)
{
    const cl_int status = REAL(clWaitForEvents)(count, events);  /* first, like clFinish */
    FAIL_STATUS(clWaitForEvents);
    return status;
}

CL_API_ENTRY cl_int CL_API_CALL clGetEventInfo(cl_event event, cl_event_info name, size_t size,
                                               void *value, size_t *size_ret)
{
    FAIL_STATUS(clGetEventInfo);
    return REAL(clGetEventInfo)(event, name, size, value, size_ret);
}

/* ---- object lifetimes (counted, never failed) --------------------------------------------- */

#define COUNTED(name, handle_type, kind, change)                                  \
    CL_API_ENTRY cl_int CL_API_CALL name(handle_type handle)                      \
    {                                                                             \
        cl_int unused_;                                                           \
        inject(FN_##name, &unused_); /* counts the call; never armed to fail */   \
        const cl_int status = REAL(name)(handle);                                 \
        atomic_fetch_add(&live[kind], status == CL_SUCCESS ? change : 0);         \
        return status;                                                            \
    }

COUNTED(clRetainContext, cl_context, CONTEXTS, 1)
COUNTED(clRetainCommandQueue, cl_command_queue, QUEUES, 1)
COUNTED(clRetainMemObject, cl_mem, BUFFERS, 1)
COUNTED(clRetainProgram, cl_program, PROGRAMS, 1)
COUNTED(clReleaseContext, cl_context, CONTEXTS, -1)
COUNTED(clReleaseCommandQueue, cl_command_queue, QUEUES, -1)
COUNTED(clReleaseProgram, cl_program, PROGRAMS, -1)
COUNTED(clReleaseKernel, cl_kernel, KERNELS, -1)
COUNTED(clReleaseMemObject, cl_mem, BUFFERS, -1)
COUNTED(clRetainEvent, cl_event, EVENTS, 1)
COUNTED(clReleaseEvent, cl_event, EVENTS, -1)
