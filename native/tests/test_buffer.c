/*
 * Device buffers (netcl_buffer_*): created zeroed, written, read and filled at offsets, sized,
 * retained and released; every bad argument fails with its message and leaves the buffer as it
 * was. Steps on them are covered by test_memory and test_enqueue.
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "test_util.h"

enum { N = 1000 };

static cl_uint reference_count(cl_mem mem)
{
    cl_uint count = 0;
    clGetMemObjectInfo(mem, CL_MEM_REFERENCE_COUNT, sizeof count, &count, NULL);
    return count;
}

/* The buffer still holds `expected`. */
static void expect_unchanged(netcl_context *ctx, cl_mem buffer, const float *expected,
                             const char *what)
{
    float now[N];
    REQUIRE_OK(netcl_buffer_read(ctx, buffer, 0, N, now));
    CHECK(memcmp(now, expected, sizeof now) == 0, "%s: the buffer changed", what);
}

static void expect_refused(netcl_status got, const char *fragment, const char *what)
{
    CHECK(got == NETCL_INVALID_ARGUMENT, "%s: status %s", what, netcl_status_name(got));
    CHECK(strstr(netcl_last_error(), fragment) != NULL, "%s: message '%s' lacks '%s'", what,
          netcl_last_error(), fragment);
}

int main(void)
{
    netcl_context *ctx = test_context();
    netcl_device_info info;
    REQUIRE_OK(netcl_context_get_info(ctx, &info));
    cl_mem buffer = NULL;
    REQUIRE_OK(netcl_buffer_create(ctx, N, &buffer));
    CHECK(buffer != NULL && reference_count(buffer) == 1, "one reference for the caller");
    uint64_t numel = 0;
    REQUIRE_OK(netcl_buffer_get_numel(ctx, buffer, &numel));
    CHECK(numel == N, "numel %llu", (unsigned long long)numel);

    float expected[N] = {0}, got[N];
    REQUIRE_OK(netcl_buffer_read(ctx, buffer, 0, N, got));
    CHECK(memcmp(got, expected, sizeof got) == 0, "a new buffer is zeroed");

    test_rng rng = {7};
    test_rng_fill(&rng, expected, N);
    REQUIRE_OK(netcl_buffer_write(ctx, buffer, 0, N, expected));
    /* Part of it, at an offset: the rest stays. */
    float part[10];
    test_rng_fill(&rng, part, 10);
    REQUIRE_OK(netcl_buffer_write(ctx, buffer, 990, 10, part));
    memcpy(expected + 990, part, sizeof part);
    REQUIRE_OK(netcl_buffer_fill(ctx, buffer, 3, 4, -2.5f));
    for (int i = 3; i < 7; ++i) expected[i] = -2.5f;
    REQUIRE_OK(netcl_buffer_read(ctx, buffer, 0, N, got));
    CHECK(memcmp(got, expected, sizeof got) == 0, "write, write at an offset and fill");
    float middle[5];
    REQUIRE_OK(netcl_buffer_read(ctx, buffer, 500, 5, middle));
    CHECK(memcmp(middle, expected + 500, sizeof middle) == 0, "read at an offset");

    /* Bad arguments: refused before anything is enqueued. */
    cl_mem none = NULL;
    expect_refused(netcl_buffer_create(NULL, N, &none), "context is NULL", "create without context");
    expect_refused(netcl_buffer_create(ctx, 0, &none), "numel 0", "create of 0 floats");
    expect_refused(netcl_buffer_create(ctx, info.max_alloc_bytes / sizeof(float) + 1, &none),
                   "its largest allocation", "create beyond the largest allocation");
    CHECK(none == NULL, "no buffer after a refused create");
    expect_refused(netcl_buffer_write(ctx, NULL, 0, 1, part), "buffer is NULL", "write to NULL");
    expect_refused(netcl_buffer_write(ctx, buffer, 0, 1, NULL), "values is NULL", "write from NULL");
    expect_refused(netcl_buffer_write(NULL, buffer, 0, 1, part), "context is NULL", "write without context");
    expect_refused(netcl_buffer_write(ctx, buffer, 0, 0, part), "numel is 0", "write of 0 floats");
    expect_refused(netcl_buffer_write(ctx, buffer, 995, 10, part),
                   "buffer holds 1000 floats, too few for offset 995 + numel 10", "write past the end");
    expect_refused(netcl_buffer_write(ctx, buffer, UINT64_MAX, 2, part), "too few for offset",
                   "write at a huge offset");
    expect_refused(netcl_buffer_fill(ctx, buffer, 1, N, 1.0f), "too few for offset 1 + numel 1000",
                   "fill past the end");
    expect_refused(netcl_buffer_read(ctx, buffer, N, 1, part), "too few for offset 1000", "read past the end");
    expect_refused(netcl_buffer_get_numel(ctx, buffer, NULL), "numel is NULL", "numel to NULL");
    expect_refused(netcl_buffer_retain(NULL), "buffer is NULL", "retain NULL");
    expect_unchanged(ctx, buffer, expected, "bad arguments");

    /* A buffer of another cl_context: refused by every call. */
    cl_platform_id platform;
    cl_device_id device;
    cl_int err = clGetPlatformIDs(1, &platform, NULL);
    err |= clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, NULL);
    cl_context other = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    cl_mem foreign = clCreateBuffer(other, CL_MEM_READ_WRITE, N * sizeof(float), NULL, &err);
    CHECK(err == CL_SUCCESS, "creating a foreign buffer: %d", err);
    expect_refused(netcl_buffer_write(ctx, foreign, 0, 1, part), "belongs to another cl_context",
                   "write to a foreign buffer");
    expect_refused(netcl_buffer_read(ctx, foreign, 0, 1, part), "belongs to another cl_context",
                   "read from a foreign buffer");
    expect_refused(netcl_buffer_fill(ctx, foreign, 0, 1, 0.0f), "belongs to another cl_context",
                   "fill of a foreign buffer");
    expect_refused(netcl_buffer_get_numel(ctx, foreign, &numel), "belongs to another cl_context",
                   "size of a foreign buffer");

    /* References: a retain adds one, a release drops one; NULL is accepted. */
    REQUIRE_OK(netcl_buffer_retain(buffer));
    CHECK(reference_count(buffer) == 2, "retained: %u references", reference_count(buffer));
    netcl_buffer_release(buffer);
    CHECK(reference_count(buffer) == 1, "released: %u references", reference_count(buffer));
    netcl_buffer_release(NULL);
    netcl_buffer_release(buffer);

    clReleaseMemObject(foreign);
    clReleaseContext(other);
    netcl_context_destroy(ctx);
    return test_finish("test_buffer");
}
