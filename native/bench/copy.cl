/* netcl-bench's bandwidth reference: a plain device copy, launched like the RMSProp kernels. */
kernel void copy_floats(global const float4 *restrict src, global float4 *restrict dst)
{
    const size_t i = get_global_id(0);
    dst[i] = src[i];
}
