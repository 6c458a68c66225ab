package netcl.dist;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import netcl.checkpoint.Checkpoint;
import netcl.checkpoint.ShardedCheckpoint;
import netcl.checkpoint.Tensor;
import netcl.optim.ParamGroup;
import netcl.optim.ParamState;
import netcl.optim.Parameter;
import netcl.optim.RMSProp;
import netcl.optim.StateDict;
import netcl.optim.Tensors;

/**
 * The programs {@link MpiLaunchTest} runs under {@code mpirun}, one JVM per rank. Each prints
 * lines the test reads ({@code RESULT ...}) and exits 0 only when its checks held on that rank.
 *
 * <ul>
 *   <li>{@code exact TOLERANCE [momentum=M] [centered] [weightDecay=W] [maximize] [contiguous]}: a
 *       sharded run of two groups (one centered with its own lr), uneven tensor sizes and a
 *       grad-less parameter (with {@code contiguous}: slices of one buffer, all with gradients),
 *       against one {@link RMSProp} stepped on rank 0 with the averaged gradient
 *       ((g0 + g1) + ...) / W; parameters and the gathered state must agree within TOLERANCE
 *       (0: bit for bit). Midway, the gathered state is loaded into a single-process RMSProp and
 *       the single-process state into a new sharded optimizer; both must finish like the
 *       reference.</li>
 *   <li>{@code mismatch}: ranks that differ in parameter count, sizes or options, and a gradient
 *       present on one rank only: each must fail on every rank with a clear message.</li>
 *   <li>{@code checkpoint UNTIL MID_AT MID FINAL [RESUME]}: trains sharded up to step UNTIL, from
 *       step 0 or from the checkpoint RESUME (of any number of ranks, or of one process; it holds
 *       the step it was saved before), saving to MID before step MID_AT and to FINAL at the end;
 *       {@link #singleProcess} is the same run in one process.</li>
 *   <li>{@code addgroup}: parameter groups that differ between the ranks or that one rank or every
 *       rank refuses: each must fail on every rank and leave the optimizer as it was (groups,
 *       state, parameters, shard) and the group unclaimed and unchanged; the same group, fixed,
 *       is then added, and the run ends bit for bit like one RMSProp given that group at that
 *       step.</li>
 *   <li>{@code refusals DIR}: checkpoints that one rank or every rank cannot save or load (bad
 *       arguments on one rank, a missing folder, a missing file on one rank, another model's
 *       file): every rank must throw, with nothing changed and no file replaced; then the ranks
 *       still save, load and step together.</li>
 *   <li>{@code killsave FILE}: steps once, then saves to FILE over and over; rank 1 has itself
 *       SIGKILLed 50 ms after save {@link #KILL_SAVE} begins, at whatever point of a save the
 *       ranks then are (in 4 of 8 runs here rank 0's temporary file existed: a save cut short).</li>
 *   <li>{@code kill FILE}: saves a checkpoint to FILE before every step, steps forever; rank 1
 *       SIGKILLs itself inside step {@link #KILL_STEP}.</li>
 *   <li>{@code signals}: MPI running, then many implicit null checks (SIGSEGV inside the JVM) and
 *       collections: the JVM's own handlers must still be in place.</li>
 * </ul>
 */
public final class MpiScenarios {
    private static final long[] SIZES = {37, 100, 5, 193, 1000, 64};
    /** Parameter 2 never has a gradient (PyTorch's grad = None). */
    private static final int GRADLESS = 2;
    private static final int STEPS = 6;
    private static final int HANDOVER = 3;

    private MpiScenarios() {
    }

    public static void main(String[] args) throws Exception {
        int status;
        try (Communicator comm = Communicator.world()) {
            status = switch (args[0]) {
                case "exact" -> exact(comm, args);
                case "mismatch" -> mismatch(comm);
                case "checkpoint" -> checkpoint(comm, args);
                case "refusals" -> refusals(comm, Path.of(args[1]));
                case "addgroup" -> addGroup(comm);
                case "kill" -> kill(comm, Path.of(args[1]));
                case "killsave" -> killDuringSaves(comm, Path.of(args[1]));
                case "signals" -> signals(comm);
                default -> throw new IllegalArgumentException("unknown scenario " + args[0]);
            };
        }
        System.exit(status);
    }

    private record Options(double momentum, boolean centered, double weightDecay, boolean maximize) {
        static Options parse(String[] args) {
            double momentum = 0;
            boolean centered = false;
            double weightDecay = 0;
            boolean maximize = false;
            for (int i = 2; i < args.length; i++) {
                String[] kv = args[i].split("=");
                switch (kv[0]) {
                    case "momentum" -> momentum = Double.parseDouble(kv[1]);
                    case "centered" -> centered = true;
                    case "weightDecay" -> weightDecay = Double.parseDouble(kv[1]);
                    case "maximize" -> maximize = true;
                    case "contiguous" -> { }  // the model's layout, not an option (see Model)
                    default -> throw new IllegalArgumentException(args[i]);
                }
            }
            return new Options(momentum, centered, weightDecay, maximize);
        }
    }

    /**
     * A model's parameters: the same initial values on every rank and in the reference. Parameter
     * {@code gradless} (or none: -1) never has a gradient.
     */
    private record Model(List<Parameter> params, List<MemorySegment> grads, int gradless) {
        /** Each tensor allocated apart; parameter {@link #GRADLESS} without gradient. */
        static Model create(Arena arena, long[] sizes) {
            return create(arena, sizes, false);
        }

        /**
         * With {@code contiguous}, the parameters are slices of one buffer and the gradients of
         * another, all with gradients: ShardedRMSProp then communicates in place.
         */
        static Model create(Arena arena, long[] sizes, boolean contiguous) {
            long total = 0;
            for (long n : sizes) {
                total += n;
            }
            MemorySegment allData = contiguous ? Tensors.allocate(arena, total) : null;
            MemorySegment allGrads = contiguous ? Tensors.allocate(arena, total) : null;
            List<Parameter> params = new ArrayList<>();
            List<MemorySegment> grads = new ArrayList<>();
            SplittableRandom random = new SplittableRandom(42);
            long offset = 0;
            for (long n : sizes) {
                MemorySegment data = contiguous ? allData.asSlice(offset * Float.BYTES, n * Float.BYTES)
                        : Tensors.allocate(arena, n);
                MemorySegment grad = contiguous ? allGrads.asSlice(offset * Float.BYTES, n * Float.BYTES)
                        : Tensors.allocate(arena, n);
                offset += n;
                for (long k = 0; k < n; k++) {
                    data.setAtIndex(ValueLayout.JAVA_FLOAT, k, (float) random.nextDouble(-1, 1));
                }
                params.add(Parameter.wrap(data, grad));
                grads.add(grad);
            }
            return new Model(params, grads, contiguous ? -1 : GRADLESS);
        }

        List<Parameter> group(int from, int to) {
            return params.subList(from, to);
        }

        float value(int param, long k) {
            return params.get(param).data().getAtIndex(ValueLayout.JAVA_FLOAT, k);
        }
    }

    /** The gradient rank r computes at a step: a function of (step, rank, parameter, element). */
    private static float gradient(int step, int rank, int param, long k) {
        return (float) new SplittableRandom(((step * 64L + rank) * 64 + param) * 1_000_003L + k).nextDouble(-2, 2);
    }

    private static void setRankGradients(Model m, int step, int rank) {
        for (int i = 0; i < SIZES.length; i++) {
            Parameter p = m.params.get(i);
            p.grad(i == m.gradless ? null : m.grads.get(i));
            if (i != m.gradless) {
                for (long k = 0; k < SIZES[i]; k++) {
                    m.grads.get(i).setAtIndex(ValueLayout.JAVA_FLOAT, k, gradient(step, rank, i, k));
                }
            }
        }
    }

    /** The reference's gradient: ((g0 + g1) + g2 ...) / W, in float, in rank order. */
    private static void setAveragedGradients(Model m, int step, int ranks) {
        for (int i = 0; i < SIZES.length; i++) {
            m.params.get(i).grad(i == m.gradless ? null : m.grads.get(i));
            if (i != m.gradless) {
                for (long k = 0; k < SIZES[i]; k++) {
                    float sum = 0;
                    for (int r = 0; r < ranks; r++) {
                        sum += gradient(step, r, i, k);
                    }
                    m.grads.get(i).setAtIndex(ValueLayout.JAVA_FLOAT, k, sum / ranks);
                }
            }
        }
    }

    private static RMSProp reference(Model m, Options o) {
        RMSProp opt = RMSProp.builder().lr(1e-2).momentum(o.momentum).centered(o.centered)
                .weightDecay(o.weightDecay).maximize(o.maximize).build(m.group(0, 4));
        opt.addParamGroup(ParamGroup.of(m.group(4, SIZES.length)).lr(3e-3).centered(true));
        return opt;
    }

    private static ShardedRMSProp sharded(Communicator comm, Model m, Options o) {
        ShardedRMSProp opt = ShardedRMSProp.builder(comm).lr(1e-2).momentum(o.momentum).centered(o.centered)
                .weightDecay(o.weightDecay).maximize(o.maximize).build(m.group(0, 4));
        opt.addParamGroup(ParamGroup.of(m.group(4, SIZES.length)).lr(3e-3).centered(true));
        return opt;
    }

    private static int exact(Communicator comm, String[] args) {
        double tolerance = Double.parseDouble(args[1]);
        Options options = Options.parse(args);
        int ranks = comm.size();
        boolean root = comm.rank() == 0;
        boolean contiguous = List.of(args).contains("contiguous");
        try (Arena arena = Arena.ofConfined()) {
            Model shardedModel = Model.create(arena, SIZES, contiguous);
            Model resumedModel = Model.create(arena, SIZES, contiguous);
            Model referenceModel = Model.create(arena, SIZES, contiguous);
            Model handedModel = Model.create(arena, SIZES, contiguous);
            try (ShardedRMSProp opt = sharded(comm, shardedModel, options);
                 ShardedRMSProp resumed = sharded(comm, resumedModel, options);
                 RMSProp ref = reference(referenceModel, options)) {
                RMSProp handed = null;
                for (int step = 0; step < STEPS; step++) {
                    if (step == HANDOVER) {
                        // Multi-rank state into one process, one process's state into the ranks.
                        StateDict gathered = opt.stateDict();
                        copyValues(shardedModel, handedModel);
                        handed = reference(handedModel, options);
                        handed.loadStateDict(gathered);
                        copyValues(referenceModel, resumedModel);
                        resumed.loadStateDict(ref.stateDict());
                    }
                    setRankGradients(shardedModel, step, comm.rank());
                    opt.step();
                    setAveragedGradients(referenceModel, step, ranks);
                    ref.step();
                    if (step >= HANDOVER) {
                        setRankGradients(resumedModel, step, comm.rank());
                        resumed.step();
                        setAveragedGradients(handedModel, step, ranks);
                        handed.step();
                    }
                }
                StateDict shardedState = opt.stateDict();
                StateDict resumedState = resumed.stateDict(0);
                StateDict handedState = handed.stateDict();
                handed.close();
                double paramDiff = maxDiff(shardedModel, referenceModel);
                double stateDiff = maxStateDiff(shardedState, ref.stateDict());
                double resumedDiff = Math.max(maxDiff(resumedModel, referenceModel),
                        root ? maxStateDiff(resumedState, ref.stateDict()) : 0);
                double handedDiff = Math.max(maxDiff(handedModel, referenceModel),
                        maxStateDiff(handedState, ref.stateDict()));
                boolean ok = paramDiff <= tolerance && stateDiff <= tolerance && resumedDiff <= tolerance
                        && handedDiff <= tolerance && (root || resumedState == null);
                // One string per line: mpirun forwards each rank's writes as they come.
                System.out.println(String.format("RESULT rank=%d ranks=%d shard=%d stateBytes=%d paramDiff=%s "
                        + "stateDiff=%s resumedDiff=%s handedDiff=%s ok=%s", comm.rank(), ranks, opt.shardSize(),
                        opt.stateBytes(), paramDiff, stateDiff, resumedDiff, handedDiff, ok));
                return ok ? 0 : 1;
            }
        }
    }

    private static void copyValues(Model from, Model to) {
        for (int i = 0; i < SIZES.length; i++) {
            MemorySegment.copy(from.params.get(i).data(), 0, to.params.get(i).data(), 0, SIZES[i] * Float.BYTES);
        }
    }

    /**
     * The largest difference over the parameters: |a - b| / max(|a|, |b|, 1), absolute below 1 and
     * relative above; 0 only for equal bits; infinity where the bits differ at a NaN or zero.
     */
    private static double maxDiff(Model a, Model b) {
        double max = 0;
        for (int i = 0; i < SIZES.length; i++) {
            for (long k = 0; k < SIZES[i]; k++) {
                max = Math.max(max, diff(a.value(i, k), b.value(i, k)));
            }
        }
        return max;
    }

    static double diff(float x, float y) {
        if (Float.floatToRawIntBits(x) == Float.floatToRawIntBits(y)) {
            return 0;
        }
        double d = Math.abs((double) x - y);
        return d == 0 || Double.isNaN(d) ? Double.POSITIVE_INFINITY : d / Math.max(1, Math.max(Math.abs(x), Math.abs(y)));
    }

    private static double maxStateDiff(StateDict a, StateDict b) {
        if (!a.state().keySet().equals(b.state().keySet()) || !a.paramGroups().equals(b.paramGroups())) {
            return Double.POSITIVE_INFINITY;
        }
        double max = 0;
        for (Map.Entry<Integer, ParamState> e : a.state().entrySet()) {
            ParamState x = e.getValue();
            ParamState y = b.state().get(e.getKey());
            if (x.step() != y.step()) {
                return Double.POSITIVE_INFINITY;
            }
            max = Math.max(max, maxDiff(x.squareAvg(), y.squareAvg()));
            max = Math.max(max, maxDiff(x.momentumBuffer(), y.momentumBuffer()));
            max = Math.max(max, maxDiff(x.gradAvg(), y.gradAvg()));
        }
        return max;
    }

    private static double maxDiff(float[] x, float[] y) {
        if (x == null || y == null) {
            return x == y ? 0 : Double.POSITIVE_INFINITY;
        }
        double max = 0;
        for (int k = 0; k < x.length; k++) {
            max = Math.max(max, diff(x[k], y[k]));
        }
        return max;
    }

    /** Each case must throw on every rank; then the ranks still work together. */
    private static int mismatch(Communicator comm) {
        int rank = comm.rank();
        int failures = 0;
        try (Arena arena = Arena.ofConfined()) {
            failures += expectFailure("count", () -> {
                long[] sizes = rank == 1 ? new long[] {10, 20, 30} : new long[] {10, 20};
                ShardedRMSProp.builder(comm).build(Model.create(arena, sizes).params).close();
            });
            failures += expectFailure("sizes", () -> {
                long[] sizes = rank == 1 ? new long[] {11, 20} : new long[] {10, 21};
                ShardedRMSProp.builder(comm).build(Model.create(arena, sizes).params).close();
            });
            failures += expectFailure("options", () -> {
                ShardedRMSProp.builder(comm).lr(rank == 1 ? 2e-2 : 1e-2)
                        .build(Model.create(arena, new long[] {10, 20}).params).close();
            });
            Model m = Model.create(arena, new long[] {10, 20});
            m.grads.get(0).fill((byte) 0x3f);
            try (ShardedRMSProp opt = ShardedRMSProp.builder(comm).build(m.params)) {
                float before = m.value(0, 0);
                failures += expectFailure("grad", () -> {
                    m.params.get(0).grad(rank == 1 ? null : m.grads.get(0));
                    opt.step();
                });
                failures += expectFailure("schedule", () -> {
                    m.params.get(0).grad(m.grads.get(0));
                    opt.paramGroups().get(0).lr(rank == 1 ? 0.5 : 0.1);
                    opt.step();
                });
                if (m.value(0, 0) != before) {
                    System.out.println("RESULT rank=" + rank + " a refused step changed a parameter");
                    failures++;
                }
                opt.paramGroups().get(0).lr(0.1);
                opt.step();
                if (m.value(0, 0) == before) {
                    System.out.println("RESULT rank=" + rank + " the ranks did not step together after refusals");
                    failures++;
                }
            }
        }
        System.out.println("RESULT rank=" + rank + " mismatch failures=" + failures);
        return failures == 0 ? 0 : 1;
    }

    private static int expectFailure(String name, Runnable action) {
        try {
            action.run();
            System.out.println("RESULT " + name + ": no exception");
            return 1;
        } catch (IllegalStateException e) {
            System.out.println("MISMATCH " + name + ": " + e.getMessage());
            return 0;
        }
    }

    private static int kill(Communicator comm, Path file) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            Model m = Model.create(arena, SIZES);
            try (ShardedRMSProp opt = sharded(comm, m, CHECKPOINTED)) {
                for (int step = 0; ; step++) {
                    ShardedCheckpoint.save(file, opt, named(m), Map.of(STEP, Integer.toString(step)));
                    setRankGradients(m, step, comm.rank());
                    int current = step;
                    opt.step(() -> {
                        if (comm.rank() == 1 && current == KILL_STEP) {
                            System.out.println("KILLING rank 1 (pid " + ProcessHandle.current().pid() + ") in step "
                                    + current);
                            System.out.flush();
                            killSelf();
                        }
                        return 0;
                    });
                }
            }
        }
    }

    /** The step that checkpoints record: the number of steps taken before the save. */
    static final String STEP = "step";
    /** The step inside which the kill scenario's rank 1 kills itself. */
    static final int KILL_STEP = 20;
    /** The checkpointed runs' options: every state buffer (momentum, and grad_avg in group 1). */
    private static final Options CHECKPOINTED = new Options(0.9, false, 0.01, false);

    /** The model's tensors under the names its checkpoints give them. */
    private static Map<String, Tensor> named(Model m) {
        Map<String, Tensor> named = new LinkedHashMap<>();
        for (int i = 0; i < SIZES.length; i++) {
            named.put("p" + i, Tensor.f32(m.params.get(i).data()));
        }
        return named;
    }

    private static int checkpoint(Communicator comm, String[] args) throws IOException {
        int until = Integer.parseInt(args[1]);
        int midAt = Integer.parseInt(args[2]);
        Path resume = args.length > 5 ? Path.of(args[5]) : null;
        try (Arena arena = Arena.ofConfined()) {
            Model m = Model.create(arena, SIZES);
            try (ShardedRMSProp opt = sharded(comm, m, CHECKPOINTED)) {
                int start = resume == null ? 0
                        : Integer.parseInt(ShardedCheckpoint.load(resume, opt, named(m)).get(STEP));
                for (int step = start; step < until; step++) {
                    if (step == midAt) {
                        ShardedCheckpoint.save(Path.of(args[3]), opt, named(m), Map.of(STEP, Integer.toString(step)));
                    }
                    setRankGradients(m, step, comm.rank());
                    opt.step();
                }
                ShardedCheckpoint.save(Path.of(args[4]), opt, named(m), Map.of(STEP, Integer.toString(until)));
                System.out.println("RESULT rank=" + comm.rank() + " checkpoint from step " + start + " ok=true");
            }
        }
        return 0;
    }

    private interface CheckpointCall {
        void run() throws IOException;
    }

    private static int refusals(Communicator comm, Path dir) throws IOException {
        int rank = comm.rank();
        int failures = 0;
        Path good = dir.resolve("good.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            Model m = Model.create(arena, SIZES);
            Model other = Model.create(arena, new long[] {37, 100, 5, 193, 1000, 65});
            try (ShardedRMSProp opt = sharded(comm, m, CHECKPOINTED);
                 ShardedRMSProp otherOpt = sharded(comm, other, CHECKPOINTED)) {
                for (int step = 0; step < 2; step++) {
                    setRankGradients(m, step, rank);
                    opt.step();
                }
                ShardedCheckpoint.save(good, opt, named(m), Map.of(STEP, "2"));
                setRankGradients(other, 0, rank);
                otherOpt.step();
                Path otherFile = dir.resolve("other.safetensors");
                ShardedCheckpoint.save(otherFile, otherOpt);
                byte[] goodBytes = Files.readAllBytes(good);
                setRankGradients(m, 2, rank);
                opt.step();
                StateDict before = opt.stateDict();
                float[][] params = values(m);
                failures += expectRefusal("reserved-on-one-rank", () -> ShardedCheckpoint.save(good, opt, named(m),
                        Map.of(rank == 1 ? "state.0.step" : STEP, "3")));
                failures += expectRefusal("missing-folder", () -> ShardedCheckpoint.save(dir.resolve("none/x"), opt));
                failures += expectRefusal("missing-on-one-rank", () -> ShardedCheckpoint.load(
                        rank == 1 ? dir.resolve("absent.safetensors") : good, opt, named(m)));
                failures += expectRefusal("other-model", () -> ShardedCheckpoint.load(otherFile, opt));
                if (!Arrays.equals(goodBytes, Files.readAllBytes(good))
                        || maxStateDiff(before, opt.stateDict()) != 0 || !Arrays.deepEquals(params, values(m))) {
                    System.out.println("RESULT rank=" + rank + " a refused save or load changed something");
                    failures++;
                }
                // Still in step: the checkpoint loads on every rank and the ranks step together.
                ShardedCheckpoint.load(good, opt, named(m));
                setRankGradients(m, 2, rank);
                opt.step();
                if (maxStateDiff(before, opt.stateDict()) != 0 || !Arrays.deepEquals(params, values(m))) {
                    System.out.println("RESULT rank=" + rank + " the reloaded step differs");
                    failures++;
                }
            }
        }
        System.out.println("RESULT rank=" + rank + " refusals failures=" + failures + " ok=" + (failures == 0));
        return failures == 0 ? 0 : 1;
    }

    private static int addGroup(Communicator comm) {
        int rank = comm.rank();
        int failures = 0;
        try (Arena arena = Arena.ofConfined()) {
            Model m = Model.create(arena, SIZES);
            Model referenceModel = Model.create(arena, SIZES);
            Model elsewhere = Model.create(arena, new long[] {8});
            try (ShardedRMSProp opt = ShardedRMSProp.builder(comm).lr(1e-2).momentum(0.9).build(m.group(0, 4));
                 RMSProp reference = RMSProp.builder().lr(1e-2).momentum(0.9).build(referenceModel.group(0, 4));
                 RMSProp owner = RMSProp.builder().build(elsewhere.params)) {
                for (int step = 0; step < 2; step++) {
                    setRankGradients(m, step, rank);
                    opt.step();
                    setAveragedGradients(referenceModel, step, comm.size());
                    reference.step();
                }
                StateDict before = opt.stateDict();
                float[][] params = values(m);
                long shard = opt.shardSize();
                // Momentum unset: a claimed group would have taken the optimizer's 0.9.
                ParamGroup added = ParamGroup.of(m.group(4, SIZES.length)).lr(rank == 1 ? 5e-3 : 3e-3).centered(true);
                failures += expectGroupRefused("options", opt, added);
                failures += expectGroupRefused("count", opt, ParamGroup.of(m.group(4, rank == 1 ? 5 : 6)));
                failures += expectGroupRefused("null-on-one-rank", opt,
                        rank == 1 ? null : ParamGroup.of(m.group(4, 6)));
                failures += expectGroupRefused("duplicate", opt, ParamGroup.of(m.group(3, 5)));
                failures += expectGroupRefused("claimed", opt, owner.paramGroups().getFirst());
                if (opt.paramGroups().size() != 1 || opt.shardSize() != shard
                        || maxStateDiff(before, opt.stateDict()) != 0 || !Arrays.deepEquals(params, values(m))
                        || !Double.isNaN(added.momentum())) {
                    System.out.println("RESULT rank=" + rank + " a refused group changed the optimizer or the group");
                    failures++;
                }
                added.lr(3e-3);
                opt.addParamGroup(added);
                reference.addParamGroup(ParamGroup.of(referenceModel.group(4, SIZES.length)).lr(3e-3).centered(true));
                for (int step = 2; step < 4; step++) {
                    setRankGradients(m, step, rank);
                    opt.step();
                    setAveragedGradients(referenceModel, step, comm.size());
                    reference.step();
                }
                if (opt.paramGroups().get(1) != added || maxDiff(m, referenceModel) != 0
                        || maxStateDiff(opt.stateDict(), reference.stateDict()) != 0) {
                    System.out.println("RESULT rank=" + rank + " after the refusals the run differs from the "
                            + "reference");
                    failures++;
                }
            }
        }
        System.out.println("RESULT rank=" + rank + " addgroup failures=" + failures + " ok=" + (failures == 0));
        return failures == 0 ? 0 : 1;
    }

    private static int expectGroupRefused(String name, ShardedRMSProp opt, ParamGroup group) {
        try {
            opt.addParamGroup(group);
            System.out.println("RESULT " + name + ": no exception");
            return 1;
        } catch (IllegalArgumentException | IllegalStateException e) {
            System.out.println("GROUP " + name + ": " + e.getClass().getSimpleName() + ": " + e.getMessage());
            return 0;
        }
    }

    private static float[][] values(Model m) {
        float[][] values = new float[SIZES.length][];
        for (int i = 0; i < SIZES.length; i++) {
            values[i] = m.params.get(i).data().toArray(ValueLayout.JAVA_FLOAT);
        }
        return values;
    }

    private static int expectRefusal(String name, CheckpointCall call) {
        try {
            call.run();
            System.out.println("RESULT " + name + ": no exception");
            return 1;
        } catch (IOException | RuntimeException e) {
            System.out.println("REFUSAL " + name + ": " + e.getClass().getSimpleName() + ": " + e.getMessage());
            return 0;
        }
    }

    /**
     * The {@code checkpoint} scenario in one process: {@link RMSProp} stepped with the gradients
     * averaged over {@code ranks} ranks ((g0 + g1) / 2 for two: bit for bit the sharded run's),
     * from step 0 or from {@code resume}, saving to {@code mid} (unless it is null) before step
     * {@code midAt} and to {@code fin} after step {@code until - 1}.
     */
    static void singleProcess(int ranks, int until, int midAt, Path mid, Path fin, Path resume) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Model m = Model.create(arena, SIZES);
            try (RMSProp opt = reference(m, CHECKPOINTED)) {
                int start = resume == null ? 0
                        : Integer.parseInt(Checkpoint.load(resume, opt, null, named(m)).get(STEP));
                for (int step = start; step < until; step++) {
                    if (step == midAt) {
                        Checkpoint.save(mid, opt, named(m), Map.of(STEP, Integer.toString(step)));
                    }
                    setAveragedGradients(m, step, ranks);
                    opt.step();
                }
                Checkpoint.save(fin, opt, named(m), Map.of(STEP, Integer.toString(until)));
            }
        }
    }

    /** The save from which the killsave scenario's rank 1 is being killed. */
    static final int KILL_SAVE = 5;
    /** The killsave scenario's count of saves begun, in each file's metadata. */
    static final String SAVE = "save";

    private static int killDuringSaves(Communicator comm, Path file) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Model m = Model.create(arena, SIZES);
            try (ShardedRMSProp opt = sharded(comm, m, CHECKPOINTED)) {
                setRankGradients(m, 0, comm.rank());
                opt.step();
                for (int save = 0; ; save++) {
                    if (comm.rank() == 1 && save == KILL_SAVE) {
                        System.out.println("KILLING rank 1 (pid " + ProcessHandle.current().pid() + ") from save "
                                + save + " on");
                        System.out.flush();
                        // Not waited for: the signal lands while the ranks go on saving.
                        new ProcessBuilder("sh", "-c", "sleep 0.05; kill -KILL " + ProcessHandle.current().pid())
                                .start();
                    }
                    ShardedCheckpoint.save(file, opt, named(m), Map.of(STEP, "1", SAVE, Integer.toString(save)));
                }
            }
        }
    }

    /** SIGKILL to this process (ProcessHandle refuses to destroy the current process). */
    private static void killSelf() {
        try {
            new ProcessBuilder("kill", "-KILL", Long.toString(ProcessHandle.current().pid())).inheritIO().start()
                    .waitFor();
            Thread.sleep(60_000);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static Object nothing;

    private static int signals(Communicator comm) {
        long caught = 0;
        for (int i = 0; i < 3_000_000; i++) {
            try {
                nothing.hashCode();
            } catch (NullPointerException e) {
                caught++;
            }
            if (i % 200_000 == 0) {
                byte[][] garbage = new byte[512][];
                for (int k = 0; k < garbage.length; k++) {
                    garbage[k] = new byte[16384];
                }
                System.gc();
            }
        }
        comm.barrier();
        System.out.println("RESULT rank=" + comm.rank() + " null checks caught=" + caught);
        return caught == 3_000_000 ? 0 : 1;
    }
}
