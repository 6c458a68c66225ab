package netcl.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Deque;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.DoubleSupplier;
import java.util.function.Function;

import netcl.optim.DType;
import netcl.optim.Optimizer;
import netcl.optim.ParamGroup;
import netcl.optim.ParamState;
import netcl.optim.ParamStateInfo;
import netcl.optim.Parameter;
import netcl.optim.RMSProp;
import netcl.optim.SegmentParamState;
import netcl.optim.SegmentStateDict;
import netcl.optim.StateBuffer;
import netcl.optim.StateDict;
import netcl.optim.StepPath;

/**
 * RMSProp for data-parallel training with its state sharded over the ranks of a
 * {@link Communicator} (ZeRO stage 1). Every rank holds the whole model and computes gradients on
 * its part of the batch; a {@link #step()} then
 * <ol>
 *   <li>checks that every rank steps the same parameters with the same options (one small
 *       all-reduce),</li>
 *   <li>reduce-scatters the gradients, so that each rank holds the mean over the ranks of its
 *       shard of the flat parameter space (see {@link ShardLayout}),</li>
 *   <li>updates only that shard with netcl's {@link RMSProp}, whose parameters are slices of the
 *       caller's tensors (a shard may cut through a tensor), so a rank's optimizer state covers
 *       about 1/W of the parameters,</li>
 *   <li>and all-gathers the updated parameters, after every rank confirmed its update (a second
 *       small all-reduce).</li>
 * </ol>
 * The bytes on the wire are those of one gradient all-reduce. With two ranks the averaged gradient
 * is {@code (g0 + g1) / 2}, so the parameters and state are bit for bit those of one
 * {@link RMSProp} stepped with that gradient; with more ranks MPI chooses the order of the sum.
 *
 * <p>The API is {@link RMSProp}'s (builder, groups, step, zeroGrad, state dicts, close). Calls that
 * communicate are collective: {@link #step()}, {@link #addParamGroup}, {@link #stateDict()} and
 * {@link #stateDict(int)}, and creation, which checks that every rank has the same parameter
 * count, sizes and options and fails on every rank otherwise. {@link #loadStateDict} takes a full
 * state dict (from any number of ranks) and keeps this rank's shard of it.
 */
public final class ShardedRMSProp implements Optimizer {
    /** A gather's root that stands for all ranks: an all-gather. */
    private static final int EVERY_RANK = -1;

    private final Communicator comm;
    private final ParamGroup defaults;
    private final String device;
    private final StepPath path;
    private final List<ParamGroup> groups = new ArrayList<>();
    private final List<ParamGroup> groupsView = Collections.unmodifiableList(groups);
    private Parameter[] params = new Parameter[0];
    private ShardLayout layout;
    private Arena buffers;
    private MemorySegment flat;
    /** The parameters' own memory in flat order when they lie back to back (see {@link #span}), else null. */
    private MemorySegment paramSpan;
    private MemorySegment shardGrad;
    private RMSProp inner;
    /** Per slice of this shard: its inner parameter and its gradient (a slice of shardGrad). */
    private Parameter[] innerParams = new Parameter[0];
    private MemorySegment[] innerGrads = new MemorySegment[0];
    /** The outer group of each inner group (groups with no slice on this rank have none). */
    private int[] innerGroupOf = new int[0];
    private boolean closed;

    private ShardedRMSProp(Communicator comm, ParamGroup defaults, String device, StepPath path) {
        this.comm = comm;
        this.defaults = defaults;
        this.device = device;
        this.path = path;
    }

    /** A builder for an optimizer over {@code comm}'s ranks. */
    public static Builder builder(Communicator comm) {
        if (comm == null) {
            throw new IllegalArgumentException("communicator is null");
        }
        return new Builder(comm);
    }

    /** Options of the first group and defaults of later ones, as {@link RMSProp.Builder}'s. */
    public static final class Builder {
        private final Communicator comm;
        /** Checks each option as RMSProp does, with its messages; builds nothing. */
        private final RMSProp.Builder checks = RMSProp.builder();
        private double lr = 1e-2;
        private double alpha = 0.99;
        private double eps = 1e-8;
        private double weightDecay;
        private double momentum;
        private boolean centered;
        private boolean maximize;
        private String device;
        private StepPath path;

        private Builder(Communicator comm) {
            this.comm = comm;
        }

        public Builder lr(double lr) {
            checks.lr(lr);
            this.lr = lr;
            return this;
        }

        public Builder alpha(double alpha) {
            checks.alpha(alpha);
            this.alpha = alpha;
            return this;
        }

        public Builder eps(double eps) {
            checks.eps(eps);
            this.eps = eps;
            return this;
        }

        public Builder weightDecay(double weightDecay) {
            checks.weightDecay(weightDecay);
            this.weightDecay = weightDecay;
            return this;
        }

        public Builder momentum(double momentum) {
            checks.momentum(momentum);
            this.momentum = momentum;
            return this;
        }

        public Builder centered(boolean centered) {
            this.centered = centered;
            return this;
        }

        public Builder maximize(boolean maximize) {
            this.maximize = maximize;
            return this;
        }

        /** The OpenCL device of this rank's updates (see {@link RMSProp.Builder#device}). */
        public Builder device(String selector) {
            checks.device(selector);
            this.device = selector;
            return this;
        }

        /** How this rank's updates run (see {@link RMSProp.Builder#path}). */
        public Builder path(StepPath path) {
            checks.path(path);
            this.path = path;
            return this;
        }

        /** Creates the optimizer (collective) with {@code params} as its first group. */
        public ShardedRMSProp build(List<Parameter> params) {
            ParamGroup first = ParamGroup.of(params);
            // Only the options of this group are used: the defaults later groups inherit.
            ParamGroup options = ParamGroup.of(params).lr(lr).alpha(alpha).eps(eps).weightDecay(weightDecay)
                    .momentum(momentum).centered(centered).maximize(maximize);
            ShardedRMSProp opt = new ShardedRMSProp(comm, options, device, path);
            try {
                opt.addParamGroup(first);
            } catch (RuntimeException e) {
                opt.close();
                throw e;
            }
            return opt;
        }
    }

    /** The communicator whose ranks share the state. */
    public Communicator communicator() {
        return comm;
    }

    @Override
    public synchronized List<ParamGroup> paramGroups() {
        checkOpen();
        return groupsView;
    }

    /**
     * Adds a group (collective: every rank adds the same shapes and options, or every rank fails).
     * The shards are laid out again over all parameters and the state moves with them.
     */
    @Override
    public synchronized void addParamGroup(ParamGroup group) {
        checkOpen();
        Parameter[] all = null;
        RuntimeException refused = null;
        try {
            all = checkNewGroup(group);
        } catch (RuntimeException e) {
            refused = e;
        }
        // A rank that refused alone would leave the others waiting in the collectives below.
        agree(refused, "refused the new parameter group");
        StateDict previous = layout == null ? null : stateDict();
        Parameter[] before = params;
        // The caller's group is claimed only once every rank has laid it out; until then a copy
        // with the defaults filled in stands for it, so a refused group stays unclaimed, unchanged.
        groups.add(group.withDefaults(defaults));
        params = all;
        try {
            layOut();
        } catch (RuntimeException e) {
            // A failed layOut (on every rank together) kept the shards, buffers and optimizer.
            groups.remove(groups.size() - 1);
            params = before;
            throw e;
        }
        group.adopt(defaults);
        groups.set(groups.size() - 1, group);
        if (previous != null) {
            loadStateDict(StateDict.of(previous.state()));
        }
    }

    /** The parameters with {@code group}'s appended, after the checks RMSProp makes. */
    private Parameter[] checkNewGroup(ParamGroup group) {
        if (group == null) {
            throw new IllegalArgumentException("group is null");
        }
        group.checkUnowned();
        Map<Parameter, Boolean> known = new IdentityHashMap<>();
        for (Parameter p : params) {
            known.put(p, Boolean.TRUE);
        }
        for (Parameter p : group.params()) {
            if (known.containsKey(p)) {
                throw new IllegalArgumentException("some parameters appear in more than one parameter group");
            }
            // The flat buffers and MPI's sums are float32; mixed precision is not sharded yet.
            if (p.dtype() != DType.FP32) {
                throw new IllegalArgumentException("ShardedRMSProp takes float32 parameters only, got " + p.dtype());
            }
        }
        Parameter[] all = Arrays.copyOf(params, params.length + group.params().size());
        for (int i = 0; i < group.params().size(); i++) {
            all[params.length + i] = group.params().get(i);
        }
        checkNoOverlap(all);
        return all;
    }

    /**
     * Every rank learns whether any rank failed: the failing ranks throw their own exception, the
     * others an IllegalStateException naming {@code what} failed elsewhere.
     */
    private void agree(RuntimeException local, String what) {
        boolean failed = comm.anyRank(local != null);
        if (local != null) {
            throw local;
        }
        if (failed) {
            throw new IllegalStateException("rank " + comm.rank() + ": another rank " + what
                    + " (its own exception says why); nothing changed");
        }
    }

    /** Two parameters over the same memory would be updated twice per step. */
    private static void checkNoOverlap(Parameter[] all) {
        Parameter[] sorted = all.clone();
        Arrays.sort(sorted, Comparator.comparingLong(p -> p.data().address()));
        for (int i = 1; i < sorted.length; i++) {
            MemorySegment a = sorted[i - 1].data();
            if (a.address() + a.byteSize() > sorted[i].data().address()) {
                throw new IllegalArgumentException("two parameters share memory at 0x"
                        + Long.toHexString(sorted[i].data().address()));
            }
        }
    }

    /**
     * Lays the shards out over the current parameters and creates this rank's inner optimizer,
     * then checks with every rank that all have the same configuration and succeeded: a local
     * failure or a mismatch throws on every rank, before any rank reaches a collective with
     * mismatched sizes, and leaves the current layout, buffers and inner optimizer as they were.
     */
    private void layOut() {
        long[] fingerprint = fingerprint();
        RuntimeException local = null;
        ShardLayout next = null;
        Arena nextBuffers = null;
        MemorySegment nextFlat = null;
        MemorySegment nextShardGrad = null;
        RMSProp nextInner = null;
        List<Parameter> nextInnerParams = new ArrayList<>();
        List<MemorySegment> nextInnerGrads = new ArrayList<>();
        List<Integer> nextGroupOf = new ArrayList<>();
        try {
            long[] numels = new long[params.length];
            for (int i = 0; i < params.length; i++) {
                numels[i] = params[i].numel();
            }
            next = ShardLayout.of(numels, comm.size(), comm.rank());
            nextBuffers = Arena.ofShared();
            nextFlat = nextBuffers.allocate(next.total * Float.BYTES, 128);
            nextShardGrad = nextBuffers.allocate(next.shardLength(comm.rank()) * Float.BYTES, 128);
            List<List<Parameter>> innerGroups = new ArrayList<>();
            int groupEnd = 0;
            int outerGroup = -1;
            for (ShardLayout.Slice slice : next.slices) {
                while (slice.param() >= groupEnd) {
                    outerGroup++;
                    groupEnd += groups.get(outerGroup).params().size();
                }
                MemorySegment data = params[slice.param()].data()
                        .asSlice(slice.start() * Float.BYTES, slice.length() * Float.BYTES);
                MemorySegment grad = nextShardGrad.asSlice(
                        (slice.flatStart() - next.shardStart(comm.rank())) * Float.BYTES, slice.length() * Float.BYTES);
                Parameter p = Parameter.wrap(data, null);
                if (nextGroupOf.isEmpty() || nextGroupOf.get(nextGroupOf.size() - 1) != outerGroup) {
                    nextGroupOf.add(outerGroup);
                    innerGroups.add(new ArrayList<>());
                }
                innerGroups.get(innerGroups.size() - 1).add(p);
                nextInnerParams.add(p);
                nextInnerGrads.add(grad);
            }
            if (!innerGroups.isEmpty()) {
                ParamGroup first = groups.get(nextGroupOf.get(0));
                RMSProp.Builder builder = RMSProp.builder().lr(first.lr()).alpha(first.alpha()).eps(first.eps())
                        .weightDecay(first.weightDecay()).momentum(first.momentum()).centered(first.centered())
                        .maximize(first.maximize());
                if (device != null) {
                    builder.device(device);
                }
                if (path != null) {
                    builder.path(path);
                }
                nextInner = builder.build(innerGroups.get(0));
                for (int g = 1; g < innerGroups.size(); g++) {
                    nextInner.addParamGroup(copyOptions(ParamGroup.of(innerGroups.get(g)),
                            groups.get(nextGroupOf.get(g))));
                }
            }
        } catch (RuntimeException e) {
            local = e;
        }
        long[] agreed = comm.allReduceMax(withNegations(fingerprint, local != null));
        String mismatch = describeMismatch(agreed, fingerprint.length);
        if (local != null || mismatch != null) {
            if (nextInner != null) {
                nextInner.close();
            }
            if (nextBuffers != null) {
                nextBuffers.close();
            }
            if (local != null) {
                throw local;
            }
            throw new IllegalStateException(mismatch);
        }
        if (agreed[2 * fingerprint.length] != 0) {
            nextInner.close();
            nextBuffers.close();
            throw new IllegalStateException("rank " + comm.rank() + ": another rank failed to set up its shard "
                    + "(its own exception says why)");
        }
        if (inner != null) {
            inner.close();
        }
        if (buffers != null) {
            buffers.close();
        }
        layout = next;
        buffers = nextBuffers;
        flat = nextFlat;
        paramSpan = span(Parameter::data);
        shardGrad = nextShardGrad;
        inner = nextInner;
        innerParams = nextInnerParams.toArray(new Parameter[0]);
        innerGrads = nextInnerGrads.toArray(new MemorySegment[0]);
        innerGroupOf = nextGroupOf.stream().mapToInt(Integer::intValue).toArray();
    }

    private static ParamGroup copyOptions(ParamGroup target, ParamGroup from) {
        return target.lr(from.lr()).alpha(from.alpha()).eps(from.eps()).weightDecay(from.weightDecay())
                .momentum(from.momentum()).centered(from.centered()).maximize(from.maximize());
    }

    private static final String[] FINGERPRINT_NAMES = {"the number of parameters", "the number of parameter groups",
        "the total number of elements", "the parameters' sizes", "the groups' sizes", "the groups' options"};

    /** What every rank must agree on: counts, sizes and options. */
    private long[] fingerprint() {
        long sizes = 17;
        for (Parameter p : params) {
            sizes = mix(sizes, p.numel());
        }
        long groupSizes = 19;
        long total = 0;
        for (ParamGroup g : groups) {
            groupSizes = mix(groupSizes, g.params().size());
        }
        for (Parameter p : params) {
            total += p.numel();
        }
        return new long[] {params.length, groups.size(), total, sizes, groupSizes, optionsHash()};
    }

    private long optionsHash() {
        long h = 23;
        for (ParamGroup g : groups) {
            h = mix(h, Double.doubleToLongBits(g.lr()));
            h = mix(h, Double.doubleToLongBits(g.alpha()));
            h = mix(h, Double.doubleToLongBits(g.eps()));
            h = mix(h, Double.doubleToLongBits(g.weightDecay()));
            h = mix(h, Double.doubleToLongBits(g.momentum()));
            h = mix(h, (g.centered() ? 2 : 0) + (g.maximize() ? 1 : 0));
        }
        return h;
    }

    /** A 62-bit mix, so that its negation cannot overflow. */
    private static long mix(long hash, long value) {
        long h = (hash ^ value) * 0x9E3779B97F4A7C15L;
        return (h ^ (h >>> 29)) & 0x3FFF_FFFF_FFFF_FFFFL;
    }

    /** values, their negations (so one MAX gives both the largest and the smallest), a failure flag. */
    private static long[] withNegations(long[] values, boolean failed) {
        long[] out = new long[2 * values.length + 1];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i];
            out[values.length + i] = -values[i];
        }
        out[2 * values.length] = failed ? 1 : 0;
        return out;
    }

    private static String describeMismatch(long[] agreed, int n) {
        for (int i = 0; i < n; i++) {
            long largest = agreed[i];
            long smallest = -agreed[n + i];
            if (largest != smallest) {
                boolean count = i < 3;
                return "the ranks' optimizers differ in " + FINGERPRINT_NAMES[i]
                        + (count ? " (from " + smallest + " to " + largest + ")" : "")
                        + ": every rank must build ShardedRMSProp over the same parameter shapes and options";
            }
        }
        return null;
    }

    @Override
    public synchronized void step() {
        checkOpen();
        int n = params.length;
        long[] check = new long[2 * n + 3];
        String localError = null;
        for (int i = 0; i < n; i++) {
            Parameter p = params[i];
            MemorySegment grad = p.grad();
            if (localError == null && (!p.data().scope().isAlive() || (grad != null && !grad.scope().isAlive()))) {
                localError = "parameter " + i + ": the arena of its "
                        + (p.data().scope().isAlive() ? "grad" : "data") + " segment is closed";
            }
            check[2 * i] = grad == null ? 0 : 1;
            check[2 * i + 1] = grad == null ? 0 : -1;
        }
        long options = optionsHash();
        check[2 * n] = options;
        check[2 * n + 1] = -options;
        check[2 * n + 2] = localError == null ? 0 : 1;
        long[] agreed = comm.allReduceMax(check);
        if (localError != null) {
            throw new IllegalArgumentException(localError);
        }
        if (agreed[2 * n + 2] != 0) {
            throw new IllegalStateException("rank " + comm.rank() + ": another rank refused this step (its own "
                    + "exception says why); nothing changed");
        }
        for (int i = 0; i < n; i++) {
            if (agreed[2 * i] != -agreed[2 * i + 1]) {
                throw new IllegalStateException("parameter " + i + " has a gradient on some ranks and none on others; "
                        + "nothing changed");
            }
        }
        if (agreed[2 * n] != -agreed[2 * n + 1]) {
            throw new IllegalStateException("the ranks' parameter groups have different options (lr, alpha, eps, "
                    + "weight decay, momentum, centered, maximize); nothing changed");
        }
        MemorySegment gradSpan = span(Parameter::grad);
        if (gradSpan == null) {
            for (int i = 0; i < n; i++) {
                MemorySegment grad = params[i].grad();
                if (grad != null) {
                    MemorySegment.copy(grad, 0, flat, layout.offsets[i] * Float.BYTES, grad.byteSize());
                }
            }
        }
        comm.reduceScatterMean(gradSpan != null ? gradSpan : flat, shardGrad, layout.counts);
        RuntimeException failure = null;
        try {
            if (inner != null) {
                for (int k = 0; k < innerParams.length; k++) {
                    boolean hasGrad = params[layout.slices.get(k).param()].grad() != null;
                    innerParams[k].grad(hasGrad ? innerGrads[k] : null);
                }
                for (int g = 0; g < innerGroupOf.length; g++) {
                    copyOptions(inner.paramGroups().get(g), groups.get(innerGroupOf[g]));
                }
                inner.step();
            }
        } catch (RuntimeException e) {
            failure = e;
        }
        // A rank whose update failed must not leave the others waiting in the all-gather.
        boolean failed = comm.anyRank(failure != null);
        if (failure != null) {
            throw failure;
        }
        if (failed) {
            throw new IllegalStateException("rank " + comm.rank() + ": another rank's update failed (its own "
                    + "exception says why); the ranks' parameters now differ");
        }
        gatherParameters();
    }

    /** Every rank's updated shard into every rank's parameters. */
    private void gatherParameters() {
        if (paramSpan != null) {
            // This rank's shard is already in place: the inner optimizer updated the caller's memory.
            comm.allGather(paramSpan, layout.counts, layout.displs);
            return;
        }
        for (ShardLayout.Slice slice : layout.slices) {
            MemorySegment.copy(params[slice.param()].data(), slice.start() * Float.BYTES, flat,
                    slice.flatStart() * Float.BYTES, slice.length() * Float.BYTES);
        }
        comm.allGather(flat, layout.counts, layout.displs);
        long mineFrom = layout.shardStart(comm.rank());
        long mineTo = mineFrom + layout.shardLength(comm.rank());
        for (int i = 0; i < params.length; i++) {
            long from = layout.offsets[i];
            long to = layout.offsets[i + 1];
            copyOut(i, from, Math.min(to, mineFrom));
            copyOut(i, Math.max(from, mineTo), to);
        }
    }

    /**
     * The parameters' {@code part} (data or gradient) as one segment, when every parameter's lies
     * right after the previous one's in one arena (slices of one buffer, as a model often
     * allocates them): the collectives then read and write the caller's memory in place, with no
     * copy through the flat buffer. The span keeps that arena's scope, so it is as safe to hand
     * to MPI as the parts themselves. Null when some part is missing, apart or in another arena.
     */
    private MemorySegment span(Function<Parameter, MemorySegment> part) {
        MemorySegment first = part.apply(params[0]);
        if (first == null) {
            return null;
        }
        for (int i = 1; i < params.length; i++) {
            MemorySegment s = part.apply(params[i]);
            if (s == null || !s.scope().equals(first.scope())
                    || s.address() != first.address() + layout.offsets[i] * Float.BYTES) {
                return null;
            }
        }
        return first.reinterpret(layout.total * Float.BYTES);
    }

    private void copyOut(int param, long flatFrom, long flatTo) {
        if (flatFrom < flatTo) {
            MemorySegment.copy(flat, flatFrom * Float.BYTES, params[param].data(),
                    (flatFrom - layout.offsets[param]) * Float.BYTES, (flatTo - flatFrom) * Float.BYTES);
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

    /** This rank's gradients only: no communication. */
    @Override
    public synchronized void zeroGrad(boolean setToNone) {
        checkOpen();
        for (Parameter p : params) {
            if (p.grad() != null) {
                if (setToNone) {
                    p.grad(null);
                } else {
                    MemorySegment grad = p.grad();
                    grad.fill((byte) 0);
                    p.grad(grad);  // set again: a change any optimizer's kept gradient statistics see
                }
            }
        }
    }

    /** The full state on every rank (collective): each rank's shard, all-gathered. */
    @Override
    public synchronized StateDict stateDict() {
        checkOpen();
        return heapCopy(EVERY_RANK);
    }

    /**
     * The full state on {@code root}, {@code null} on the other ranks (collective): what a
     * checkpoint saves, without a full copy of the state on every rank.
     */
    public synchronized StateDict stateDict(int root) {
        checkOpen();
        checkRoot(root);
        return heapCopy(root);
    }

    /**
     * The full state on {@code root} in segments from {@code allocator}, {@code null} on the other
     * ranks (collective). Root requests the buffers as {@link RMSProp#stateDict(SegmentAllocator)}
     * does (parameter by parameter, {@code square_avg}, then {@code momentum_buffer} and
     * {@code grad_avg} where they exist; see {@link #stateInfo()}), each {@code numel * 4} bytes,
     * writable (a checkpoint gathers into an {@link Arena}, then streams them to its file). The other
     * ranks ignore {@code allocator} (it may be {@code null} there). If root's allocator fails, every
     * rank throws and nothing was gathered.
     */
    public synchronized SegmentStateDict stateDict(int root, SegmentAllocator allocator) {
        checkOpen();
        checkRoot(root);
        return gatherState(root, allocator);
    }

    /**
     * What each parameter's full state holds, without its values (collective; the same map on
     * every rank): the layout of {@link #stateDict(int, SegmentAllocator)}'s buffers.
     */
    public synchronized Map<Integer, ParamStateInfo> stateInfo() {
        checkOpen();
        return agreedStateInfo();
    }

    private void checkRoot(int root) {
        if (root < 0 || root >= comm.size()) {
            throw new IllegalArgumentException("root " + root + " is not a rank of a world of " + comm.size());
        }
    }

    /** The gathered state in float[] ({@code null} on ranks that do not receive it). */
    private StateDict heapCopy(int root) {
        try (Arena temp = Arena.ofConfined()) {
            SegmentStateDict gathered = gatherState(root, temp);
            if (gathered == null) {
                return null;
            }
            Map<Integer, ParamState> state = new LinkedHashMap<>();
            gathered.state().forEach((i, s) -> state.put(i, new ParamState(s.step(), floats(s.squareAvg()),
                    floats(s.momentumBuffer()), floats(s.gradAvg()))));
            return new StateDict(Collections.unmodifiableMap(state), gathered.paramGroups());
        }
    }

    private static float[] floats(MemorySegment s) {
        return s == null ? null : s.toArray(ValueLayout.JAVA_FLOAT);
    }

    /** Every rank's shard states merged per parameter: a parameter has a buffer if any slice of it has. */
    private Map<Integer, ParamStateInfo> agreedStateInfo() {
        int n = params.length;
        long[] meta = new long[3 * n];
        if (inner != null) {
            for (Map.Entry<Integer, ParamStateInfo> e : inner.stateInfo().entrySet()) {
                int param = layout.slices.get(e.getKey()).param();
                ParamStateInfo s = e.getValue();
                meta[3 * param] = s.step() + 1;
                meta[3 * param + 1] = s.hasMomentumBuffer() ? 1 : 0;
                meta[3 * param + 2] = s.hasGradAvg() ? 1 : 0;
            }
        }
        long[] agreed = comm.allReduceMax(meta);
        Map<Integer, ParamStateInfo> infos = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            if (agreed[3 * i] != 0) {
                infos.put(i, new ParamStateInfo(agreed[3 * i] - 1, params[i].numel(), agreed[3 * i + 1] != 0,
                        agreed[3 * i + 2] != 0));
            }
        }
        return Collections.unmodifiableMap(infos);
    }

    /** Gathers every rank's shard of the state to root, or to every rank for {@link #EVERY_RANK}. */
    private SegmentStateDict gatherState(int root, SegmentAllocator allocator) {
        Map<Integer, ParamStateInfo> infos = agreedStateInfo();
        boolean receives = root == EVERY_RANK || root == comm.rank();
        Set<StateBuffer> present = EnumSet.noneOf(StateBuffer.class);
        for (ParamStateInfo info : infos.values()) {
            for (StateBuffer buffer : StateBuffer.values()) {
                if (buffer.isIn(info)) {
                    present.add(buffer);
                }
            }
        }
        try (Arena temp = Arena.ofConfined()) {
            Map<Integer, SegmentParamState> state = new LinkedHashMap<>();
            MemorySegment full = null;
            RuntimeException failed = null;
            // Everything a receiving rank needs is allocated before the first gather: a rank that
            // failed there would leave the others waiting.
            if (receives) {
                try {
                    for (Map.Entry<Integer, ParamStateInfo> e : infos.entrySet()) {
                        ParamStateInfo info = e.getValue();
                        state.put(e.getKey(), new SegmentParamState(info.step(), gatheredBuffer(allocator, info),
                                info.hasMomentumBuffer() ? gatheredBuffer(allocator, info) : null,
                                info.hasGradAvg() ? gatheredBuffer(allocator, info) : null));
                    }
                    full = temp.allocate(Math.max(1, layout.total) * Float.BYTES, 128);
                } catch (RuntimeException e) {
                    failed = e;
                }
            }
            agree(failed, "could not allocate the gathered state");
            Map<StateBuffer, MemorySegment> shard = readShard(present, temp);
            for (StateBuffer buffer : present) {  // in StateBuffer's order on every rank
                if (root == EVERY_RANK) {
                    MemorySegment.copy(shard.get(buffer), 0, full, layout.shardStart(comm.rank()) * Float.BYTES,
                            layout.shardLength(comm.rank()) * Float.BYTES);
                    comm.allGather(full, layout.counts, layout.displs);
                } else {
                    comm.gather(shard.get(buffer), full, layout.counts, layout.displs, root);
                }
                if (receives) {
                    for (Map.Entry<Integer, SegmentParamState> e : state.entrySet()) {
                        MemorySegment target = buffer.segmentIn(e.getValue());
                        if (target != null) {
                            MemorySegment.copy(full, layout.offsets[e.getKey()] * Float.BYTES, target, 0,
                                    target.byteSize());
                        }
                    }
                }
            }
            return receives ? new SegmentStateDict(Collections.unmodifiableMap(state), groupStates()) : null;
        }
    }

    /** A buffer from the caller's allocator, checked before MPI or a copy writes into it. */
    private static MemorySegment gatheredBuffer(SegmentAllocator allocator, ParamStateInfo info) {
        if (allocator == null) {
            throw new IllegalArgumentException("allocator is null on the rank that receives the state");
        }
        long bytes = info.numel() * Float.BYTES;
        MemorySegment s = allocator.allocate(bytes, Float.BYTES);
        if (s == null || s.isReadOnly() || s.byteSize() != bytes) {
            throw new IllegalStateException("the allocator returned " + s + " for a buffer of " + bytes
                    + " bytes; it must return a writable segment of exactly that size");
        }
        return s;
    }

    /**
     * This rank's shard of each state buffer that some rank has ({@code present}), read from its
     * optimizer straight into place; zero where the shard has no such state.
     */
    private Map<StateBuffer, MemorySegment> readShard(Set<StateBuffer> present, Arena temp) {
        long length = layout.shardLength(comm.rank());
        Map<StateBuffer, MemorySegment> shard = new EnumMap<>(StateBuffer.class);
        for (StateBuffer buffer : present) {
            shard.put(buffer, temp.allocate(Math.max(1, length) * Float.BYTES, 128));
        }
        if (inner != null) {
            long shardStart = layout.shardStart(comm.rank());
            // RMSProp asks for the buffers in a fixed order: slice by slice, each one's in
            // StateBuffer's order. A buffer this shard has, some rank has: it is present.
            Deque<MemorySegment> places = new ArrayDeque<>();
            for (Map.Entry<Integer, ParamStateInfo> e : inner.stateInfo().entrySet()) {
                ShardLayout.Slice slice = layout.slices.get(e.getKey());
                long from = (slice.flatStart() - shardStart) * Float.BYTES;
                long bytes = slice.length() * Float.BYTES;
                for (StateBuffer buffer : StateBuffer.values()) {
                    if (buffer.isIn(e.getValue())) {
                        places.add(shard.get(buffer).asSlice(from, bytes));
                    }
                }
            }
            inner.stateDict((bytes, alignment) -> places.remove());
        }
        return shard;
    }

    /** Each group's options and parameter indices (0, 1, ... over all groups in order). */
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
     * Loads a full state dict (from {@link #stateDict()}, or from {@link RMSProp#stateDict()} of a
     * single process, saved with any number of ranks) and keeps this rank's shard of it; the
     * groups' options too, when present. Checked as {@link RMSProp#loadStateDict} checks: on an
     * error nothing changes. Not collective: every rank loads the same state dict.
     */
    @Override
    public synchronized void loadStateDict(StateDict stateDict) {
        checkOpen();
        if (stateDict == null || stateDict.state() == null) {
            throw new IllegalArgumentException("state dict is null");
        }
        try (Arena temp = Arena.ofConfined()) {
            Map<Integer, SegmentParamState> state = new LinkedHashMap<>();
            stateDict.state().forEach((i, s) -> state.put(i, s == null ? null : new SegmentParamState(s.step(),
                    segment(temp, s.squareAvg()), segment(temp, s.momentumBuffer()), segment(temp, s.gradAvg()),
                    segment(temp, s.master()))));
            loadStateDict(new SegmentStateDict(state, stateDict.paramGroups()));
        }
    }

    private static MemorySegment segment(Arena arena, float[] values) {
        return values == null ? null : arena.allocateFrom(ValueLayout.JAVA_FLOAT, values);
    }

    /**
     * {@link #loadStateDict(StateDict)} from segments holding the full state (as
     * {@link RMSProp#loadStateDict(SegmentStateDict)} takes them; a checkpoint's file mapping):
     * this rank copies only its shard. Not collective: every rank loads the same state dict.
     */
    public synchronized void loadStateDict(SegmentStateDict stateDict) {
        checkOpen();
        List<ParamGroup> loadedGroups = checkStateDict(stateDict);
        if (inner != null) {
            Map<Integer, SegmentParamState> shard = new LinkedHashMap<>();
            for (int k = 0; k < layout.slices.size(); k++) {
                ShardLayout.Slice slice = layout.slices.get(k);
                SegmentParamState s = stateDict.state().get(slice.param());
                if (s != null) {
                    shard.put(k, new SegmentParamState(s.step(), part(s.squareAvg(), slice),
                            part(s.momentumBuffer(), slice), part(s.gradAvg(), slice)));
                }
            }
            inner.loadStateDict(new SegmentStateDict(shard, null));
        }
        for (int g = 0; g < loadedGroups.size(); g++) {
            copyOptions(groups.get(g), loadedGroups.get(g));
        }
    }

    private static MemorySegment part(MemorySegment buffer, ShardLayout.Slice slice) {
        return buffer == null ? null : buffer.asSlice(slice.start() * Float.BYTES, slice.length() * Float.BYTES);
    }

    /**
     * Validates a full state dict against this optimizer's parameters, all of them (not only this
     * rank's shard), so that every rank accepts or refuses it alike; returns the loaded groups' options.
     */
    private List<ParamGroup> checkStateDict(SegmentStateDict sd) {
        if (sd == null || sd.state() == null) {
            throw new IllegalArgumentException("state dict is null");
        }
        List<ParamGroup> loaded = new ArrayList<>();
        if (sd.paramGroups() != null) {
            if (sd.paramGroups().size() != groups.size()) {
                throw new IllegalArgumentException("loaded state dict has " + sd.paramGroups().size()
                        + " parameter groups, the optimizer has " + groups.size());
            }
            for (int g = 0; g < groups.size(); g++) {
                StateDict.GroupState gs = sd.paramGroups().get(g);
                if (gs == null || gs.params() == null || gs.params().size() != groups.get(g).params().size()) {
                    throw new IllegalArgumentException("loaded state dict contains a parameter group " + g
                            + " that doesn't match the size of optimizer's group");
                }
                loaded.add(ParamGroup.of(groups.get(g).params()).lr(gs.lr()).alpha(gs.alpha()).eps(gs.eps())
                        .weightDecay(gs.weightDecay()).momentum(gs.momentum()).centered(gs.centered())
                        .maximize(gs.maximize()));
            }
        }
        for (Map.Entry<Integer, SegmentParamState> e : sd.state().entrySet()) {
            Integer index = e.getKey();
            if (index == null || index < 0 || index >= params.length) {
                throw new IllegalArgumentException("state for parameter " + index + ", but the optimizer has "
                        + params.length + " parameters");
            }
            if (e.getValue() == null) {
                throw new IllegalArgumentException("parameter " + index + ": state without squareAvg");
            }
            e.getValue().checkFits(index, params[index].numel());
            if (e.getValue().master() != null) {
                throw new IllegalArgumentException("parameter " + index + ": a master copy for an FP32 parameter "
                        + "(ShardedRMSProp's parameters are all FP32)");
            }
        }
        return loaded;
    }

    /** Floats of the flat parameter space in this rank's shard. */
    public synchronized long shardSize() {
        checkOpen();
        return layout.shardLength(comm.rank());
    }

    /** Bytes of optimizer state this rank holds (square_avg, momentum_buffer, grad_avg of its shard). */
    public synchronized long stateBytes() {
        checkOpen();
        if (inner == null) {
            return 0;
        }
        long floats = 0;
        for (ParamStateInfo s : inner.stateInfo().values()) {
            floats += s.numel() * (1 + (s.hasMomentumBuffer() ? 1 : 0) + (s.hasGradAvg() ? 1 : 0));
        }
        return floats * Float.BYTES;
    }

    /** Releases this rank's optimizer and buffers (not the communicator); idempotent. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            if (inner != null) {
                inner.close();
            }
            if (buffers != null) {
                buffers.close();
            }
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the optimizer is closed");
        }
    }
}
