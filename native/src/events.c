/*
 * Events: the caller's wait lists for an enqueued step, the optimizer's own wait for a step it
 * enqueued (before the host touches state, or to learn whether the step failed), and the
 * public netcl_event_* helpers for callers without OpenCL bindings.
 */
#include "optimizer.h"

netcl_status netcl_wait_event(cl_event event, const char *what)
{
    netcl_signal_guard guard;
    netcl_signal_guard_begin(&guard);  /* PoCL may compile a kernel when it runs it */
    cl_int err = clWaitForEvents(1, &event);
    netcl_signal_guard_end(&guard);
    cl_int done = CL_COMPLETE;
    /* A failed command makes clWaitForEvents fail too; its own status says how. */
    const cl_int info = clGetEventInfo(event, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof done,
                                       &done, NULL);
    if (info == CL_SUCCESS && done < 0) {
        err = done;
    } else if (err == CL_SUCCESS) {
        err = info;
    }
    return err == CL_SUCCESS ? NETCL_SUCCESS : netcl_fail(err, "%s failed on the device", what);
}

netcl_status netcl_check_wait_list(const netcl_context *ctx, uint32_t count, const cl_event *events)
{
    if ((count == 0) != (events == NULL)) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "wait_events is %s but wait_count is %u",
                          events == NULL ? "NULL" : "not NULL", count);
    }
    for (uint32_t i = 0; i < count; ++i) {
        if (events[i] == NULL) {
            return netcl_fail(NETCL_INVALID_ARGUMENT, "wait event %u is NULL", i);
        }
        cl_context owner = NULL;
        cl_int done = CL_COMPLETE;
        cl_int err = clGetEventInfo(events[i], CL_EVENT_CONTEXT, sizeof owner, &owner, NULL);
        if (err == CL_SUCCESS) {
            err = clGetEventInfo(events[i], CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof done, &done,
                                 NULL);
        }
        if (err != CL_SUCCESS) {
            return netcl_fail(err, "wait event %u is not a valid cl_event", i);
        }
        if (owner != ctx->context) {
            return netcl_fail(NETCL_INVALID_ARGUMENT, "wait event %u belongs to another "
                              "cl_context than the netcl context's", i);
        }
        if (done < 0) {
            return netcl_fail(NETCL_INVALID_ARGUMENT, "wait event %u failed (%s): the step would "
                              "never run", i, netcl_status_name(done));
        }
    }
    return NETCL_SUCCESS;
}

void netcl_set_pending(netcl_rmsprop *opt, cl_event done)
{
    /* The older step runs before this one on the in-order queue, and drivers fail the commands
     * behind a failed one (PoCL through its in-order dependencies; a GPU fault ends the whole
     * context), so the newer event is expected to report a failure of either. */
    if (opt->pending != NULL) {
        clReleaseEvent(opt->pending);
    }
    opt->pending = done;
}

netcl_status netcl_settle(netcl_rmsprop *opt)
{
    if (opt->pending == NULL) {
        return NETCL_SUCCESS;
    }
    cl_event pending = opt->pending;
    opt->pending = NULL;
    const netcl_status status = netcl_wait_event(pending, "the RMSProp step");
    clReleaseEvent(pending);
    return status == NETCL_SUCCESS ? NETCL_SUCCESS : netcl_mark_broken(opt, status);
}

netcl_status netcl_event_wait(struct _cl_event *event)
{
    netcl_clear_error();
    if (event == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "event is NULL");
    }
    return netcl_wait_event(event, "the event's command");
}

void netcl_event_release(struct _cl_event *event)
{
    if (event != NULL) {
        clReleaseEvent(event);
    }
}
