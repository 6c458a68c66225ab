package netcl.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

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
 *   <li>{@code exact TOLERANCE [momentum=M] [centered] [weightDecay=W] [maximize]}: a sharded run of
 *       two groups (one centered with its own lr), uneven tensor sizes and a grad-less parameter,
 *       against one {@link RMSProp} stepped on rank 0 with the averaged gradient
 *       ((g0 + g1) + ...) / W; parameters and the gathered state must agree within TOLERANCE
 *       (0: bit for bit). Midway, the gathered state is loaded into a single-process RMSProp and
 *       the single-process state into a new sharded optimizer; both must finish like the
 *       reference.</li>
 *   <li>{@code mismatch}: ranks that differ in parameter count, sizes or options, and a gradient
 *       present on one rank only: each must fail on every rank with a clear message.</li>
 *   <li>{@code kill}: steps forever; rank 1 SIGKILLs itself inside a step.</li>
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
                case "kill" -> kill(comm);
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
                    default -> throw new IllegalArgumentException(args[i]);
                }
            }
            return new Options(momentum, centered, weightDecay, maximize);
        }
    }

    /** A model's parameters: the same initial values on every rank and in the reference. */
    private record Model(List<Parameter> params, List<MemorySegment> grads) {
        static Model create(Arena arena, long[] sizes) {
            List<Parameter> params = new ArrayList<>();
            List<MemorySegment> grads = new ArrayList<>();
            SplittableRandom random = new SplittableRandom(42);
            for (long n : sizes) {
                MemorySegment data = Tensors.allocate(arena, n);
                MemorySegment grad = Tensors.allocate(arena, n);
                for (long k = 0; k < n; k++) {
                    data.setAtIndex(ValueLayout.JAVA_FLOAT, k, (float) random.nextDouble(-1, 1));
                }
                params.add(Parameter.wrap(data, grad));
                grads.add(grad);
            }
            return new Model(params, grads);
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
            p.grad(i == GRADLESS ? null : m.grads.get(i));
            if (i != GRADLESS) {
                for (long k = 0; k < SIZES[i]; k++) {
                    m.grads.get(i).setAtIndex(ValueLayout.JAVA_FLOAT, k, gradient(step, rank, i, k));
                }
            }
        }
    }

    /** The reference's gradient: ((g0 + g1) + g2 ...) / W, in float, in rank order. */
    private static void setAveragedGradients(Model m, int step, int ranks) {
        for (int i = 0; i < SIZES.length; i++) {
            m.params.get(i).grad(i == GRADLESS ? null : m.grads.get(i));
            if (i != GRADLESS) {
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
        try (Arena arena = Arena.ofConfined()) {
            Model shardedModel = Model.create(arena, SIZES);
            Model resumedModel = Model.create(arena, SIZES);
            Model referenceModel = Model.create(arena, SIZES);
            Model handedModel = Model.create(arena, SIZES);
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

    private static double diff(float x, float y) {
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

    private static int kill(Communicator comm) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            Model m = Model.create(arena, new long[] {4096, 4096});
            try (ShardedRMSProp opt = ShardedRMSProp.builder(comm).build(m.params)) {
                for (int step = 0; ; step++) {
                    int current = step;
                    opt.step(() -> {
                        if (comm.rank() == 1 && current == 20) {
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
