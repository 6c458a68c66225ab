package netcl.optim;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.DoubleSupplier;

import netcl.bindings.Netcl;
import netcl.bindings.netcl_device_info;
import netcl.bindings.netcl_param_group;
import netcl.bindings.netcl_param_state;
import netcl.bindings.netcl_state_values;
import netcl.bindings.netcl_tensor;

/**
 * RMSProp with PyTorch's semantics ({@code torch.optim.RMSprop}, bit for bit on the CPU device),
 * run by fused OpenCL kernels on the caller's own off-heap tensors.
 *
 * <pre>{@code
 * RMSProp opt = RMSProp.builder().lr(1e-3).momentum(0.9).build(List.of(p1, p2));
 * opt.step();
 * }</pre>
 *
 * <p>Threads: an optimizer may be used from any thread, one call at a time; calls from several
 * threads at once are serialized (every public method holds the optimizer's lock), never
 * interleaved. Gradients must not be written while a step runs. In steady state {@link #step()}
 * allocates nothing on the Java heap.
 */
public final class RMSProp implements Optimizer {
    private static final long TENSOR_SIZE = netcl_tensor.sizeof();
    private static final long GROUP_SIZE = netcl_param_group.sizeof();

    private final Arena arena = Arena.ofShared();
    private final ParamGroup defaults;
    private final MemorySegment context;
    private final MemorySegment optimizer;
    private final Device device;
    private final List<ParamGroup> groups = new ArrayList<>();
    private final List<ParamGroup> groupsView = Collections.unmodifiableList(groups);
    private final MemorySegment scratch = arena.allocate(ValueLayout.JAVA_LONG);
    private Parameter[] params = new Parameter[0];
    private MemorySegment tensors = MemorySegment.NULL;
    private MemorySegment groupStructs = MemorySegment.NULL;
    private boolean closed;

    private RMSProp(ParamGroup defaults, String deviceSelector, StepPath path, ParamGroup first) {
        this.defaults = defaults;
        NativeLibrary.load();
        MemorySegment ctx = MemorySegment.NULL;
        MemorySegment opt = MemorySegment.NULL;
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment out = temp.allocate(ValueLayout.ADDRESS);
            MemorySegment selector = deviceSelector == null ? MemorySegment.NULL : temp.allocateFrom(deviceSelector);
            NetclException.check(Netcl.netcl_context_create(selector, out), "netcl_context_create");
            ctx = out.get(ValueLayout.ADDRESS, 0);
            MemorySegment info = netcl_device_info.allocate(temp);
            NetclException.check(Netcl.netcl_context_get_info(ctx, info), "netcl_context_get_info");
            this.device = Device.from(info);
            NetclException.check(Netcl.netcl_rmsprop_create(ctx, out), "netcl_rmsprop_create");
            opt = out.get(ValueLayout.ADDRESS, 0);
            if (path != null) {
                NetclException.check(Netcl.netcl_rmsprop_set_path(opt, path.code()), "netcl_rmsprop_set_path");
            }
            this.optimizer = opt;
            this.context = ctx;
            addParamGroup(first);
        } catch (RuntimeException e) {
            Netcl.netcl_rmsprop_destroy(opt);
            Netcl.netcl_context_destroy(ctx);
            arena.close();
            throw e;
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Options of the first group and defaults of later ones; PyTorch's defaults unless set. */
    public static final class Builder {
        private final ParamGroup defaults = ParamGroup.defaults();
        private String device;
        private StepPath path;

        private Builder() {
        }

        public Builder lr(double lr) {
            defaults.lr(lr);
            return this;
        }

        public Builder alpha(double alpha) {
            defaults.alpha(alpha);
            return this;
        }

        public Builder eps(double eps) {
            defaults.eps(eps);
            return this;
        }

        public Builder weightDecay(double weightDecay) {
            defaults.weightDecay(weightDecay);
            return this;
        }

        public Builder momentum(double momentum) {
            defaults.momentum(momentum);
            return this;
        }

        public Builder centered(boolean centered) {
            defaults.centered(centered);
            return this;
        }

        public Builder maximize(boolean maximize) {
            defaults.maximize(maximize);
            return this;
        }

        /** The OpenCL device (see {@link Device}); without it {@code NETCL_DEVICE}, then the default. */
        public Builder device(String selector) {
            if (selector == null || selector.isBlank()) {
                throw new IllegalArgumentException("device selector is empty");
            }
            // The native side reads a C string: it would end at the NUL and pick another device.
            int nul = selector.indexOf('\0');
            if (nul >= 0) {
                throw new IllegalArgumentException("device selector contains a NUL character at index " + nul);
            }
            this.device = selector;
            return this;
        }

        /**
         * Forces how steps run (see {@link StepPath}); without it {@code NETCL_PATH}, then
         * {@link StepPath#AUTO}. {@link StepPath#HOST} on a device that does not share host
         * memory fails at {@link #build} with {@code NETCL_UNSUPPORTED}.
         */
        public Builder path(StepPath path) {
            if (path == null) {
                throw new IllegalArgumentException("path is null");
            }
            this.path = path;
            return this;
        }

        /** Creates the optimizer with {@code params} as its first group. */
        public RMSProp build(List<Parameter> params) {
            ParamGroup first = ParamGroup.of(params);
            ParamGroup snapshot = ParamGroup.defaults();
            snapshot.copyOptions(defaults);
            return new RMSProp(snapshot, device, path, first);
        }
    }

    /** The device the optimizer runs on. */
    public Device device() {
        return device;
    }

    @Override
    public synchronized List<ParamGroup> paramGroups() {
        checkOpen();
        return groupsView;
    }

    @Override
    public synchronized void addParamGroup(ParamGroup group) {
        checkOpen();
        if (group == null) {
            throw new IllegalArgumentException("group is null");
        }
        Map<Parameter, Boolean> known = new IdentityHashMap<>();
        for (Parameter p : params) {
            known.put(p, Boolean.TRUE);
        }
        for (Parameter p : group.params()) {
            if (known.containsKey(p)) {
                throw new IllegalArgumentException("some parameters appear in more than one parameter group");
            }
        }
        Parameter[] all = Arrays.copyOf(params, params.length + group.params().size());
        for (int i = 0; i < group.params().size(); i++) {
            all[params.length + i] = group.params().get(i);
        }
        checkNoOverlap(all);
        group.inherit(defaults);
        groups.add(group);
        params = all;
        writeLayout();
    }

    /**
     * Writes what only addParamGroup changes: each tensor's data address and length (the
     * device-buffer fields stay zero, as allocated) and each group's tensor range. A step then
     * only writes gradient addresses and hyperparameters.
     */
    private void writeLayout() {
        tensors = arena.allocate(TENSOR_SIZE * params.length, 8);
        for (int i = 0; i < params.length; i++) {
            long at = i * TENSOR_SIZE;
            tensors.set(ValueLayout.JAVA_LONG, at + netcl_tensor.data$offset(), params[i].data().address());
            tensors.set(ValueLayout.JAVA_LONG, at + netcl_tensor.numel$offset(), params[i].numel());
        }
        groupStructs = arena.allocate(GROUP_SIZE * groups.size(), 8);
        int first = 0;
        for (int g = 0; g < groups.size(); g++) {
            long at = g * GROUP_SIZE;
            int count = groups.get(g).params().size();
            groupStructs.set(ValueLayout.JAVA_INT, at + netcl_param_group.first$offset(), first);
            groupStructs.set(ValueLayout.JAVA_INT, at + netcl_param_group.count$offset(), count);
            first += count;
        }
    }

    /** Two parameters over the same memory would be updated twice per step. */
    private static void checkNoOverlap(Parameter[] all) {
        Parameter[] sorted = all.clone();
        Arrays.sort(sorted, Comparator.comparingLong(p -> p.data().address()));
        for (int i = 1; i < sorted.length; i++) {
            if (Parameter.overlaps(sorted[i - 1].data(), sorted[i].data())) {
                throw new IllegalArgumentException("two parameters share memory at 0x"
                        + Long.toHexString(sorted[i].data().address()));
            }
        }
    }

    @Override
    public synchronized void step() {
        checkOpen();
        for (int i = 0; i < params.length; i++) {
            Parameter p = params[i];
            MemorySegment data = p.data();
            MemorySegment grad = p.grad();
            if (!data.scope().isAlive() || (grad != null && !grad.scope().isAlive())) {
                throw new IllegalArgumentException("parameter " + i + ": the arena of its "
                        + (data.scope().isAlive() ? "grad" : "data") + " segment is closed");
            }
            tensors.set(ValueLayout.JAVA_LONG, i * TENSOR_SIZE + netcl_tensor.grad$offset(),
                    grad == null ? 0L : grad.address());
        }
        for (int g = 0; g < groups.size(); g++) {
            ParamGroup group = groups.get(g);
            long at = g * GROUP_SIZE;
            groupStructs.set(ValueLayout.JAVA_DOUBLE, at + netcl_param_group.lr$offset(), group.lr());
            groupStructs.set(ValueLayout.JAVA_DOUBLE, at + netcl_param_group.alpha$offset(), group.alpha());
            groupStructs.set(ValueLayout.JAVA_DOUBLE, at + netcl_param_group.eps$offset(), group.eps());
            groupStructs.set(ValueLayout.JAVA_DOUBLE, at + netcl_param_group.weight_decay$offset(), group.weightDecay());
            groupStructs.set(ValueLayout.JAVA_DOUBLE, at + netcl_param_group.momentum$offset(), group.momentum());
            groupStructs.set(ValueLayout.JAVA_INT, at + netcl_param_group.centered$offset(), group.centered() ? 1 : 0);
            groupStructs.set(ValueLayout.JAVA_INT, at + netcl_param_group.maximize$offset(), group.maximize() ? 1 : 0);
        }
        NetclException.check(Netcl.netcl_rmsprop_step(optimizer, groupStructs, groups.size(), tensors,
                params.length), "netcl_rmsprop_step");
    }

    @Override
    public synchronized double step(DoubleSupplier closure) {
        checkOpen();
        if (closure == null) {
            throw new IllegalArgumentException("closure is null");
        }
        double loss = closure.getAsDouble();
        step();
        return loss;
    }

    @Override
    public synchronized void zeroGrad() {
        zeroGrad(false);
    }

    @Override
    public synchronized void zeroGrad(boolean setToNone) {
        checkOpen();
        for (Parameter p : params) {
            if (p.grad() != null) {
                if (setToNone) {
                    p.grad(null);
                } else {
                    p.grad().fill((byte) 0);
                }
            }
        }
    }

    @Override
    public synchronized StateDict stateDict() {
        checkOpen();
        Map<Integer, ParamState> state = new LinkedHashMap<>();
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment info = netcl_param_state.allocate(temp);
            for (int i = 0; i < params.length; i++) {
                NetclException.check(Netcl.netcl_rmsprop_get_state(optimizer, i, info), "netcl_rmsprop_get_state");
                if (netcl_param_state.has_square_avg(info) == 0) {
                    continue;
                }
                long numel = netcl_param_state.numel(info);
                MemorySegment v = temp.allocate(ValueLayout.JAVA_FLOAT, numel);
                MemorySegment m = netcl_param_state.has_momentum_buffer(info) != 0
                        ? temp.allocate(ValueLayout.JAVA_FLOAT, numel) : MemorySegment.NULL;
                MemorySegment ga = netcl_param_state.has_grad_avg(info) != 0
                        ? temp.allocate(ValueLayout.JAVA_FLOAT, numel) : MemorySegment.NULL;
                NetclException.check(Netcl.netcl_rmsprop_read_state(optimizer, i, numel, v, m, ga),
                        "netcl_rmsprop_read_state");
                state.put(i, new ParamState(netcl_param_state.step(info), v.toArray(ValueLayout.JAVA_FLOAT),
                        m.equals(MemorySegment.NULL) ? null : m.toArray(ValueLayout.JAVA_FLOAT),
                        ga.equals(MemorySegment.NULL) ? null : ga.toArray(ValueLayout.JAVA_FLOAT)));
            }
        }
        return new StateDict(Collections.unmodifiableMap(state), groupStates());
    }

    /** Each group's options and parameter indices, as a state dict holds them. */
    private List<StateDict.GroupState> groupStates() {
        List<StateDict.GroupState> groupStates = new ArrayList<>();
        int index = 0;
        for (ParamGroup g : groups) {
            List<Integer> ids = new ArrayList<>();
            for (int k = 0; k < g.params().size(); k++) {
                ids.add(index++);
            }
            groupStates.add(new StateDict.GroupState(g.lr(), g.alpha(), g.eps(), g.weightDecay(), g.momentum(),
                    g.centered(), g.maximize(), List.copyOf(ids)));
        }
        return List.copyOf(groupStates);
    }

    /**
     * Replaces every parameter's state (parameters absent from {@code stateDict.state()} lose
     * theirs) and, when present, the groups' hyperparameters. Everything is checked first: on an
     * error nothing changes. A buffer a group needs but the loaded state lacks (a momentum buffer
     * when momentum &gt; 0, grad_avg when centered) starts from zero at the next step.
     */
    @Override
    public synchronized void loadStateDict(StateDict stateDict) {
        checkOpen();
        List<ParamGroup> loadedGroups = checkStateDict(stateDict);
        // One native call for every parameter: it reserves all memory before it writes any, so a
        // device out of memory leaves every parameter's state as it was.
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment values = netcl_state_values.allocateArray(Math.max(1, params.length), temp);
            for (int i = 0; i < params.length; i++) {
                ParamState s = stateDict.state().get(i);
                MemorySegment entry = netcl_state_values.asSlice(values, i);
                if (s != null) {
                    netcl_state_values.step(entry, s.step());
                    netcl_state_values.numel(entry, params[i].numel());
                    netcl_state_values.square_avg(entry, floats(temp, s.squareAvg()));
                    netcl_state_values.momentum_buffer(entry, floats(temp, s.momentumBuffer()));
                    netcl_state_values.grad_avg(entry, floats(temp, s.gradAvg()));
                }
            }
            NetclException.check(Netcl.netcl_rmsprop_load_state(optimizer, params.length, values),
                    "netcl_rmsprop_load_state");
        }
        for (int g = 0; g < loadedGroups.size(); g++) {
            groups.get(g).copyOptions(loadedGroups.get(g));
        }
    }

    /** Validates a state dict against this optimizer; returns the loaded groups' options. */
    private List<ParamGroup> checkStateDict(StateDict sd) {
        if (sd == null || sd.state() == null) {
            throw new IllegalArgumentException("state dict is null");
        }
        List<ParamGroup> loaded = checkGroups(sd.paramGroups());
        for (Map.Entry<Integer, ParamState> e : sd.state().entrySet()) {
            Integer index = e.getKey();
            ParamState s = e.getValue();
            if (index == null || index < 0 || index >= params.length) {
                throw new IllegalArgumentException("state for parameter " + index + ", but the optimizer has "
                        + params.length + " parameters");
            }
            long numel = params[index].numel();
            if (s == null || s.squareAvg() == null) {
                throw new IllegalArgumentException("parameter " + index + ": state without squareAvg");
            }
            if (s.step() < 0) {
                throw new IllegalArgumentException("parameter " + index + ": negative step " + s.step());
            }
            checkLength(index, "squareAvg", s.squareAvg(), numel);
            checkLength(index, "momentumBuffer", s.momentumBuffer(), numel);
            checkLength(index, "gradAvg", s.gradAvg(), numel);
        }
        return loaded;
    }

    private static void checkLength(int index, String name, float[] values, long numel) {
        if (values != null && values.length != numel) {
            throw new IllegalArgumentException("parameter " + index + ": " + name + " has " + values.length
                    + " values, the parameter has " + numel);
        }
    }

    private static MemorySegment floats(Arena arena, float[] values) {
        return values == null ? MemorySegment.NULL : arena.allocateFrom(ValueLayout.JAVA_FLOAT, values);
    }

    /** Checks loaded groups against this optimizer's; returns their options (none for {@code null}). */
    private List<ParamGroup> checkGroups(List<StateDict.GroupState> loadedGroups) {
        List<ParamGroup> loaded = new ArrayList<>();
        if (loadedGroups != null) {
            if (loadedGroups.size() != groups.size()) {
                throw new IllegalArgumentException("loaded state dict has " + loadedGroups.size()
                        + " parameter groups, the optimizer has " + groups.size());
            }
            for (int g = 0; g < groups.size(); g++) {
                StateDict.GroupState gs = loadedGroups.get(g);
                if (gs == null || gs.params() == null || gs.params().size() != groups.get(g).params().size()) {
                    throw new IllegalArgumentException("loaded state dict contains a parameter group " + g
                            + " that doesn't match the size of optimizer's group");
                }
                ParamGroup options = ParamGroup.defaults();
                options.lr(gs.lr()).alpha(gs.alpha()).eps(gs.eps()).weightDecay(gs.weightDecay())
                        .momentum(gs.momentum()).centered(gs.centered()).maximize(gs.maximize());
                loaded.add(options);
            }
        }
        return loaded;
    }

    // ---- The state dict in memory segments (large states, checkpoints); see SegmentStateDict ----

    /**
     * What each parameter's state holds, without copying it: keyed like {@link #stateDict()},
     * only the parameters that have state.
     */
    public synchronized Map<Integer, ParamStateInfo> stateInfo() {
        checkOpen();
        Map<Integer, ParamStateInfo> infos = new LinkedHashMap<>();
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment info = netcl_param_state.allocate(temp);
            for (int i = 0; i < params.length; i++) {
                NetclException.check(Netcl.netcl_rmsprop_get_state(optimizer, i, info), "netcl_rmsprop_get_state");
                if (netcl_param_state.has_square_avg(info) != 0) {
                    infos.put(i, new ParamStateInfo(netcl_param_state.step(info), netcl_param_state.numel(info),
                            netcl_param_state.has_momentum_buffer(info) != 0, netcl_param_state.has_grad_avg(info) != 0));
                }
            }
        }
        return Collections.unmodifiableMap(infos);
    }

    /**
     * The state dict with every buffer copied from the device straight into a segment from
     * {@code allocator} (an {@link Arena}, or slices of a file mapping): no {@code float[]}, no
     * size cap. Buffers are requested in a fixed order, {@code numel * 4} bytes each with 4-byte
     * alignment: parameter by parameter in index order, {@code square_avg}, then
     * {@code momentum_buffer} and {@code grad_avg} where they exist (see {@link #stateInfo()}).
     * Each segment the allocator returns must be native, writable and exactly that size.
     */
    public synchronized SegmentStateDict stateDict(SegmentAllocator allocator) {
        checkOpen();
        if (allocator == null) {
            throw new IllegalArgumentException("allocator is null");
        }
        Map<Integer, SegmentParamState> state = new LinkedHashMap<>();
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment info = netcl_param_state.allocate(temp);
            for (int i = 0; i < params.length; i++) {
                NetclException.check(Netcl.netcl_rmsprop_get_state(optimizer, i, info), "netcl_rmsprop_get_state");
                if (netcl_param_state.has_square_avg(info) == 0) {
                    continue;
                }
                long numel = netcl_param_state.numel(info);
                MemorySegment v = stateBuffer(allocator, numel);
                MemorySegment m = netcl_param_state.has_momentum_buffer(info) != 0
                        ? stateBuffer(allocator, numel) : MemorySegment.NULL;
                MemorySegment ga = netcl_param_state.has_grad_avg(info) != 0
                        ? stateBuffer(allocator, numel) : MemorySegment.NULL;
                NetclException.check(Netcl.netcl_rmsprop_read_state(optimizer, i, numel, v, m, ga),
                        "netcl_rmsprop_read_state");
                state.put(i, new SegmentParamState(netcl_param_state.step(info), v,
                        m.equals(MemorySegment.NULL) ? null : m, ga.equals(MemorySegment.NULL) ? null : ga));
            }
        }
        return new SegmentStateDict(Collections.unmodifiableMap(state), groupStates());
    }

    /** A segment for one state buffer; the native side writes numel floats to it, so it is checked first. */
    private static MemorySegment stateBuffer(SegmentAllocator allocator, long numel) {
        long bytes = numel * Float.BYTES;
        MemorySegment s = allocator.allocate(bytes, Float.BYTES);
        if (s == null || !s.isNative() || s.isReadOnly() || s.byteSize() != bytes || s.address() % Float.BYTES != 0) {
            throw new IllegalStateException("the allocator returned " + s + " for a buffer of " + bytes
                    + " bytes; it must return a native, writable, 4-byte aligned segment of exactly that size");
        }
        return s;
    }

    /**
     * {@link #loadStateDict(StateDict)} from segments, with the same checks and the same
     * all-or-nothing effect: each segment must be native (off-heap or mapped; read-only is fine),
     * 4-byte aligned, hold exactly the parameter's number of floats, and stay open during the
     * call. The values are copied; the segments may be closed afterwards.
     */
    public synchronized void loadStateDict(SegmentStateDict stateDict) {
        checkOpen();
        if (stateDict == null || stateDict.state() == null) {
            throw new IllegalArgumentException("state dict is null");
        }
        List<ParamGroup> loadedGroups = checkGroups(stateDict.paramGroups());
        for (Map.Entry<Integer, SegmentParamState> e : stateDict.state().entrySet()) {
            Integer index = e.getKey();
            SegmentParamState s = e.getValue();
            if (index == null || index < 0 || index >= params.length) {
                throw new IllegalArgumentException("state for parameter " + index + ", but the optimizer has "
                        + params.length + " parameters");
            }
            if (s == null || s.squareAvg() == null) {
                throw new IllegalArgumentException("parameter " + index + ": state without squareAvg");
            }
            if (s.step() < 0) {
                throw new IllegalArgumentException("parameter " + index + ": negative step " + s.step());
            }
            long numel = params[index].numel();
            checkStateSegment(index, "squareAvg", s.squareAvg(), numel);
            checkStateSegment(index, "momentumBuffer", s.momentumBuffer(), numel);
            checkStateSegment(index, "gradAvg", s.gradAvg(), numel);
        }
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment values = netcl_state_values.allocateArray(Math.max(1, params.length), temp);
            for (int i = 0; i < params.length; i++) {
                SegmentParamState s = stateDict.state().get(i);
                if (s != null) {
                    MemorySegment entry = netcl_state_values.asSlice(values, i);
                    netcl_state_values.step(entry, s.step());
                    netcl_state_values.numel(entry, params[i].numel());
                    netcl_state_values.square_avg(entry, s.squareAvg());
                    netcl_state_values.momentum_buffer(entry, orNull(s.momentumBuffer()));
                    netcl_state_values.grad_avg(entry, orNull(s.gradAvg()));
                }
            }
            NetclException.check(Netcl.netcl_rmsprop_load_state(optimizer, params.length, values),
                    "netcl_rmsprop_load_state");
        }
        for (int g = 0; g < loadedGroups.size(); g++) {
            groups.get(g).copyOptions(loadedGroups.get(g));
        }
    }

    private static void checkStateSegment(int index, String name, MemorySegment s, long numel) {
        if (s == null) {
            return;
        }
        String what = "parameter " + index + ": " + name;
        if (!s.scope().isAlive()) {
            throw new IllegalArgumentException(what + ": the segment's arena is closed");
        }
        if (!s.isNative()) {
            throw new IllegalArgumentException(what + " is a heap segment; it must be native memory");
        }
        if (s.byteSize() != numel * Float.BYTES) {
            throw new IllegalArgumentException(what + " has " + s.byteSize() + " bytes, the parameter has "
                    + numel + " floats (" + numel * Float.BYTES + " bytes)");
        }
        if (s.address() % Float.BYTES != 0) {
            throw new IllegalArgumentException(what + " at address 0x" + Long.toHexString(s.address())
                    + " is not aligned to 4 bytes");
        }
    }

    private static MemorySegment orNull(MemorySegment s) {
        return s == null ? MemorySegment.NULL : s;
    }

    // ---- end of the segment state dict ----

    /** Bytes copied between host tensors and the device so far: 0 on the zero-copy path. */
    public synchronized long stagedBytes() {
        checkOpen();
        NetclException.check(Netcl.netcl_context_get_staged_bytes(context, scratch), "netcl_context_get_staged_bytes");
        return scratch.get(ValueLayout.JAVA_LONG, 0);
    }

    /** The path the last successful step took ({@link StepPath#KERNEL} or {@link StepPath#HOST}). */
    public synchronized StepPath lastPath() {
        checkOpen();
        NetclException.check(Netcl.netcl_rmsprop_get_last_path(optimizer, scratch), "netcl_rmsprop_get_last_path");
        return StepPath.of(scratch.get(ValueLayout.JAVA_INT, 0));
    }

    /**
     * Kernel launches of the last step: one per group and memory span (see {@link Tensors}); 0
     * on the host path.
     */
    public synchronized int lastLaunchCount() {
        checkOpen();
        NetclException.check(Netcl.netcl_rmsprop_get_last_launch_count(optimizer, scratch),
                "netcl_rmsprop_get_last_launch_count");
        return scratch.get(ValueLayout.JAVA_INT, 0);
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Netcl.netcl_rmsprop_destroy(optimizer);
            Netcl.netcl_context_destroy(context);
            arena.close();
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the optimizer is closed");
        }
    }
}
