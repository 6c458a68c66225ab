/*
 * The default device (see enum netcl_device_use in netcl.h). Host tensors stay zero-copy only on
 * a CPU device that shares host memory, and any device that shares host memory at least avoids
 * PCIe; device-resident tensors want the device with the most bandwidth of its own, a discrete
 * GPU. A device without correctly rounded divide and sqrt is skipped: netcl would refuse to
 * build its kernels there.
 */
#include "device_choice.h"

/* The device's place in the order for `use` (lower is preferred); -1 when netcl cannot use it. */
static int rank(const netcl_device_info *d, int32_t use)
{
    if (!d->correctly_rounded_divide_sqrt) {
        return -1;
    }
    const int by_kind = d->is_gpu ? 0 : d->is_accelerator ? 1 : d->is_cpu ? 2 : 3;
    if (use == NETCL_FOR_DEVICE_TENSORS) {
        return d->is_gpu && !d->host_unified_memory ? 0 : 1 + by_kind;
    }
    if (d->host_unified_memory) {
        return d->is_cpu ? 0 : 1;
    }
    return 2 + by_kind;
}

uint32_t netcl_choose_default_device(const netcl_device_info *devices, uint32_t count, int32_t use)
{
    uint32_t best = count;
    int best_rank = -1;
    for (uint32_t i = 0; i < count; ++i) {
        const int r = rank(&devices[i], use);
        if (r >= 0 && (best == count || r < best_rank)) {
            best = i;
            best_rank = r;
        }
    }
    return best;
}
