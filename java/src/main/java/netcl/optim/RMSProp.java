package netcl.optim;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.DoubleSupplier;

import netcl.bindings.Netcl;
import netcl.bindings.netcl_param_state;
import netcl.bindings.netcl_state_values;
import netcl.bindings.netcl_step_options;

/**
 * RMSProp with PyTorch's semantics ({@code torch.optim.RMSprop}, bit for bit on the CPU device),
 * run by fused OpenCL kernels on the caller's own off-heap tensors.
 *
 * <pre>{@code
 * RMSProp opt = RMSProp.builder().lr(1e-3).momentum(0.9).build(List.of(p1, p2));
 * opt.step();
 * }</pre>
 *
 * <p>Threads: an optimizer may be used from any thread; calls from several threads at once are
 * serialized (every public method holds the optimizer's lock), never interleaved. Objects the
 * caller shares with it follow one model: a step reads each parameter's gradient once (a
 * {@link Parameter#grad(MemorySegment)} swap from another thread takes effect at this step or the
 * next, never halfway) and each group's options as one snapshot (see {@link ParamGroup}); the
 * list {@link #paramGroups()} returns may be iterated while groups are added. In steady state
 * {@link #step()} allocates nothing on the Java heap.
 *
 * <p>Memory: for the whole native part of a step, the arena of every tensor it uses (data and
 * gradients) is held open, as FFM holds the arguments of a native call: {@code close()} on such a
 * shared arena throws {@code IllegalStateException} until the step returns, and a step over a
 * closed arena is refused before any native call. Segments of a confined arena may be used only
 * by its owner thread: {@code step()} on another thread throws {@link WrongThreadException}, as
 * reading them there would. What remains the caller's duty:
 * <ul>
 * <li>not to write a tensor's data or gradient (from Java or native code) while a step runs on
 * it, and not to read its data expecting a finished update before {@code step()} returns;</li>
 * <li>not to free the memory by means outside FFM (a segment made with
 * {@code MemorySegment.ofAddress(...).reinterpret(...)} over memory freed by {@code free()} or a
 * native library is not protected: its scope is global);</li>
 * <li>to close the optimizer; one that becomes unreachable unclosed is freed by a
 * {@link java.lang.ref.Cleaner} after a garbage collection, and creating optimizers while many
 * wait for it requests one ({@code System.gc()}).</li>
 * </ul>
 * A step holds at most 1,024 distinct arenas (allocate tensors from few arenas; slices of one
 * allocation also step faster).
 *
 * <p>Device-resident parameters ({@link Parameter#wrap(DeviceTensor, DeviceTensor)}) need no
 * arena: the optimizer holds its own reference on each of their buffers until it is closed, so a
 * {@link DeviceTensor} closed meanwhile leaves valid memory, and the next step refuses it.
 * {@link #enqueueStep} steps them without waiting.
 */
public final class RMSProp implements Optimizer {
    private final ParamGroup defaults;
    /** Native resources; also freed by a Cleaner when this optimizer is dropped unclosed. */
    private final NativeState state;
    private final Cleaner.Cleanable cleanable;
    private final MemorySegment context;
    private final MemorySegment optimizer;
    private final MemorySegment scratch;
    private final StepLayout layout;
    private final ArenaHold hold;
    private final DeviceBuffers deviceBuffers;
    /** The cl_event wait list of enqueueStep, grown as needed. */
    private MemorySegment waitList = MemorySegment.NULL;
    /** Immutable, replaced by addParamGroup: callers may iterate it while groups are added. */
    private volatile List<ParamGroup> groups = List.of();
    private final Set<Parameter> known = Collections.newSetFromMap(new IdentityHashMap<>());
    /** Every parameter's data by start address: finds an overlap in O(log n) per new parameter. */
    private final NavigableMap<Long, MemorySegment> dataByAddress = new TreeMap<>();
    /** Device parameters' data by buffer address, then by offset: the same for device memory. */
    private final Map<Long, NavigableMap<Long, DeviceTensor>> deviceDataByBuffer = new HashMap<>();
    private Parameter[] params = new Parameter[0];
    /**
     * Per host parameter, the gradient the last step read, whose address the step arrays hold and
     * whose scope the hold keeps ({@link #NOT_WRITTEN} until a step wrote one); Object[]: see
     * ArenaHold.segments.
     */
    private Object[] stepGrads = new Object[0];
    /** Stands for a gradient not yet written into the step arrays (see {@link #stepGrads}). */
    private static final Object NOT_WRITTEN = new Object();
    /** GradScaler's unscaling and clipGradNorm's coefficient, applied inside the next step. */
    private float pendingInvScale = 1f;
    private float pendingClip = 1f;
    private final GradientStatistics statistics;
    /** The gradient pass over the step arrays with the statistics' factor and output. */
    private final ArenaHold.HoldingCall statsCall;
    private boolean closed;

    private RMSProp(ParamGroup defaults, NativeState state, ParamGroup first) {
        this.defaults = defaults;
        this.state = state;
        this.context = state.context;
        this.optimizer = state.optimizer;
        this.scratch = state.scratch;
        this.layout = state.layout;
        this.hold = state.hold;
        this.deviceBuffers = state.deviceBuffers;
        this.statistics = new GradientStatistics(state.arena);
        this.statsCall = hold.callingBack(() -> Netcl.netcl_rmsprop_grad_stats(optimizer, layout.tensors(),
                layout.tensorCount(), statistics.factor(), statistics.perTensor()));
        try {
            addParamGroup(first);
        } catch (RuntimeException e) {
            state.run();
            throw e;
        }
        this.cleanable = state.freeWhenUnreachable(this);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Options of the first group and defaults of later ones; PyTorch's defaults unless set. */
    public static final class Builder {
        private final ParamGroup defaults = ParamGroup.defaults();
        private String device;
        private DeviceContext context;
        private MemorySegment clContext;
        private MemorySegment clQueue;
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

        /**
         * The OpenCL device (see {@link Device}); without it, {@link #context} or
         * {@link #openclContext}: {@code NETCL_DEVICE}, then the default device for host tensors.
         */
        public Builder device(String selector) {
            this.device = DeviceContext.checkSelector(selector);
            return this;
        }

        /**
         * Runs on {@code context}, where its {@link DeviceTensor}s live; the optimizer keeps it
         * alive until closed.
         */
        public Builder context(DeviceContext context) {
            if (context == null) {
                throw new IllegalArgumentException("context is null");
            }
            this.context = context;
            return this;
        }

        /**
         * Runs on another OpenCL user's context and in-order queue (raw handles, see
         * {@link DeviceContext#fromOpenCL}), whose buffers parameters may then wrap
         * ({@link DeviceTensor#wrap}); the optimizer owns the netcl context it makes of them.
         */
        public Builder openclContext(MemorySegment clContext, MemorySegment clQueue) {
            DeviceContext.checkHandle("clContext", clContext);
            DeviceContext.checkHandle("clQueue", clQueue);
            this.clContext = clContext;
            this.clQueue = clQueue;
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
            if ((device != null ? 1 : 0) + (context != null ? 1 : 0) + (clContext != null ? 1 : 0) > 1) {
                throw new IllegalArgumentException("choose the device once: with device(), context() or "
                        + "openclContext()");
            }
            NativeState state;
            if (context != null) {
                context.acquire();
                state = new NativeState(context, false, path);
            } else {
                NativeLibrary.load();
                state = new NativeState(clContext != null ? DeviceContext.fromOpenCL(clContext, clQueue)
                                                          : DeviceContext.forHostTensors(device), true, path);
            }
            return new RMSProp(snapshot, state, first);
        }
    }

    /** The device the optimizer runs on. */
    public Device device() {
        return state.device;
    }

    @Override
    public synchronized List<ParamGroup> paramGroups() {
        checkOpen();
        return groups;
    }

    @Override
    public synchronized void addParamGroup(ParamGroup group) {
        checkOpen();
        try {
            if (group == null) {
                throw new IllegalArgumentException("group is null");
            }
            group.checkUnowned();
            List<Parameter> added = group.params();
            for (Parameter p : added) {
                if (known.contains(p)) {
                    throw new IllegalArgumentException("some parameters appear in more than one parameter group");
                }
            }
            NavigableMap<Long, MemorySegment> addedData = new TreeMap<>();
            List<DeviceTensor> addedDevice = new ArrayList<>();
            for (Parameter p : added) {
                if (p.isDeviceResident()) {
                    checkNoDeviceOverlap(p.deviceData(), addedDevice);
                    addedDevice.add(p.deviceData());
                    continue;
                }
                checkNoOverlap(dataByAddress, p.data());
                checkNoOverlap(addedData, p.data());
                addedData.put(p.data().address(), p.data());
            }
            deviceBuffers.adopt(added, params.length);
            group.adopt(defaults);
            layout.addGroup(added);
            for (DeviceTensor t : addedDevice) {
                deviceDataByBuffer.computeIfAbsent(t.buffer().address(), b -> new TreeMap<>()).put(t.offset(), t);
            }
            List<ParamGroup> grown = new ArrayList<>(groups);
            grown.add(group);
            groups = List.copyOf(grown);
            known.addAll(added);
            dataByAddress.putAll(addedData);
            Parameter[] all = Arrays.copyOf(params, params.length + added.size());
            for (int i = 0; i < added.size(); i++) {
                all[params.length + i] = added.get(i);
            }
            params = all;
            stepGrads = new Object[all.length];
            Arrays.fill(stepGrads, NOT_WRITTEN);
        } finally {
            Reference.reachabilityFence(this);  // the Cleaner must not free what this call uses
        }
    }

    /**
     * Two parameters over the same memory would be updated twice per step. {@code byAddress}
     * holds disjoint segments, so only the neighbours of {@code data}'s start can overlap it.
     */
    private static void checkNoOverlap(NavigableMap<Long, MemorySegment> byAddress, MemorySegment data) {
        checkNoOverlap(byAddress.floorEntry(data.address()), data);
        checkNoOverlap(byAddress.ceilingEntry(data.address()), data);
    }

    private static void checkNoOverlap(Map.Entry<Long, MemorySegment> neighbour, MemorySegment data) {
        if (neighbour != null && Parameter.overlaps(neighbour.getValue(), data)) {
            throw new IllegalArgumentException("two parameters share memory at 0x"
                    + Long.toHexString(Math.max(neighbour.getKey(), data.address())));
        }
    }

    /** The same for device data: against the parameters so far and those being added. */
    private void checkNoDeviceOverlap(DeviceTensor data, List<DeviceTensor> adding) {
        NavigableMap<Long, DeviceTensor> inBuffer = deviceDataByBuffer.get(data.buffer().address());
        List<DeviceTensor> neighbours = new ArrayList<>(adding);
        if (inBuffer != null) {
            Map.Entry<Long, DeviceTensor> below = inBuffer.floorEntry(data.offset());
            Map.Entry<Long, DeviceTensor> above = inBuffer.ceilingEntry(data.offset());
            if (below != null) neighbours.add(below.getValue());
            if (above != null) neighbours.add(above.getValue());
        }
        for (DeviceTensor other : neighbours) {
            if (other.overlaps(data)) {
                throw new IllegalArgumentException("two parameters share device memory: floats from "
                        + Math.max(other.offset(), data.offset()) + " of one buffer");
            }
        }
    }

    /**
     * One update of every parameter that has a gradient, with each tensor's arena held open for
     * the native call (see the class comment).
     *
     * @throws IllegalArgumentException a tensor's arena is closed, or the tensors live in more than
     *                                  1,024 distinct arenas; nothing changed
     * @throws WrongThreadException     a tensor belongs to a confined arena of another thread;
     *                                  nothing changed
     * @throws NetclException           the native step failed
     */
    @Override
    public synchronized void step() {
        checkOpen();
        try {
            List<ParamGroup> stepGroups = groups;
            for (int g = 0; g < stepGroups.size(); g++) {
                stepGroups.get(g).writeOptions(layout, g);
            }
            boolean scaled = pendingInvScale != 1f || Float.floatToRawIntBits(pendingClip) != Float.floatToRawIntBits(1f);
            if (scaled) {
                netcl_step_options.inv_scale(state.stepOptions, pendingInvScale);
                netcl_step_options.clip_coef(state.stepOptions, pendingClip);
            }
            runOnGradients(scaled ? state.scaledStep : state.step, "netcl_rmsprop_step_holding");
            dropPendingScaling();
        } finally {
            Reference.reachabilityFence(this);  // the Cleaner must not free what this call uses
        }
    }

    /**
     * Makes a native call over the step arrays with every tensor's current gradient, held open.
     * FFM's hold checks every arena (closed, or confined to another thread) before the call, so
     * the per-tensor checks run only once it refused, to name the tensor (checking every tensor
     * first took about 10 ns a step).
     */
    private void runOnGradients(ArenaHold.HoldingCall call, String name) {
        while (true) {
            try {
                readGradients();
                NetclException.check(hold.run(call), name);
                return;
            } catch (IllegalStateException | WrongThreadException e) {
                // When the refusal follows a gradient swap (another thread set a new gradient,
                // then closed the old one's arena), the call reads the gradients again: it uses
                // each parameter's gradient as of one instant.
                if (!(e instanceof IllegalStateException && gradientSwapped())) {
                    throw refused(e);
                }
            }
        }
    }

    /**
     * One pass over every gradient times {@code factor} (see {@link GradientStatistics}); with
     * {@code keep}, its totals are kept for clipGradNorm. Returns the statistics, which hold them.
     */
    private GradientStatistics gradientPass(float factor, boolean keep) {
        try {
            statistics.begin(params, factor);
            runOnGradients(statsCall, "netcl_rmsprop_grad_stats");
            statistics.finish(params, keep);
            return statistics;
        } finally {
            Reference.reachabilityFence(this);  // the Cleaner must not free what this call uses
        }
    }

    /**
     * Clips the gradients of all parameters by their total L2 norm, like PyTorch's
     * {@code clip_grad_norm_(params, maxNorm)}: see {@link #clipGradNorm(double, double, boolean)}.
     */
    public synchronized double clipGradNorm(double maxNorm) {
        return clipGradNorm(maxNorm, 2.0, false);
    }

    /** {@link #clipGradNorm(double, double, boolean)} without the non-finite check. */
    public synchronized double clipGradNorm(double maxNorm, double normType) {
        return clipGradNorm(maxNorm, normType, false);
    }

    /**
     * Clips the gradients of all parameters (that have one) as PyTorch 1.13's
     * {@code clip_grad_norm_(params, maxNorm, normType, errorIfNonfinite)} does: the total norm
     * over every element (L2, or the largest magnitude for {@code Double.POSITIVE_INFINITY}),
     * computed in double from the float32 gradients and returned rounded to float32 (PyTorch's own
     * float32 reduction order cannot be reproduced; this is at least as accurate; device-resident
     * gradients are reduced on their device, in compensated float, about 44 bits, where it lacks
     * doubles), then the coefficient {@code min(maxNorm / (norm + 1e-6), 1)} in float32. The
     * gradients are multiplied by it inside the next step's pass (after a
     * {@link GradScaler#unscale} pending for this optimizer), not rewritten in memory. At most
     * once between steps.
     *
     * <p>After {@link GradScaler#unscale} this reads no gradient: it takes the norm from the
     * statistics unscale's pass gathered, as long as no gradient changed through netcl since
     * (a new gradient segment, {@code zeroGrad} of any optimizer, added parameters: then it makes
     * its own pass). Gradient memory written by other means between the two calls (from Java or
     * native code) is not seen: the norm is that of the gradients unscale read, unless the
     * writer sets the gradient again ({@code p.grad(p.grad())}), which counts as a change.
     *
     * @return the total norm of the gradients (0 when no parameter has one)
     * @throws IllegalArgumentException {@code maxNorm} not finite and &gt; 0, or another norm type
     * @throws IllegalStateException    called twice before a step, or the norm is not finite and
     *                                  {@code errorIfNonfinite}; nothing changed
     */
    public synchronized double clipGradNorm(double maxNorm, double normType, boolean errorIfNonfinite) {
        checkOpen();
        if (!(maxNorm > 0) || Double.isInfinite(maxNorm)) {
            throw new IllegalArgumentException("maxNorm must be finite and > 0, got " + maxNorm);
        }
        if (normType != 2.0 && normType != Double.POSITIVE_INFINITY) {
            throw new IllegalArgumentException("normType must be 2.0 or Double.POSITIVE_INFINITY, got " + normType);
        }
        if (Float.floatToRawIntBits(pendingClip) != Float.floatToRawIntBits(1f)) {
            throw new IllegalStateException("clipGradNorm was already called since the last step");
        }
        if (!statistics.reusable(params, pendingInvScale)) {
            gradientPass(pendingInvScale, false);
        }
        if (!statistics.any()) {
            return 0.0;
        }
        float norm = (float) (normType == 2.0 ? Math.sqrt(statistics.sumSquares()) : statistics.maxAbs());
        if (errorIfNonfinite && !Float.isFinite(norm)) {
            throw new IllegalStateException("the total norm of order " + normType + " of the gradients is "
                    + norm + ", so they cannot be clipped (errorIfNonfinite)");
        }
        float coef = (1.0f / (norm + 1e-6f)) * (float) maxNorm;
        pendingClip = coef > 1.0f ? 1.0f : coef;  // clamp(max=1): a NaN stays NaN, as in PyTorch
        return norm;
    }

    /**
     * Makes the next step read every gradient times {@code invScale} (GradScaler's unscaling);
     * with {@code check}, also reports in one pass whether any gradient is inf or NaN, and keeps
     * that pass's statistics for clipGradNorm.
     */
    synchronized boolean unscaleGradients(float invScale, boolean check) {
        checkOpen();
        boolean nonFinite = check && gradientPass(invScale, true).nonFinite();
        pendingInvScale = invScale;
        return nonFinite;
    }

    /** Whether any gradient is inf or NaN (one pass, nothing changed). */
    synchronized boolean gradientsNonFinite() {
        checkOpen();
        return gradientPass(1f, false).nonFinite();
    }

    /**
     * Forgets a pending unscaling and clip coefficient, and the statistics kept for them: the
     * step they were for has run or is skipped.
     */
    synchronized void dropPendingScaling() {
        pendingInvScale = 1f;
        pendingClip = 1f;
        statistics.forget();
    }

    /**
     * Reads each parameter's gradient once (the address the step gets and the scope held for it
     * are then the same segment's). Only a gradient other than the last step's is written into
     * the step arrays, and only when one of those lives in another arena than the gradient it
     * replaced is the hold filled again, with every data and gradient segment: writing each
     * address and adding each scope every step cost about 8 ns a tensor (1,000 tensors of 100
     * floats: 18-26 us a step from Java against 13 us from C). A gradient from the same arena as
     * the last leaves the set of scopes to hold as it was, whichever segment holds each.
     */
    private void readGradients() {
        boolean scopesChanged = false;
        for (int i = 0; i < params.length; i++) {
            Parameter p = params[i];
            if (p.isDeviceResident()) {
                deviceBuffers.writeGrad(layout, i, p);  // no arena: the optimizer holds the buffers
                continue;
            }
            MemorySegment grad = p.grad();
            Object was = stepGrads[i];
            if (grad != was) {
                stepGrads[i] = grad;
                layout.grad(i, grad == null ? 0L : grad.address());
                scopesChanged |= !(grad != null && was instanceof MemorySegment last
                        && last.scope().equals(grad.scope()));
            }
        }
        if (scopesChanged) {
            hold.forget();
            for (int i = 0; i < params.length; i++) {
                if (!params[i].isDeviceResident()) {
                    hold.add(params[i].data());
                    if (stepGrads[i] != null) {
                        hold.add((MemorySegment) stepGrads[i]);
                    }
                }
            }
        }
    }

    private boolean gradientSwapped() {
        for (int i = 0; i < params.length; i++) {
            if (!params[i].isDeviceResident() && params[i].grad() != stepGrads[i]) {
                return true;
            }
        }
        return false;
    }

    private static IllegalArgumentException closed(int index, String what, Throwable cause) {
        return new IllegalArgumentException("parameter " + index + ": the arena of its " + what
                + " segment is closed", cause);
    }

    /**
     * Why the hold refused the step's segments, naming the first tensor at fault: a closed arena,
     * or a confined arena of another thread (FFM's own rule: a plain read from another thread
     * throws too). {@code e} itself when no tensor is at fault any more.
     */
    private RuntimeException refused(RuntimeException e) {
        Thread caller = Thread.currentThread();
        for (int i = 0; i < params.length; i++) {
            if (params[i].isDeviceResident()) {
                continue;
            }
            RuntimeException fault = refused(i, "data", params[i].data(), caller, e);
            if (fault == null && stepGrads[i] instanceof MemorySegment grad) {
                fault = refused(i, "grad", grad, caller, e);
            }
            if (fault != null) {
                return fault;
            }
        }
        return e;
    }

    private static RuntimeException refused(int index, String what, MemorySegment segment, Thread caller,
                                            RuntimeException cause) {
        if (!segment.scope().isAlive()) {
            return closed(index, what, cause);
        }
        if (!segment.isAccessibleBy(caller)) {
            return new WrongThreadException("parameter " + index + ": its " + what + " segment belongs to a "
                    + "confined arena of another thread, and step() ran on " + caller + ", which may not access it",
                    cause);
        }
        return null;
    }

    /**
     * Enqueues a step without waiting for it, for device-resident parameters on a queue shared
     * with other OpenCL work: it starts once the events {@code waitFor} (raw {@code cl_event}
     * handles of the optimizer's OpenCL context) have completed, and the returned event completes
     * with it. Until then the parameters' data and gradients must not be written or the data
     * read, except by work ordered after the step: later commands on the same queue (such as
     * {@link DeviceTensor#copyFrom} and {@link DeviceTensor#copyTo} on the optimizer's context)
     * or commands waiting for the event. Later calls that read or write the state
     * ({@link #stateDict()}, {@link #loadStateDict}, {@link #step()}) wait for it first.
     *
     * @throws IllegalStateException    when a parameter with a gradient is in host memory (its
     *                                  arena could not be held open while the step runs)
     * @throws IllegalArgumentException for a null or heap handle, a closed tensor, or an event of
     *                                  another context or one that failed; nothing is enqueued
     */
    public synchronized DeviceEvent enqueueStep(MemorySegment... waitFor) {
        checkOpen();
        try {
            if (waitFor == null) {
                throw new IllegalArgumentException("waitFor is null");
            }
            for (int i = 0; i < params.length; i++) {
                if (!params[i].isDeviceResident() && params[i].grad() != null) {
                    throw new IllegalStateException("enqueueStep needs device-resident parameters, but "
                            + "parameter " + i + " is in host memory: use step()");
                }
            }
            for (int i = 0; i < waitFor.length; i++) {
                DeviceContext.checkHandle("waitFor[" + i + "]", waitFor[i]);
            }
            if (waitList.byteSize() < waitFor.length * ValueLayout.ADDRESS.byteSize()) {
                waitList = state.arena.allocate(ValueLayout.ADDRESS, waitFor.length);
            }
            for (int i = 0; i < waitFor.length; i++) {
                waitList.setAtIndex(ValueLayout.ADDRESS, i, waitFor[i]);
            }
            List<ParamGroup> stepGroups = groups;
            for (int g = 0; g < stepGroups.size(); g++) {
                stepGroups.get(g).writeOptions(layout, g);
            }
            for (int i = 0; i < params.length; i++) {
                if (params[i].isDeviceResident()) {
                    deviceBuffers.writeGrad(layout, i, params[i]);
                } else {
                    layout.grad(i, 0L);
                    stepGrads[i] = NOT_WRITTEN;
                }
            }
            boolean scaled = pendingInvScale != 1f || Float.floatToRawIntBits(pendingClip) != Float.floatToRawIntBits(1f);
            if (scaled) {
                netcl_step_options.inv_scale(state.stepOptions, pendingInvScale);
                netcl_step_options.clip_coef(state.stepOptions, pendingClip);
            }
            NetclException.checkArgument(Netcl.netcl_rmsprop_enqueue_step(optimizer, layout.groups(),
                    layout.groupCount(), layout.tensors(), layout.tensorCount(),
                    scaled ? state.stepOptions : MemorySegment.NULL, waitFor.length,
                    waitFor.length == 0 ? MemorySegment.NULL : waitList, scratch), "netcl_rmsprop_enqueue_step");
            dropPendingScaling();
            return new DeviceEvent(scratch.get(ValueLayout.ADDRESS, 0));
        } finally {
            Reference.reachabilityFence(this);  // the Cleaner must not free what this call uses
        }
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
        try {
            DeviceTensor[] deviceGrads = new DeviceTensor[params.length];
            for (int i = 0; i < params.length && !setToNone; i++) {  // all refusals before any change
                deviceGrads[i] = params[i].deviceGrad();  // once: another thread may swap it meanwhile
                if (deviceGrads[i] != null) {
                    deviceBuffers.holdGrad(i, deviceGrads[i]);
                }
            }
            for (int i = 0; i < params.length; i++) {
                Parameter p = params[i];
                MemorySegment grad = p.grad();  // once: another thread may swap it meanwhile
                if (setToNone) {
                    p.grad(null);
                } else if (deviceGrads[i] != null) {
                    deviceBuffers.zero(deviceGrads[i]);
                    p.gradChanged();
                } else if (grad != null) {
                    grad.fill((byte) 0);
                    p.gradChanged();
                }
            }
        } finally {
            Reference.reachabilityFence(this);  // the Cleaner must not free what this call uses
        }
    }

    @Override
    public synchronized StateDict stateDict() {
        checkOpen();
        try {
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
                    float[] master = null;
                    if (netcl_param_state.has_master(info) != 0) {
                        MemorySegment mw = temp.allocate(ValueLayout.JAVA_FLOAT, numel);
                        NetclException.check(Netcl.netcl_rmsprop_read_master(optimizer, i, numel, mw),
                                "netcl_rmsprop_read_master");
                        master = mw.toArray(ValueLayout.JAVA_FLOAT);
                    }
                    state.put(i, new ParamState(netcl_param_state.step(info), v.toArray(ValueLayout.JAVA_FLOAT),
                            m.equals(MemorySegment.NULL) ? null : m.toArray(ValueLayout.JAVA_FLOAT),
                            ga.equals(MemorySegment.NULL) ? null : ga.toArray(ValueLayout.JAVA_FLOAT), master));
                }
            }
            List<StateDict.GroupState> groupStates = new ArrayList<>();
            int index = 0;
            for (ParamGroup g : groups) {
                List<Integer> ids = new ArrayList<>();
                for (int k = 0; k < g.params().size(); k++) {
                    ids.add(index++);
                }
                groupStates.add(g.state(List.copyOf(ids)));
            }
            return new StateDict(Collections.unmodifiableMap(state), List.copyOf(groupStates));
        } finally {
            Reference.reachabilityFence(this);  // the Cleaner must not free what this call uses
        }
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
        try {
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
                        netcl_state_values.master(entry, floats(temp, s.master()));
                    }
                }
                NetclException.check(Netcl.netcl_rmsprop_load_state(optimizer, params.length, values),
                        "netcl_rmsprop_load_state");
            }
            for (int g = 0; g < loadedGroups.size(); g++) {
                groups.get(g).copyOptions(loadedGroups.get(g));
            }
        } finally {
            Reference.reachabilityFence(this);  // the Cleaner must not free what this call uses
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
            checkLength(index, "master", s.master(), numel);
            checkMasterType(index, s.master() != null);
        }
        return loaded;
    }

    private void checkMasterType(int index, boolean hasMaster) {
        if (hasMaster && params[index].dtype() == DType.FP32) {
            throw new IllegalArgumentException("parameter " + index + ": a master copy for an FP32 parameter "
                    + "(only BF16 and FP16 parameters have one)");
        }
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
        try {
            Map<Integer, ParamStateInfo> infos = new LinkedHashMap<>();
            for (int i = 0; i < params.length; i++) {
                ParamStateInfo info = stateInfo(i);
                if (info != null) {
                    infos.put(i, info);
                }
            }
            return Collections.unmodifiableMap(infos);
        } finally {
            Reference.reachabilityFence(this);  // the Cleaner must not free what this call uses
        }
    }

    /** Parameter {@code index}'s state, or null when it has none. */
    private ParamStateInfo stateInfo(int index) {
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment info = netcl_param_state.allocate(temp);
            NetclException.check(Netcl.netcl_rmsprop_get_state(optimizer, index, info), "netcl_rmsprop_get_state");
            return netcl_param_state.has_square_avg(info) == 0 ? null
                    : new ParamStateInfo(netcl_param_state.step(info), netcl_param_state.numel(info),
                            netcl_param_state.has_momentum_buffer(info) != 0, netcl_param_state.has_grad_avg(info) != 0,
                            netcl_param_state.has_master(info) != 0);
        }
    }

    /**
     * The state dict with every buffer copied from the device straight into a segment from
     * {@code allocator} (an {@link Arena}, or slices of a file mapping): no {@code float[]}, no
     * size cap. Buffers are requested in a fixed order, {@code numel * 4} bytes each with 4-byte
     * alignment: parameter by parameter in index order, {@code square_avg}, then
     * {@code momentum_buffer}, {@code grad_avg} and {@code master} where they exist (see
     * {@link #stateInfo()}).
     * Each segment the allocator returns must be native, writable and exactly that size.
     */
    public synchronized SegmentStateDict stateDict(SegmentAllocator allocator) {
        checkOpen();
        try {
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
                    MemorySegment master = netcl_param_state.has_master(info) != 0
                            ? stateBuffer(allocator, numel) : null;
                    NetclException.check(Netcl.netcl_rmsprop_read_state(optimizer, i, numel, v, m, ga),
                            "netcl_rmsprop_read_state");
                    if (master != null) {
                        NetclException.check(Netcl.netcl_rmsprop_read_master(optimizer, i, numel, master),
                                "netcl_rmsprop_read_master");
                    }
                    state.put(i, new SegmentParamState(netcl_param_state.step(info), v,
                            m.equals(MemorySegment.NULL) ? null : m, ga.equals(MemorySegment.NULL) ? null : ga, master));
                }
            }
            return new SegmentStateDict(Collections.unmodifiableMap(state), groupStates());
        } finally {
            Reference.reachabilityFence(this);  // the Cleaner must not free what this call uses
        }
    }

    /**
     * Copies elements {@code first}, {@code first + 1}, ... of parameter {@code index}'s state
     * {@code buffer} into {@code out}, as many floats as it holds, so that a large state can
     * stream through a small buffer (as {@link netcl.checkpoint.Checkpoint#save} writes it to a
     * file). Several calls see one unchanging state when the caller holds the optimizer's lock
     * around them ({@code synchronized (opt) {...}}): a step from another thread waits for it.
     *
     * @throws IllegalArgumentException the parameter has no such buffer (see {@link #stateInfo()}),
     *                                  the range goes beyond it, or {@code out} is not an open,
     *                                  native, writable, 4-byte aligned segment of whole floats
     */
    public synchronized void readState(int index, StateBuffer buffer, long first, MemorySegment out) {
        checkOpen();
        try {
            if (buffer == null || out == null) {
                throw new IllegalArgumentException("buffer and out must not be null");
            }
            if (!out.scope().isAlive() || !out.isNative() || out.isReadOnly() || out.byteSize() % Float.BYTES != 0
                    || out.address() % Float.BYTES != 0) {
                throw new IllegalArgumentException("out is " + out + "; it must be an open, native, writable, "
                        + "4-byte aligned segment of whole floats");
            }
            ParamStateInfo info = index >= 0 && index < params.length ? stateInfo(index) : null;
            if (info == null || !buffer.isIn(info)) {
                throw new IllegalArgumentException("parameter " + index + " has no " + buffer + " state");
            }
            long count = out.byteSize() / Float.BYTES;
            if (first < 0 || first > info.numel() - count) {
                throw new IllegalArgumentException("parameter " + index + ": " + count + " elements from " + first
                        + " go beyond its " + info.numel());
            }
            NetclException.check(Netcl.netcl_rmsprop_read_state_range(optimizer, index, buffer.nativeCode(), first,
                    count, out), "netcl_rmsprop_read_state_range");
        } finally {
            Reference.reachabilityFence(this);  // the Cleaner must not free what this call uses
        }
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
            groupStates.add(g.state(List.copyOf(ids)));
        }
        return List.copyOf(groupStates);
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
        try {
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
                if (s == null) {
                    throw new IllegalArgumentException("parameter " + index + ": state without squareAvg");
                }
                s.checkFits(index, params[index].numel());
                checkMasterType(index, s.master() != null);
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
                        netcl_state_values.master(entry, orNull(s.master()));
                    }
                }
                NetclException.check(Netcl.netcl_rmsprop_load_state(optimizer, params.length, values),
                        "netcl_rmsprop_load_state");
            }
            for (int g = 0; g < loadedGroups.size(); g++) {
                groups.get(g).copyOptions(loadedGroups.get(g));
            }
        } finally {
            Reference.reachabilityFence(this);  // the Cleaner must not free what this call uses
        }
    }

    private static MemorySegment orNull(MemorySegment s) {
        return s == null ? MemorySegment.NULL : s;
    }

    // ---- end of the segment state dict ----

    /** Bytes copied between host tensors and the device so far: 0 on the zero-copy path. */
    public synchronized long stagedBytes() {
        checkOpen();
        try {
            NetclException.check(Netcl.netcl_context_get_staged_bytes(context, scratch),
                    "netcl_context_get_staged_bytes");
            return scratch.get(ValueLayout.JAVA_LONG, 0);
        } finally {
            Reference.reachabilityFence(this);  // the Cleaner must not free what this call uses
        }
    }

    /** The path the last successful step took ({@link StepPath#KERNEL} or {@link StepPath#HOST}). */
    public synchronized StepPath lastPath() {
        checkOpen();
        try {
            NetclException.check(Netcl.netcl_rmsprop_get_last_path(optimizer, scratch), "netcl_rmsprop_get_last_path");
            return StepPath.of(scratch.get(ValueLayout.JAVA_INT, 0));
        } finally {
            Reference.reachabilityFence(this);  // the Cleaner must not free what this call uses
        }
    }

    /**
     * Kernel launches of the last step: one per group and memory span (see {@link Tensors}); 0
     * on the host path.
     */
    public synchronized int lastLaunchCount() {
        checkOpen();
        try {
            NetclException.check(Netcl.netcl_rmsprop_get_last_launch_count(optimizer, scratch),
                    "netcl_rmsprop_get_last_launch_count");
            return scratch.get(ValueLayout.JAVA_INT, 0);
        } finally {
            Reference.reachabilityFence(this);  // the Cleaner must not free what this call uses
        }
    }

    /**
     * Frees the optimizer's native resources at once; later calls throw
     * {@link IllegalStateException}; idempotent. An optimizer that is never closed is freed by a
     * Cleaner once unreachable, later and at the cost of a garbage collection.
     */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            cleanable.clean();
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the optimizer is closed");
        }
    }
}
