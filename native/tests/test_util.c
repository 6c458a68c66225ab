#define _GNU_SOURCE  /* RTLD_NEXT */
#include <dlfcn.h>
#include <time.h>

#include "test_util.h"

int test_failures = 0;
int test_checks = 0;

int test_finish(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
    return test_failures == 0 ? 0 : 1;
}

float test_rng_float(test_rng *rng)
{
    rng->state ^= rng->state >> 12;
    rng->state ^= rng->state << 25;
    rng->state ^= rng->state >> 27;
    const uint64_t bits = rng->state * 0x2545F4914F6CDD1DULL;
    return (float)((double)(bits >> 40) / (double)(1ULL << 24) * 2.0 - 1.0);
}

void test_rng_fill(test_rng *rng, float *out, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        out[i] = test_rng_float(rng);
    }
}

float *test_alloc_floats(size_t n)
{
    const size_t bytes = (n * sizeof(float) + 127) / 128 * 128;
    float *p = aligned_alloc(128, bytes ? bytes : 128);
    if (p == NULL) {
        fprintf(stderr, "out of memory allocating %zu floats\n", n);
        exit(1);
    }
    memset(p, 0, bytes);
    return p;
}

netcl_context *test_context(void)
{
    netcl_context *ctx = NULL;
    REQUIRE_OK(netcl_context_create(NULL, &ctx));
    return ctx;
}

netcl_param_group test_default_group(uint32_t first, uint32_t count)
{
    netcl_param_group g = {0};
    g.lr = 1e-2;
    g.alpha = 0.99;
    g.eps = 1e-8;
    g.first = first;
    g.count = count;
    return g;
}

netcl_tensor test_host_tensor(void *data, const void *grad, uint64_t numel)
{
    netcl_tensor t = {0};
    t.data = data;
    t.grad = grad;
    t.numel = numel;
    return t;
}

void test_take(test_reader *r, void *out, size_t bytes)
{
    if (!r->ok || (size_t)(r->end - r->at) < bytes) {
        r->ok = 0;
        memset(out, 0, bytes);
        return;
    }
    memcpy(out, r->at, bytes);  /* the files are little-endian, like x86-64 */
    r->at += bytes;
}

unsigned char *test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc(*size ? *size : 1);
    if (bytes != NULL && fread(bytes, 1, *size, f) != *size) {
        free(bytes);
        bytes = NULL;
    }
    fclose(f);
    return bytes;
}

void *test_real_function(const char *name)
{
    void *function = dlsym(RTLD_NEXT, name);
    if (function == NULL) {
        fprintf(stderr, "dlsym(%s) failed: %s\n", name, dlerror());
        exit(1);
    }
    return function;
}

void test_sleep_ms(long ms)
{
    const struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}
