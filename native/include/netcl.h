/*
 * netcl: RMSProp on OpenCL devices, PyTorch-exact, updating the caller's memory in place.
 *
 * Conventions (shared by every function below):
 *  - Every fallible call returns a netcl_status and writes results through out-parameters.
 *    NETCL_SUCCESS is 0; negative OpenCL error codes (-1 .. -1999) pass through unchanged;
 *    the library's own codes live in the range -2000 .. -2099.
 *  - After a failure, netcl_last_error() returns a message for the calling thread naming the
 *    offending argument and sizes. Nothing prints, logs or aborts.
 *  - Arguments are validated before anything is enqueued: a failed call leaves the caller's
 *    memory and the optimizer state unchanged.
 *  - Handles are opaque; each _create has a _destroy that accepts NULL.
 *  - An optimizer keeps its context alive: a context may be destroyed before its optimizers,
 *    which go on working; it is freed with the last of them. The caller must not use a context
 *    handle after netcl_context_destroy.
 *  - A step that fails on the device after it started changing parameters or state (a launch
 *    failing after an earlier one was enqueued, a failed wait) cannot be undone: it returns the
 *    OpenCL status, and from then on every call on that optimizer returns NETCL_BROKEN with a
 *    message naming the first failure; only netcl_rmsprop_destroy remains.
 *  - A netcl_rmsprop is not thread-safe: one thread at a time may use it. Contexts may be
 *    created and destroyed on any threads at once. Optimizers stepped on different threads at
 *    once should each have their own context: a context's queue and staged-bytes counter are
 *    shared by its optimizers.
 *
 * OpenCL handle types are only forward-declared here, so this header needs no OpenCL headers;
 * they are the same types as cl_context, cl_device_id, cl_command_queue, cl_mem and cl_event.
 */
#ifndef NETCL_H
#define NETCL_H

#include <stdint.h>

#if defined(NETCL_BUILDING_LIBRARY)
#define NETCL_API __attribute__((visibility("default")))
#else
#define NETCL_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

struct _cl_context;
struct _cl_device_id;
struct _cl_command_queue;
struct _cl_mem;
struct _cl_event;

typedef int32_t netcl_status;

enum netcl_status_code {
    NETCL_SUCCESS = 0,
    NETCL_INVALID_ARGUMENT = -2000,    /* a NULL handle or pointer, a bad length or value */
    NETCL_NO_PLATFORM = -2001,         /* the ICD loader found no OpenCL platform */
    NETCL_NO_DEVICE = -2002,           /* no device, or none matches the selector */
    NETCL_OUT_OF_HOST_MEMORY = -2003,  /* malloc failed */
    NETCL_STATE_MISMATCH = -2004,      /* a tensor's length differs from its stored state */
    NETCL_UNSUPPORTED = -2005,         /* the device or queue lacks something netcl needs */
    NETCL_BUILD_FAILED = -2006,        /* the embedded kernels did not compile on the device */
    NETCL_BROKEN = -2007               /* an earlier step failed on the device after it started
                                          changing memory; the optimizer refuses every call */
};

/* The most parameters (tensors) one optimizer holds: slot bookkeeping is bounded by it. */
#define NETCL_MAX_PARAMETERS (1u << 20)

/*
 * How steps run. The kernel path launches the fused OpenCL kernel. The host path runs the same
 * update, bit for bit, on the calling thread without any OpenCL call: it needs a CPU device that
 * shares host memory (netcl's state then lives in host memory) and host tensors; larger steps
 * also use a pool of worker threads. AUTO takes the host path wherever it can: on such devices it
 * was as fast as the kernel or faster at every size measured (2^10 to 2^24 floats), and small
 * steps skip OpenCL's dispatch. The environment variable NETCL_PATH (auto, kernel, host) sets an
 * optimizer's initial path.
 */
enum netcl_path {
    NETCL_PATH_AUTO = 0,
    NETCL_PATH_KERNEL = 1,
    NETCL_PATH_HOST = 2
};

enum netcl_memory_mode {
    NETCL_MEMORY_AUTO = 0,   /* zero-copy on CPU devices (aligned memory), else staged */
    NETCL_MEMORY_STAGED = 1  /* always copy host tensors to device buffers and back */
};

/*
 * The binary interface: every change to a struct's layout or a function's signature raises it,
 * and with it the library's SOVERSION (libnetcl.so.N). Bindings compare netcl_abi_version()
 * with the value they were generated from and refuse a library that differs.
 */
#define NETCL_ABI_VERSION 2

/* The ABI version the library was built with (NETCL_ABI_VERSION of its netcl.h). */
NETCL_API int32_t netcl_abi_version(void);

/* The library version, e.g. "0.1.0". */
NETCL_API const char *netcl_version(void);

/* A static name for a status, e.g. "NETCL_INVALID_ARGUMENT" or "CL_OUT_OF_RESOURCES". */
NETCL_API const char *netcl_status_name(netcl_status status);

/* The calling thread's message for its last failed call ("" if none). Valid until its next call. */
NETCL_API const char *netcl_last_error(void);

/* ---- devices ---------------------------------------------------------------------------- */

typedef struct netcl_device_info {
    char name[256];
    char vendor[256];
    char version[128];           /* CL_DEVICE_VERSION, e.g. "OpenCL 3.0 PoCL ..." */
    uint64_t global_mem_bytes;
    uint64_t max_alloc_bytes;
    uint32_t platform_index;
    uint32_t device_index;       /* within its platform */
    uint32_t global_index;       /* across all platforms, the order netcl_device_count counts */
    int32_t is_gpu;
    int32_t is_accelerator;
    int32_t is_cpu;
    int32_t host_unified_memory; /* 1 when the device shares host memory */
    int32_t correctly_rounded_divide_sqrt; /* 1 when float divide and sqrt can be correctly
                                              rounded, which netcl needs to run exactly */
} netcl_device_info;

/* Number of OpenCL devices over all platforms. */
NETCL_API netcl_status netcl_device_count(uint32_t *count);

/* Information on the device with the given global index. */
NETCL_API netcl_status netcl_device_get_info(uint32_t global_index, netcl_device_info *info);

/* ---- context ---------------------------------------------------------------------------- */

typedef struct netcl_context netcl_context;

/*
 * What a default device is chosen for, when neither a selector nor NETCL_DEVICE names one.
 * Host tensors are copied to and from a device that does not share host memory at every step
 * (over PCIe on a discrete GPU), so for them a CPU device that shares host memory comes first,
 * where steps are zero-copy: NETCL_FOR_HOST_TENSORS prefers a CPU device sharing host memory,
 * then any device sharing host memory, then a GPU, an accelerator, a CPU device.
 * NETCL_FOR_DEVICE_TENSORS (tensors kept in device buffers, see netcl_buffer_create) prefers a
 * GPU that has its own memory, then any GPU, an accelerator, a CPU device. Either skips devices
 * netcl cannot run exactly (without correctly rounded divide and sqrt); ties go to the lower
 * global index.
 */
enum netcl_device_use {
    NETCL_FOR_HOST_TENSORS = 0,
    NETCL_FOR_DEVICE_TENSORS = 1
};

/*
 * Creates a context on a device picked by `selector`: "2" (global index), "1:0"
 * (platform:device) or a case-insensitive substring of the device name. NULL or "" uses the
 * environment variable NETCL_DEVICE, and without it the default device for host tensors
 * (NETCL_FOR_HOST_TENSORS). A selector may pick any device; one netcl cannot run exactly fails
 * with NETCL_UNSUPPORTED. With no device netcl can run exactly the default fails with
 * NETCL_NO_DEVICE, naming the devices it skipped.
 * Contexts on one device within a process share one cl_context and the kernels built for it:
 * the first builds them (tens of milliseconds), further ones created while one lives cost well
 * under a millisecond, and the last one freed releases them. Each context has its own in-order
 * queue, so optimizers on different contexts never wait for each other.
 */
NETCL_API netcl_status netcl_context_create(const char *selector, netcl_context **context);

/* netcl_context_create with the default device chosen for `use` (enum netcl_device_use). */
NETCL_API netcl_status netcl_context_create_for(int32_t use, const char *selector,
                                                netcl_context **context);

/*
 * Creates a context on the caller's existing OpenCL objects, so that netcl shares their queue
 * (no second context, no copies between them). The objects are retained and released again
 * when the netcl context is freed. The queue must be in-order. cl_device may be NULL: the
 * queue's device. The kernels are built for each such context; nothing is shared with other
 * netcl contexts.
 */
NETCL_API netcl_status netcl_context_create_from_cl(struct _cl_context *cl_context,
                                                    struct _cl_device_id *cl_device,
                                                    struct _cl_command_queue *cl_queue,
                                                    netcl_context **context);

/* Drops the caller's handle: the context is freed now, after its queued work, or with the last
 * optimizer created on it. */
NETCL_API void netcl_context_destroy(netcl_context *context);

NETCL_API netcl_status netcl_context_get_info(const netcl_context *context, netcl_device_info *info);

/* NETCL_MEMORY_STAGED forces copies even where zero-copy is possible (for tests and measurements). */
NETCL_API netcl_status netcl_context_set_memory_mode(netcl_context *context, int32_t mode);

/* Bytes copied between host tensors and device buffers so far (0 on the zero-copy path). */
NETCL_API netcl_status netcl_context_get_staged_bytes(const netcl_context *context, uint64_t *bytes);

/* ---- device buffers --------------------------------------------------------------------- */

/*
 * Device-resident tensors: float32 buffers on a context's device, for netcl_tensor's data_mem
 * and grad_mem, which steps never copy (a host tensor on a discrete GPU crosses PCIe twice per
 * step). These calls serve programs without OpenCL bindings of their own (netcl's Java layer);
 * a program with OpenCL code may use its own cl_mem buffers instead, on the netcl context's
 * cl_context (netcl_context_create_from_cl shares the caller's). Offsets and lengths count
 * floats. A copy or fill runs on the context's queue after the work queued there before it and
 * returns when it is done. A buffer must be a cl_mem buffer of the context's cl_context holding
 * offset + numel floats: one of another context, an image or one too small fails with
 * NETCL_INVALID_ARGUMENT before anything happens, one OpenCL rejects with OpenCL's status
 * (OpenCL cannot tell a dangling or mistyped pointer from a buffer: those are undefined).
 */

/* A new zeroed buffer of `numel` floats; the caller holds its one reference (netcl_buffer_release). */
NETCL_API netcl_status netcl_buffer_create(netcl_context *context, uint64_t numel,
                                           struct _cl_mem **buffer);

NETCL_API netcl_status netcl_buffer_write(netcl_context *context, struct _cl_mem *buffer,
                                          uint64_t offset, uint64_t numel, const float *values);

NETCL_API netcl_status netcl_buffer_read(netcl_context *context, struct _cl_mem *buffer,
                                         uint64_t offset, uint64_t numel, float *values);

NETCL_API netcl_status netcl_buffer_fill(netcl_context *context, struct _cl_mem *buffer,
                                         uint64_t offset, uint64_t numel, float value);

/* The buffer's size in floats, after checking that it is a buffer of the context's cl_context. */
NETCL_API netcl_status netcl_buffer_get_numel(const netcl_context *context, struct _cl_mem *buffer,
                                              uint64_t *numel);

/* One more reference on a buffer (clRetainMemObject), and one less (clReleaseMemObject; NULL is
 * accepted). A step's plan holds its own references on the buffers it uses. */
NETCL_API netcl_status netcl_buffer_retain(struct _cl_mem *buffer);
NETCL_API void netcl_buffer_release(struct _cl_mem *buffer);

/* ---- RMSProp ---------------------------------------------------------------------------- */

/*
 * Element types of a tensor's data and gradient (both have the tensor's type). For BF16 and
 * FP16 parameters netcl keeps a float32 master copy beside the state ("master" state, made
 * from the parameter at its first step): the update runs in float32 on the master exactly as
 * for FP32 parameters, and the parameter receives the master rounded to nearest even.
 */
enum netcl_dtype {
    NETCL_FP32 = 0,
    NETCL_BF16 = 1,
    NETCL_FP16 = 2
};

typedef struct netcl_rmsprop netcl_rmsprop;

/*
 * One tensor of a step: data updated in place and its gradient, of `numel` elements of type
 * `dtype` (enum netcl_dtype, 0 = FP32), either in host memory (data/grad, aligned to the
 * element size) or in the caller's device buffers (data_mem/grad_mem + offsets in elements, on
 * the netcl context's cl_context; FP32 only). grad == NULL and grad_mem == NULL means "no
 * gradient this step": the tensor and its state are left alone and its step count does not move.
 */
typedef struct netcl_tensor {
    void *data;
    const void *grad;
    struct _cl_mem *data_mem;
    struct _cl_mem *grad_mem;
    uint64_t data_offset;
    uint64_t grad_offset;
    uint64_t numel;
    int32_t dtype;
} netcl_tensor;

/*
 * The hyperparameters of one parameter group (PyTorch's names and defaults: lr 1e-2, alpha
 * 0.99, eps 1e-8, the rest 0) and the tensors [first, first + count) of the step's tensor list.
 */
typedef struct netcl_param_group {
    double lr;
    double alpha;
    double eps;
    double weight_decay;
    double momentum;
    int32_t centered;
    int32_t maximize;
    uint32_t first;
    uint32_t count;
} netcl_param_group;

/* The per-parameter state of one tensor. step == 0 with no buffers means "no state yet". */
typedef struct netcl_param_state {
    uint64_t step;
    uint64_t numel;
    int32_t has_square_avg;
    int32_t has_momentum_buffer;
    int32_t has_grad_avg;
    int32_t has_master;          /* BF16/FP16 parameters: the float32 master copy */
} netcl_param_state;

/* The optimizer keeps `context` alive until netcl_rmsprop_destroy (see netcl_context_destroy). */
NETCL_API netcl_status netcl_rmsprop_create(netcl_context *context, netcl_rmsprop **optimizer);

NETCL_API void netcl_rmsprop_destroy(netcl_rmsprop *optimizer);

/* Forces a path (enum netcl_path) for later steps; NETCL_PATH_HOST fails with NETCL_UNSUPPORTED
 * on devices that do not share host memory. */
NETCL_API netcl_status netcl_rmsprop_set_path(netcl_rmsprop *optimizer, int32_t path);

/* The path the last successful step took (NETCL_PATH_KERNEL or NETCL_PATH_HOST). */
NETCL_API netcl_status netcl_rmsprop_get_last_path(const netcl_rmsprop *optimizer, int32_t *path);

/*
 * One RMSProp step over `tensor_count` tensors, numbered 0.. in the order given (PyTorch's
 * parameter numbering: the state of tensor i belongs to parameter i). The groups must cover the
 * tensors exactly once, in order. State a tensor needs but lacks (all of it at its first step, a
 * momentum buffer once momentum becomes > 0, grad_avg once centered) starts at zero. Waits for
 * completion (of this step only, on a queue shared with the caller), and for an earlier
 * enqueued step first.
 */
NETCL_API netcl_status netcl_rmsprop_step(netcl_rmsprop *optimizer,
                                          const netcl_param_group *groups, uint32_t group_count,
                                          const netcl_tensor *tensors, uint32_t tensor_count);

/*
 * What a step does around the update, for mixed-precision training (PyTorch's GradScaler and
 * clip_grad_norm_, fused into the step's one pass). Each gradient element, converted to float32,
 * is multiplied by inv_scale, then by clip_coef (two float32 roundings, as unscale_ and then
 * clip_grad_norm_ do in place), then used as the gradient. 1 and 1 change nothing. inv_scale is
 * finite; clip_coef is in [0, 1], or NaN (clip_grad_norm_'s coefficient for a non-finite norm:
 * the step then sees NaN gradients, as in PyTorch).
 * struct_size must be sizeof(netcl_step_options): the struct may grow in later versions.
 */
typedef struct netcl_step_options {
    uint32_t struct_size;
    float inv_scale;
    float clip_coef;
} netcl_step_options;

/* netcl_rmsprop_step with the gradients scaled on the fly (see netcl_step_options). */
NETCL_API netcl_status netcl_rmsprop_step_with(netcl_rmsprop *optimizer,
                                               const netcl_param_group *groups,
                                               uint32_t group_count, const netcl_tensor *tensors,
                                               uint32_t tensor_count,
                                               const netcl_step_options *options);

/*
 * Per-tensor statistics of the gradients, each element converted to float32 and multiplied by
 * inv_scale first: the sum of squares (accumulated in double), the largest magnitude, and
 * whether any element of the gradient as given was inf or NaN. Tensors without a gradient get
 * zeros. Device gradients (grad_mem) are reduced by a kernel, one launch per gradient buffer,
 * after the work queued on the context's queue; its sum is accumulated in double where the
 * device has cl_khr_fp64, else in compensated float (about 44 bits; squares beyond float32's
 * range are inf, as in PyTorch's float32 norm). Every tensor is checked before any is read.
 * Nothing is changed.
 */
typedef struct netcl_grad_stats {
    double sum_squares;
    double max_abs;
    int32_t nonfinite;
} netcl_grad_stats;

NETCL_API netcl_status netcl_rmsprop_grad_stats(netcl_rmsprop *optimizer,
                                                const netcl_tensor *tensors, uint32_t tensor_count,
                                                float inv_scale, netcl_grad_stats *stats);

/*
 * Multiplies every gradient in place by `factor` (in float32, rounded back to the tensor's type
 * to nearest even): an explicit unscale or clip. When `stats` is not NULL it receives, in the
 * same pass, what netcl_rmsprop_grad_stats(..., factor, stats) would have reported before.
 * Host and device gradients alike (not in a CL_MEM_READ_ONLY buffer: NETCL_INVALID_ARGUMENT);
 * a device failure after scaled values may have been written leaves the optimizer broken
 * (NETCL_BROKEN from then on), as a step's does.
 */
NETCL_API netcl_status netcl_rmsprop_scale_grads(netcl_rmsprop *optimizer,
                                                 const netcl_tensor *tensors,
                                                 uint32_t tensor_count, float factor,
                                                 netcl_grad_stats *stats);

/*
 * The same step, enqueued without waiting (after CLBlast's style), for device-resident tensors
 * on a queue the caller shares: the step's commands go to the context's in-order queue and
 * start once the `wait_count` events of `wait_events` (events of the context's cl_context) have
 * completed; `*event`, unless `event` is NULL, receives an event that completes when the whole
 * step has, which the caller releases (netcl_event_release or clReleaseEvent). It always takes
 * the kernel path. `options` may be NULL (no gradient scaling), else as for
 * netcl_rmsprop_step_with.
 *  - Until that event completes the caller must not write the step's tensors (data and grads)
 *    nor read their data, except by commands ordered after the step: later commands on the same
 *    queue, or commands waiting for the event. netcl_buffer_read and _write on the same context
 *    are. Host tensors are allowed under the same rule for their memory.
 *  - netcl waits for the step itself where it touches state from the host: netcl_rmsprop_step,
 *    read_state, read_state_range, read_master, write_state and load_state wait for it first.
 *    get_state and get_param_count count it at once. An enqueue that creates state or a new launch plan (a first step, other
 *    tensors) may wait for work queued before it; steady-state enqueues never wait.
 *    netcl_rmsprop_destroy waits for the optimizer's enqueued steps.
 *  - Errors: every argument, the wait list included (no NULL entry, wait_events NULL exactly
 *    when wait_count is 0, each event of the context's cl_context and not failed), is checked
 *    before anything is enqueued, and a failure then changes nothing and returns no event. A
 *    failure while enqueueing after the step's first launch, or of the step on the device that
 *    a later call finds while it waits for it, marks the optimizer broken (see the conventions
 *    at the top); the event then reports the failure too.
 */
NETCL_API netcl_status netcl_rmsprop_enqueue_step(netcl_rmsprop *optimizer,
                                                  const netcl_param_group *groups,
                                                  uint32_t group_count,
                                                  const netcl_tensor *tensors,
                                                  uint32_t tensor_count,
                                                  const netcl_step_options *options,
                                                  uint32_t wait_count,
                                                  struct _cl_event *const *wait_events,
                                                  struct _cl_event **event);

/* Waits for an event (clWaitForEvents); returns the failure status of its command, if any. */
NETCL_API netcl_status netcl_event_wait(struct _cl_event *event);

/* Releases an event (clReleaseEvent); NULL is accepted. */
NETCL_API void netcl_event_release(struct _cl_event *event);

/* Number of parameters the optimizer holds state slots for (1 + highest index ever stepped). */
NETCL_API netcl_status netcl_rmsprop_get_param_count(const netcl_rmsprop *optimizer, uint32_t *count);

NETCL_API netcl_status netcl_rmsprop_get_state(const netcl_rmsprop *optimizer, uint32_t index,
                                               netcl_param_state *state);

/*
 * Copies a parameter's state buffers out; each pointer must hold `numel` floats when the buffer
 * exists (see netcl_rmsprop_get_state) and may be NULL when it does not. The master copy of a
 * BF16/FP16 parameter comes out through netcl_rmsprop_read_master.
 */
NETCL_API netcl_status netcl_rmsprop_read_state(const netcl_rmsprop *optimizer, uint32_t index,
                                                uint64_t numel, float *square_avg,
                                                float *momentum_buffer, float *grad_avg);

/* Copies a BF16/FP16 parameter's float32 master copy out (`numel` floats). */
NETCL_API netcl_status netcl_rmsprop_read_master(const netcl_rmsprop *optimizer, uint32_t index,
                                                 uint64_t numel, float *master);

/* One of a parameter's state buffers (see netcl_param_state for which ones exist). */
enum netcl_state_buffer {
    NETCL_STATE_SQUARE_AVG = 0,
    NETCL_STATE_MOMENTUM_BUFFER = 1,
    NETCL_STATE_GRAD_AVG = 2,
    NETCL_STATE_MASTER = 3
};

/*
 * Copies elements first .. first+count-1 of one state buffer (a netcl_state_buffer) of a
 * parameter out to `out` (count floats), so that a large state can stream through a small
 * buffer, as a checkpoint writes it to a file. The buffer must exist and hold the range.
 */
NETCL_API netcl_status netcl_rmsprop_read_state_range(const netcl_rmsprop *optimizer,
                                                      uint32_t index, int32_t buffer,
                                                      uint64_t first, uint64_t count, float *out);

/*
 * Replaces a parameter's state: NULL buffers are absent; square_avg == NULL with step == 0
 * clears the state. The values are copied exactly. step is at most 2^63 - 1 (a step past it is
 * refused), index below NETCL_MAX_PARAMETERS.
 */
NETCL_API netcl_status netcl_rmsprop_write_state(netcl_rmsprop *optimizer, uint32_t index,
                                                 uint64_t step, uint64_t numel,
                                                 const float *square_avg,
                                                 const float *momentum_buffer,
                                                 const float *grad_avg);

/* The state of one parameter for netcl_rmsprop_load_state; see netcl_rmsprop_write_state. */
typedef struct netcl_state_values {
    uint64_t step;
    uint64_t numel;
    const float *square_avg;
    const float *momentum_buffer;
    const float *grad_avg;
    const float *master;         /* BF16/FP16 parameters; NULL: made from the parameter */
} netcl_state_values;

/*
 * Replaces the state of parameters 0 .. count-1 at once (states[i] as in write_state). All of it
 * is checked and every allocation is made before anything is written: on a bad value or a device
 * out of memory, no parameter's state changes.
 */
NETCL_API netcl_status netcl_rmsprop_load_state(netcl_rmsprop *optimizer, uint32_t count,
                                                const netcl_state_values *states);

/* Number of kernel launches the last successful step enqueued (one per group and memory span;
 * 0 on the host path). */
NETCL_API netcl_status netcl_rmsprop_get_last_launch_count(const netcl_rmsprop *optimizer,
                                                           uint32_t *launches);

/* ---- keeping a foreign caller's memory alive during a call ------------------------------- */

/* The function netcl_hold calls; its status becomes netcl_hold's. */
typedef netcl_status (*netcl_hold_callback)(void);

/*
 * Calls then() and returns its status; then == NULL gives NETCL_INVALID_ARGUMENT. The variadic
 * arguments are pointers that netcl_hold never reads. They exist for callers through Java's
 * Foreign Function & Memory API: its linker keeps the arena of every memory segment passed to a
 * call open until the call returns (closing it meanwhile throws instead of freeing), so passing
 * the segments whose memory then() uses keeps that memory valid for all of then(). Chained
 * calls (then() calling netcl_hold again) hold any number of arenas.
 */
NETCL_API netcl_status netcl_hold(netcl_hold_callback then, ...);

/*
 * netcl_rmsprop_step_with (netcl_rmsprop_step when options is NULL) with netcl_hold's variadic
 * pointers, never read: a foreign caller passes the segments of the step's tensors there and
 * so holds their arenas for the step itself, without netcl_hold's call back into the caller
 * (which cost a Java step 60 to 75 ns, more before the JIT compiled it). Callers with more
 * arenas than one call takes chain netcl_hold calls and make this call innermost.
 */
NETCL_API netcl_status netcl_rmsprop_step_holding(netcl_rmsprop *optimizer,
                                                  const netcl_param_group *groups,
                                                  uint32_t group_count,
                                                  const netcl_tensor *tensors,
                                                  uint32_t tensor_count,
                                                  const netcl_step_options *options, ...);

#ifdef __cplusplus
}
#endif

#endif /* NETCL_H */
