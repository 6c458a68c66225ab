/*
 * Fused RMSProp, one pass over memory: each input is read once, each output written once.
 *
 * A launch covers one memory span (one data buffer and one grad buffer) of a parameter group.
 * The host cuts every tensor of the span into chunks described by a table of ulong4
 * (data offset, grad offset, state offset, length), offsets in floats. A work-group of
 * NETCL_CHUNK items handles one chunk, one element per item, so neighbouring work-items touch
 * neighbouring floats: PoCL vectorizes its loop over work-items and GPUs coalesce. There is
 * no loop in the kernel (PoCL then cannot vectorize across work-items: 8x slower, measured) and
 * no per-item bounds check on full chunks (PoCL masks every lane of a kernel with one, 2-3x
 * slower); only each tensor's last, shorter chunk is masked. One launch covers a whole span.
 *
 * Each operation rounds like PyTorch 1.13's CPU kernels (GCC contracts `a + b * c` there into
 * one fma), so results match torch.optim.RMSprop bit for bit; contraction is therefore off here
 * and every fma is written out.
 */
#pragma OPENCL FP_CONTRACT OFF

#ifndef NETCL_CHUNK
#error "the host defines NETCL_CHUNK (the work-group size) when building this program"
#endif

typedef struct {
    float neg_lr;          /* (float)(-lr) */
    float alpha;           /* (float)alpha */
    float one_minus_alpha; /* (float)(1 - alpha), computed in double like PyTorch */
    float eps;
    float weight_decay;
    float momentum;
} rmsprop_hyper;

inline void rmsprop_update(global float *restrict p, global const float *restrict g,
                           global float *restrict v, global float *restrict mb,
                           global float *restrict ga, const ulong ip, const ulong ig,
                           const ulong is, const rmsprop_hyper h, const int weight_decay,
                           const int maximize, const int momentum, const int centered)
{
    const float param = p[ip];
    float grad = maximize ? -g[ig] : g[ig];
    if (weight_decay) {
        grad = fma(h.weight_decay, param, grad);                    /* grad.add(p, alpha=wd) */
    }
    const float square_avg = fma(h.one_minus_alpha * grad, grad, v[is] * h.alpha);
    v[is] = square_avg;
    float avg;
    if (centered) {
        const float grad_avg = fma(h.one_minus_alpha, grad, ga[is] * h.alpha);
        ga[is] = grad_avg;
        avg = sqrt(fma(-grad_avg, grad_avg, square_avg)) + h.eps;   /* addcmul(value=-1) */
    } else {
        avg = sqrt(square_avg) + h.eps;
    }
    if (momentum) {
        const float buf = mb[is] * h.momentum + grad / avg;        /* addcdiv_(grad, avg) */
        mb[is] = buf;
        p[ip] = fma(h.neg_lr, buf, param);                          /* add_(buf, alpha=-lr) */
    } else {
        p[ip] = param + (h.neg_lr * grad) / avg;                    /* addcdiv_(value=-lr) */
    }
}

#define RMSPROP_ARGS                                                                        \
    global float *restrict p, global const float *restrict g, global float *restrict v,    \
    global float *restrict mb, global float *restrict ga, global const ulong4 *restrict chunks,    \
    const uint first_chunk, const rmsprop_hyper h

#define RMSPROP_KERNEL(NAME, WD, MAX, MOM, CEN)                                             \
    kernel __attribute__((reqd_work_group_size(NETCL_CHUNK, 1, 1)))                         \
    void rmsprop_##NAME(RMSPROP_ARGS)                                                       \
    {                                                                                       \
        const ulong4 c = chunks[first_chunk + get_group_id(0)];                             \
        const ulong lid = get_local_id(0);                                                  \
        /* c.w == NETCL_CHUNK is the same for the whole group: LLVM unswitches the          \
         * work-item loop on it, so full chunks run unmasked (measured: as fast as a        \
         * kernel without the test) and only a tensor's last chunk is masked. */             \
        if (c.w == NETCL_CHUNK || lid < c.w) {                                              \
            rmsprop_update(p, g, v, mb, ga, c.x + lid, c.y + lid, c.z + lid, h, WD, MAX, MOM, CEN); \
        }                                                                                   \
    }

/* Kernel names: rmsprop_<weight decay><maximize><momentum><centered>, as 0/1 digits. */
RMSPROP_KERNEL(0000, 0, 0, 0, 0)
RMSPROP_KERNEL(0001, 0, 0, 0, 1)
RMSPROP_KERNEL(0010, 0, 0, 1, 0)
RMSPROP_KERNEL(0011, 0, 0, 1, 1)
RMSPROP_KERNEL(0100, 0, 1, 0, 0)
RMSPROP_KERNEL(0101, 0, 1, 0, 1)
RMSPROP_KERNEL(0110, 0, 1, 1, 0)
RMSPROP_KERNEL(0111, 0, 1, 1, 1)
RMSPROP_KERNEL(1000, 1, 0, 0, 0)
RMSPROP_KERNEL(1001, 1, 0, 0, 1)
RMSPROP_KERNEL(1010, 1, 0, 1, 0)
RMSPROP_KERNEL(1011, 1, 0, 1, 1)
RMSPROP_KERNEL(1100, 1, 1, 0, 0)
RMSPROP_KERNEL(1101, 1, 1, 0, 1)
RMSPROP_KERNEL(1110, 1, 1, 1, 0)
RMSPROP_KERNEL(1111, 1, 1, 1, 1)
