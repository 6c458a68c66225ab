package netcl.optim;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;

import netcl.bindings.netcl_param_group;
import netcl.bindings.netcl_tensor;

/**
 * The two arrays {@code netcl_rmsprop_step} reads: a {@code netcl_tensor} per parameter and a
 * {@code netcl_param_group} per group. What only {@code addParamGroup} changes (data addresses,
 * lengths, each group's tensor range) is written once; a step writes gradient addresses and
 * hyperparameters. The arrays grow by doubling into a new arena and the arena they outgrew is
 * closed, so that adding groups one at a time costs memory in proportion to the parameters
 * (fresh arrays per group, kept until the optimizer closed, once took 484 MiB for 3,000 groups).
 * Not thread-safe: the optimizer's lock guards it.
 */
final class StepLayout {
    private static final long TENSOR_SIZE = netcl_tensor.sizeof();
    private static final long GROUP_SIZE = netcl_param_group.sizeof();
    private static final int MIN_CAPACITY = 4;

    /** Shared: the optimizer may step from any thread. */
    private Arena arena;
    private MemorySegment tensors = MemorySegment.NULL;
    private MemorySegment groups = MemorySegment.NULL;
    /**
     * The same arrays as plain addresses, for the step's downcall: a segment of the shared arena
     * as an argument makes every call acquire and release that arena (two atomic updates each),
     * and only this optimizer, under its lock, ever frees or replaces the arrays.
     */
    private MemorySegment tensorsAddress = MemorySegment.NULL;
    private MemorySegment groupsAddress = MemorySegment.NULL;
    private int tensorCount;
    private int groupCount;
    /** Per group, the ParamGroup version its options were written at; -1: not yet written. */
    private int[] optionsVersions = new int[0];

    /** Appends a group of {@code params} after the tensors already laid out. */
    void addGroup(List<Parameter> params) {
        reserve(tensorCount + params.size(), groupCount + 1);
        long at = groupCount * GROUP_SIZE;
        groups.set(ValueLayout.JAVA_INT, at + netcl_param_group.first$offset(), tensorCount);
        groups.set(ValueLayout.JAVA_INT, at + netcl_param_group.count$offset(), params.size());
        if (groupCount == optionsVersions.length) {
            optionsVersions = Arrays.copyOf(optionsVersions, Math.max(MIN_CAPACITY, 2 * groupCount));
        }
        optionsVersions[groupCount] = -1;
        for (Parameter p : params) {
            long t = tensorCount * TENSOR_SIZE;
            if (p.isDeviceResident()) {
                tensors.set(ValueLayout.ADDRESS, t + netcl_tensor.data_mem$offset(), p.deviceData().buffer());
                tensors.set(ValueLayout.JAVA_LONG, t + netcl_tensor.data_offset$offset(), p.deviceData().offset());
            } else {
                tensors.set(ValueLayout.JAVA_LONG, t + netcl_tensor.data$offset(), p.data().address());
            }
            tensors.set(ValueLayout.JAVA_LONG, t + netcl_tensor.numel$offset(), p.numel());
            tensors.set(ValueLayout.JAVA_INT, t + netcl_tensor.dtype$offset(), p.dtype().code());
            tensorCount++;
        }
        groupCount++;
    }

    /** Grows both arrays to hold at least the given counts, keeping their contents. */
    private void reserve(int tensorsNeeded, int groupsNeeded) {
        long tensorCapacity = tensors.byteSize() / TENSOR_SIZE;
        long groupCapacity = groups.byteSize() / GROUP_SIZE;
        if (tensorsNeeded <= tensorCapacity && groupsNeeded <= groupCapacity) {
            return;
        }
        Arena grown = Arena.ofShared();
        MemorySegment newTensors = grown.allocate(TENSOR_SIZE * capacity(tensorCapacity, tensorsNeeded), 8);
        MemorySegment newGroups = grown.allocate(GROUP_SIZE * capacity(groupCapacity, groupsNeeded), 8);
        MemorySegment.copy(tensors, 0, newTensors, 0, tensorCount * TENSOR_SIZE);
        MemorySegment.copy(groups, 0, newGroups, 0, groupCount * GROUP_SIZE);
        close();
        arena = grown;
        tensors = newTensors;
        groups = newGroups;
        tensorsAddress = MemorySegment.ofAddress(newTensors.address());
        groupsAddress = MemorySegment.ofAddress(newGroups.address());
    }

    private static long capacity(long current, int needed) {
        return current >= needed ? current : Math.max(Math.max(MIN_CAPACITY, 2 * current), needed);
    }

    /** The gradient of tensor {@code index} for the next step; 0 = none. */
    void grad(int index, long address) {
        tensors.set(ValueLayout.JAVA_LONG, index * TENSOR_SIZE + netcl_tensor.grad$offset(), address);
    }

    /** The device gradient of tensor {@code index} for the next step; {@code MemorySegment.NULL} = none. */
    void deviceGrad(int index, MemorySegment buffer, long offset) {
        tensors.set(ValueLayout.ADDRESS, index * TENSOR_SIZE + netcl_tensor.grad_mem$offset(), buffer);
        tensors.set(ValueLayout.JAVA_LONG, index * TENSOR_SIZE + netcl_tensor.grad_offset$offset(), offset);
    }

    /** The ParamGroup version of group {@code index}'s options here (see ParamGroup#writeOptions). */
    int optionsVersion(int index) {
        return optionsVersions[index];
    }

    /** The hyperparameters of group {@code index} for the next step, as of ParamGroup version {@code version}. */
    void options(int index, int version, double lr, double alpha, double eps, double weightDecay,
                 double momentum, boolean centered, boolean maximize) {
        optionsVersions[index] = version;
        long at = index * GROUP_SIZE;
        groups.set(ValueLayout.JAVA_DOUBLE, at + netcl_param_group.lr$offset(), lr);
        groups.set(ValueLayout.JAVA_DOUBLE, at + netcl_param_group.alpha$offset(), alpha);
        groups.set(ValueLayout.JAVA_DOUBLE, at + netcl_param_group.eps$offset(), eps);
        groups.set(ValueLayout.JAVA_DOUBLE, at + netcl_param_group.weight_decay$offset(), weightDecay);
        groups.set(ValueLayout.JAVA_DOUBLE, at + netcl_param_group.momentum$offset(), momentum);
        groups.set(ValueLayout.JAVA_INT, at + netcl_param_group.centered$offset(), centered ? 1 : 0);
        groups.set(ValueLayout.JAVA_INT, at + netcl_param_group.maximize$offset(), maximize ? 1 : 0);
    }

    MemorySegment tensors() {
        return tensors;
    }

    MemorySegment groups() {
        return groups;
    }

    MemorySegment tensorsAddress() {
        return tensorsAddress;
    }

    MemorySegment groupsAddress() {
        return groupsAddress;
    }

    int tensorCount() {
        return tensorCount;
    }

    int groupCount() {
        return groupCount;
    }

    /** Frees the arrays; idempotent. */
    void close() {
        if (arena != null) {
            arena.close();
            arena = null;
            tensorsAddress = groupsAddress = MemorySegment.NULL;
        }
    }
}
