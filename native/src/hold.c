/*
 * netcl_hold: a call frame for foreign callers. Its variadic pointers are never read; Java's FFM
 * linker keeps the arenas of the segments passed there open until the call returns.
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
