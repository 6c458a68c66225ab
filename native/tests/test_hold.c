/* netcl_hold: calls its callback once, returns its status, ignores the pointers; NULL is refused. */
#include "test_util.h"

static int calls;

static netcl_status succeed(void)
{
    calls++;
    return NETCL_SUCCESS;
}

static netcl_status fail_out_of_memory(void)
{
    calls++;
    return NETCL_OUT_OF_HOST_MEMORY;
}

int main(void)
{
    float memory[4] = {1, 2, 3, 4};
    CHECK(netcl_hold(succeed) == NETCL_SUCCESS, "no pointers");
    CHECK(calls == 1, "called %d times", calls);
    CHECK(netcl_hold(succeed, (void *)memory, (void *)NULL, (void *)&calls) == NETCL_SUCCESS,
          "three pointers");
    CHECK(calls == 2, "called %d times", calls);
    CHECK(netcl_hold(fail_out_of_memory, (void *)memory) == NETCL_OUT_OF_HOST_MEMORY,
          "the callback's status is returned");
    CHECK(calls == 3, "called %d times", calls);
    CHECK(memory[0] == 1 && memory[3] == 4, "the pointers are not touched");

    CHECK(netcl_hold(NULL, (void *)memory) == NETCL_INVALID_ARGUMENT, "NULL callback");
    CHECK(strstr(netcl_last_error(), "then is NULL") != NULL, "message '%s'", netcl_last_error());
    CHECK(calls == 3 && memory[0] == 1, "a refused call changes nothing");
    CHECK(netcl_hold(succeed) == NETCL_SUCCESS && netcl_last_error()[0] == '\0',
          "a successful call clears the last error");
    return test_finish("test_hold");
}
