package netcl.optim;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import netcl.bindings.Netcl;
import netcl.bindings.netcl_device_info;

/**
 * An OpenCL device netcl can run on. Choose one with {@link RMSProp.Builder#device(String)} or the
 * environment variable {@code NETCL_DEVICE}: a global index ("1"), "platform:device" ("0:1") or a
 * case-insensitive substring of the name ("nvidia"). Without a choice the device depends on where
 * the tensors live, and devices netcl cannot run exactly are skipped:
 * <ul>
 * <li>host tensors ({@code MemorySegment}s, {@link RMSProp#builder()} without a context): a CPU
 * device that shares host memory first, where steps copy nothing (a GPU would copy every tensor
 * over PCIe twice per step), then any device sharing host memory, a GPU, an accelerator;</li>
 * <li>device-resident tensors ({@link DeviceContext#create()}): a GPU with its own memory first,
 * then any GPU, an accelerator, a CPU device.</li>
 * </ul>
 *
 * @param index             global index over all platforms, as {@link #list()} orders them
 *                          (-1 for a device netcl did not pick from its own list)
 * @param hostUnifiedMemory whether the device shares host memory (on a CPU device steps are then
 *                          zero-copy)
 * @param correctlyRoundedDivideSqrt whether float divide and sqrt can be correctly rounded there,
 *                          which netcl needs to match PyTorch bit for bit (a device without it is
 *                          only used when chosen explicitly, and then fails)
 */
public record Device(int index, int platformIndex, int deviceIndex, String name, String vendor,
                     String version, long globalMemoryBytes, long maxAllocationBytes, boolean gpu,
                     boolean accelerator, boolean cpu, boolean hostUnifiedMemory,
                     boolean correctlyRoundedDivideSqrt) {

    /** Every OpenCL device on every platform. */
    public static List<Device> list() {
        NativeLibrary.load();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocate(ValueLayout.JAVA_INT);
            NetclException.check(Netcl.netcl_device_count(count), "netcl_device_count");
            MemorySegment info = netcl_device_info.allocate(arena);
            List<Device> devices = new ArrayList<>();
            for (int i = 0; i < count.get(ValueLayout.JAVA_INT, 0); i++) {
                NetclException.check(Netcl.netcl_device_get_info(i, info), "netcl_device_get_info");
                devices.add(from(info));
            }
            return List.copyOf(devices);
        }
    }

    static Device from(MemorySegment info) {
        return new Device(netcl_device_info.global_index(info), netcl_device_info.platform_index(info),
                netcl_device_info.device_index(info), netcl_device_info.name(info).getString(0),
                netcl_device_info.vendor(info).getString(0), netcl_device_info.version(info).getString(0),
                netcl_device_info.global_mem_bytes(info), netcl_device_info.max_alloc_bytes(info),
                netcl_device_info.is_gpu(info) != 0, netcl_device_info.is_accelerator(info) != 0,
                netcl_device_info.is_cpu(info) != 0, netcl_device_info.host_unified_memory(info) != 0,
                netcl_device_info.correctly_rounded_divide_sqrt(info) != 0);
    }

    @Override
    public String toString() {
        return name + " (" + vendor + ", " + version + ", " + (globalMemoryBytes >> 20) + " MiB"
                + (hostUnifiedMemory ? ", shares host memory" : "")
                + (correctlyRoundedDivideSqrt ? "" : ", no correctly rounded divide/sqrt") + ")";
    }
}
