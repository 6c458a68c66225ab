/*
 * The hyperparameters of one RMSProp update, passed to the kernels by value (the host path uses
 * them too). This is the one definition of their layout: the library includes it as C, and hands
 * its text to the OpenCL compiler as the program's first source string, ahead of rmsprop.cl (both
 * are embedded at build time). Only float members, so OpenCL C and host C lay it out alike
 * (4-byte floats, no padding); float is cl_float on the host.
 */
#ifndef NETCL_KERNEL_HYPER_H
#define NETCL_KERNEL_HYPER_H

typedef struct kernel_hyper {
    float neg_lr;          /* (float)(-lr) */
    float alpha;           /* (float)alpha */
    float one_minus_alpha; /* (float)(1 - alpha), computed in double like PyTorch */
    float eps;
    float weight_decay;
    float momentum;
    float inv_scale;       /* the gradient is multiplied by inv_scale, then by clip_coef */
    float clip_coef;
} kernel_hyper;

#endif
