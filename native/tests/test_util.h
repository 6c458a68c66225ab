/* Small helpers shared by the C tests: checks that count failures, a seeded RNG, aligned memory. */
#ifndef NETCL_TEST_UTIL_H
#define NETCL_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netcl.h"

extern int test_failures;
extern int test_checks;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        test_checks++;                                                                     \
        if (!(cond)) {                                                                     \
            test_failures++;                                                               \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
        }                                                                                  \
    } while (0)

/* Aborts the test program when a call that must succeed fails. */
#define REQUIRE_OK(call)                                                                   \
    do {                                                                                   \
        netcl_status status_ = (call);                                                     \
        if (status_ != NETCL_SUCCESS) {                                                    \
            fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #call,       \
                    netcl_status_name(status_), netcl_last_error());                       \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/* Reads a little-endian data file (the committed trajectories) value by value: a read past
 * the end clears `ok` and yields zeros. */
typedef struct test_reader {
    const unsigned char *at, *end;
    int ok;
} test_reader;
void test_take(test_reader *r, void *out, size_t bytes);

/* A whole file in memory (free with free()), or NULL. */
unsigned char *test_read_file(const char *path, size_t *size);

/* Prints the summary line and returns the process exit code. */
int test_finish(const char *name);

/* xorshift64*: deterministic values in [-1, 1). */
typedef struct test_rng { uint64_t state; } test_rng;
float test_rng_float(test_rng *rng);
void test_rng_fill(test_rng *rng, float *out, size_t n);

/* 128-byte aligned, zeroed; free with free(). */
float *test_alloc_floats(size_t n);

/* A context on the default device (the PoCL CPU device in CI). */
netcl_context *test_context(void);

/* The defaults of PyTorch's RMSprop for `count` tensors starting at `first`. */
netcl_param_group test_default_group(uint32_t first, uint32_t count);

/* The next definition of the OpenCL function `name` after the test's own (dlsym RTLD_NEXT), for
 * tests that define an OpenCL entry point to simulate a device and forward the rest; exits when
 * there is none. REAL(type, name) is it as a function pointer of `type`. */
void *test_real_function(const char *name);
#define REAL(type, name) ((type)(uintptr_t)test_real_function(#name))

/* Sleeps for `ms` milliseconds (a pause between steps, an idle worker pool). */
void test_sleep_ms(long ms);

/* A host tensor. */
netcl_tensor test_host_tensor(void *data, const void *grad, uint64_t numel);

#endif
