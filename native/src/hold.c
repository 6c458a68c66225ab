/*
 * Calls for foreign callers that hold memory open: netcl_hold (a call frame around a callback)
 * and netcl_rmsprop_step_holding (the step itself). Their variadic pointers are never read;
 * Java's FFM linker keeps the arenas of the segments passed there open until the call returns.
 */
#include "internal.h"

netcl_status netcl_hold(netcl_hold_callback then, ...)
{
    netcl_clear_error();
    if (then == NULL) {
        return netcl_fail(NETCL_INVALID_ARGUMENT, "then is NULL");
    }
    return then();
}

netcl_status netcl_rmsprop_step_holding(netcl_rmsprop *optimizer, const netcl_param_group *groups,
                                        uint32_t group_count, const netcl_tensor *tensors,
                                        uint32_t tensor_count, const netcl_step_options *options,
                                        ...)
{
    return options == NULL
               ? netcl_rmsprop_step(optimizer, groups, group_count, tensors, tensor_count)
               : netcl_rmsprop_step_with(optimizer, groups, group_count, tensors, tensor_count,
                                         options);
}
