/*
 * Each variant is its own loop, so the compiler vectorizes a body without branches (-O3
 * -march=native, OpenMP `parallel for simd` over all cores).
 */
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "c_loop.h"

int c_loop_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void c_loop_rmsprop(const netcl_param_group *h, float *restrict p, const float *restrict g,
                    float *restrict v, float *restrict m, float *restrict ga, size_t n)
{
    const float a = (float)h->alpha, oma = (float)(1.0 - h->alpha), eps = (float)h->eps;
    const float neg_lr = (float)-h->lr, wd = (float)h->weight_decay, mom = (float)h->momentum;
    if (h->centered && h->momentum > 0.0) {
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; ++i) {
            const float gi = g[i];
            const float vi = v[i] * a + oma * gi * gi;
            const float gai = ga[i] * a + oma * gi;
            const float mi = m[i] * mom + gi / (sqrtf(vi - gai * gai) + eps);
            v[i] = vi;
            ga[i] = gai;
            m[i] = mi;
            p[i] += neg_lr * mi;
        }
    } else if (h->momentum > 0.0) {
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; ++i) {
            const float gi = g[i];
            const float vi = v[i] * a + oma * gi * gi;
            const float mi = m[i] * mom + gi / (sqrtf(vi) + eps);
            v[i] = vi;
            m[i] = mi;
            p[i] += neg_lr * mi;
        }
    } else if (h->weight_decay != 0.0) {
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; ++i) {
            const float gi = g[i] + wd * p[i];
            const float vi = v[i] * a + oma * gi * gi;
            v[i] = vi;
            p[i] += neg_lr * gi / (sqrtf(vi) + eps);
        }
    } else {
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; ++i) {
            const float gi = g[i];
            const float vi = v[i] * a + oma * gi * gi;
            v[i] = vi;
            p[i] += neg_lr * gi / (sqrtf(vi) + eps);
        }
    }
}
