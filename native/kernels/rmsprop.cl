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

/* kernel_hyper comes from kernel_hyper.h, which the host compiles into its own code and puts
 * ahead of this source: one layout for both sides. */
#ifndef NETCL_KERNEL_HYPER_H
#error "the host passes kernel_hyper.h as the program's first source string"
#endif

/* Element types (enum netcl_dtype): FP32 parameters are updated in place; BF16 and FP16 ones
 * through their float32 master copy, rounded to nearest even into the parameter. */
#define DT_FP32 0
#define DT_BF16 1
#define DT_FP16 2

inline float load_element(global const void *x, const ulong i, const int dtype)
{
    if (dtype == DT_FP32) return ((global const float *)x)[i];
    if (dtype == DT_BF16) return as_float((uint)((global const ushort *)x)[i] << 16);
    return vload_half(i, (global const half *)x);
}

/* c10::BFloat16's rounding: to nearest even, NaN to the quiet NaN 0x7FC0. */
inline ushort float_to_bf16(const float f)
{
    const uint u = as_uint(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (ushort)0x7FC0u;
    return (ushort)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

inline void rmsprop_update(global void *restrict p, global const void *restrict g,
                           global float *restrict v, global float *restrict mb,
                           global float *restrict ga, global float *restrict master,
                           const ulong ip, const ulong ig, const ulong is, const kernel_hyper h,
                           const int weight_decay, const int maximize, const int momentum,
                           const int centered, const int dtype)
{
    const float param = dtype == DT_FP32 ? ((global float *)p)[ip] : master[is];
    const float given = (load_element(g, ig, dtype) * h.inv_scale) * h.clip_coef;
    float grad = maximize ? -given : given;
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
    float updated;
    if (momentum) {
        const float buf = mb[is] * h.momentum + grad / avg;        /* addcdiv_(grad, avg) */
        mb[is] = buf;
        updated = fma(h.neg_lr, buf, param);                        /* add_(buf, alpha=-lr) */
    } else {
        updated = param + (h.neg_lr * grad) / avg;                  /* addcdiv_(value=-lr) */
    }
    if (dtype == DT_FP32) {
        ((global float *)p)[ip] = updated;
    } else {
        master[is] = updated;
        if (dtype == DT_BF16) {
            ((global ushort *)p)[ip] = float_to_bf16(updated);
        } else {
            vstore_half_rte(updated, ip, (global half *)p);
        }
    }
}

#define RMSPROP_ARGS                                                                        \
    global void *restrict p, global const void *restrict g, global float *restrict v,      \
    global float *restrict mb, global float *restrict ga, global const ulong4 *restrict chunks, \
    const uint first_chunk, const kernel_hyper h, global float *restrict master

#define RMSPROP_KERNEL(NAME, WD, MAX, MOM, CEN, DT)                                         \
    kernel __attribute__((reqd_work_group_size(NETCL_CHUNK, 1, 1)))                         \
    void rmsprop_##NAME(RMSPROP_ARGS)                                                       \
    {                                                                                       \
        const ulong4 c = chunks[first_chunk + get_group_id(0)];                             \
        const ulong lid = get_local_id(0);                                                  \
        /* c.w == NETCL_CHUNK is the same for the whole group: LLVM unswitches the          \
         * work-item loop on it, so full chunks run unmasked (measured: as fast as a        \
         * kernel without the test) and only a tensor's last chunk is masked. */             \
        if (c.w == NETCL_CHUNK || lid < c.w) {                                              \
            rmsprop_update(p, g, v, mb, ga, master, c.x + lid, c.y + lid, c.z + lid, h, WD, \
                           MAX, MOM, CEN, DT);                                              \
        }                                                                                   \
    }

/* Kernel names: rmsprop_<weight decay><maximize><momentum><centered>_<dtype>, flags as 0/1
 * digits and the dtype as enum netcl_dtype. */
#define RMSPROP_KERNELS(DT)                                                                 \
    RMSPROP_KERNEL(0000_##DT, 0, 0, 0, 0, DT) RMSPROP_KERNEL(0001_##DT, 0, 0, 0, 1, DT)       \
    RMSPROP_KERNEL(0010_##DT, 0, 0, 1, 0, DT) RMSPROP_KERNEL(0011_##DT, 0, 0, 1, 1, DT)       \
    RMSPROP_KERNEL(0100_##DT, 0, 1, 0, 0, DT) RMSPROP_KERNEL(0101_##DT, 0, 1, 0, 1, DT)       \
    RMSPROP_KERNEL(0110_##DT, 0, 1, 1, 0, DT) RMSPROP_KERNEL(0111_##DT, 0, 1, 1, 1, DT)       \
    RMSPROP_KERNEL(1000_##DT, 1, 0, 0, 0, DT) RMSPROP_KERNEL(1001_##DT, 1, 0, 0, 1, DT)       \
    RMSPROP_KERNEL(1010_##DT, 1, 0, 1, 0, DT) RMSPROP_KERNEL(1011_##DT, 1, 0, 1, 1, DT)       \
    RMSPROP_KERNEL(1100_##DT, 1, 1, 0, 0, DT) RMSPROP_KERNEL(1101_##DT, 1, 1, 0, 1, DT)       \
    RMSPROP_KERNEL(1110_##DT, 1, 1, 1, 0, DT) RMSPROP_KERNEL(1111_##DT, 1, 1, 1, 1, DT)

RMSPROP_KERNELS(0)
RMSPROP_KERNELS(1)
RMSPROP_KERNELS(2)
