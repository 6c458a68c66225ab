/* netcl-bench's bandwidth reference: a plain device copy, launched like the RMSProp kernels. */
kernel void copy_floats(global const float *restrict src, global float *restrict dst)
{
    const size_t i = get_global_id(0);
    dst[i] = src[i];
}
