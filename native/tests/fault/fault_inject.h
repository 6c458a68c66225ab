/*
 * Fault injection for the C tests: the OpenCL functions netcl calls, interposed (see
 * fault_inject.c), so that a test can make the nth call of one of them fail with a chosen
 * status, count the calls a scenario makes, and count the OpenCL objects alive.
 *
 * Calls are counted, and a fault injected, only between netcl_fault_arm and netcl_fault_disarm.
 * Counting is thread-safe; arming and injecting are for one test thread.
 */
#ifndef NETCL_FAULT_INJECT_H
#define NETCL_FAULT_INJECT_H

#include <stddef.h>
#include <stdint.h>

/* Objects created or retained through the OpenCL API and not yet released, by kind. */
typedef struct netcl_fault_objects {
    long contexts;
    long queues;
    long programs;
    long kernels;
    long buffers;
    long events;
} netcl_fault_objects;

/*
 * Starts counting calls from zero; the `nth` call (from 1) of `function` fails with `code`
 * without reaching OpenCL. nth == 0 (or function NULL) only counts. Returns 0 when `function`
 * is not one the harness can make fail.
 */
int netcl_fault_arm(const char *function, unsigned nth, int32_t code);

/* Stops counting and injecting; the counts of the last armed window stay readable. */
void netcl_fault_disarm(void);

/* Calls of `function` in the last armed window. */
unsigned netcl_fault_calls(const char *function);

/* Whether the armed fault was injected. */
int netcl_fault_fired(void);

/*
 * Whether a command that moves data (a kernel launch, a buffer read, write or fill) was enqueued
 * successfully in the armed window before the fault fired.
 */
int netcl_fault_work_before_fault(void);

/* The interposed functions, in a fixed order, and whether a fault can be injected into each
 * (retains and releases are only counted: see fault_inject.c). */
size_t netcl_fault_function_count(void);
const char *netcl_fault_function_name(size_t index);
int netcl_fault_function_injectable(size_t index);

/* -1 when `function` is not interposed, else its index. */
long netcl_fault_function_index(const char *function);

netcl_fault_objects netcl_fault_live_objects(void);

/*
 * While set, devices answer CL_FALSE to CL_DEVICE_HOST_UNIFIED_MEMORY: a context created then
 * on PoCL's CPU device takes the paths of a discrete GPU (state in device buffers, host tensors
 * staged), so those paths run and fail in CI too.
 */
void netcl_fault_hide_unified_memory(int hide);

#endif
