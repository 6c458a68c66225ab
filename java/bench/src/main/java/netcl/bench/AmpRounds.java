package netcl.bench;

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
import java.util.Locale;
import java.util.Map;
import java.util.stream.IntStream;

import netcl.optim.DType;
import netcl.optim.GradScaler;
import netcl.optim.Parameter;
import netcl.optim.RMSProp;
import netcl.optim.Tensors;

/**
 * The mixed-precision step, timed in alternating rounds (scripts/bench-amp runs it):
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -Dnetcl.bench.shapes=... -cp benchmarks.jar \
 *     netcl.bench.AmpRounds [--quick] --json FILE
 * </pre>
 *
 * <p>Per case (2^16, 2^20, 2^24 floats and the ResNet-50 list) five contenders run one after
 * another in every round, a batch of steps each: netcl's AMP step with clipping ({@code amp-clip}:
 * {@code scaler.unscale; clipGradNorm; scaler.step; scaler.update}), the plain-Java loop doing the
 * same in two passes ({@link AmpJavaLoop}), a parallel copy moving the bytes the two passes must
 * move (the copy bandwidth of this run), netcl's AMP step without clipping on float32
 * parameters ({@code amp}) and on BF16 parameters with float32 masters ({@code bf16-master}).
 * Ratios are taken within a round (so that load from other programs hits both sides of a ratio
 * alike) and reported as medians with quartiles over the rounds.
 *
 * <p>The gradients of every harness ({@link Gradients}: two sets, alternating by step) as a loss
 * scaled by 2^16 leaves them; scale 2^16, clipping with max norm {@value #MAX_NORM} (every
 * case clips: the coefficient is below 1), PyTorch's RMSProp defaults with lr 1e-3.
 */
public final class AmpRounds {
    static final double MAX_NORM = 0.5;
    private static final float INIT_SCALE = 65536f;
    private static final String[] CASES = {"65536", "1048576", "16777216", Sizes.RESNET50};
    private static final double BATCH_SECONDS = 0.03;

    private AmpRounds() {
    }

    /** One timed thing: a step of it, and what it holds. */
    private interface Contender extends AutoCloseable {
        void step();

        /** How it ran, for netcl the path of its last step ("" for the others). */
        default String path() {
            return "";
        }

        @Override
        void close();
    }

    public static void main(String[] args) throws IOException {
        boolean quick = false;
        Path json = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> quick = true;
                case "--json" -> json = Path.of(args[++i]);
                default -> throw new IllegalArgumentException("usage: AmpRounds [--quick] --json FILE; got " + args[i]);
            }
        }
        if (json == null) {
            throw new IllegalArgumentException("usage: AmpRounds [--quick] --json FILE");
        }
        int rounds = quick ? 7 : 21;
        List<String> results = new ArrayList<>();
        for (String size : CASES) {
            results.add(runCase(size, rounds));
        }
        String out = "{\"tool\": \"AmpRounds\", \"cores\": " + Runtime.getRuntime().availableProcessors()
                + ", \"rounds\": " + rounds + ", \"max_norm\": " + MAX_NORM + ", \"init_scale\": " + INIT_SCALE
                + ",\n \"cases\": [\n" + String.join(",\n", results) + "\n]}\n";
        Files.writeString(json, out);
    }

    private static String runCase(String size, int rounds) {
        long[] numels = Sizes.of(size);
        long n = Sizes.total(numels);
        Map<String, Contender> contenders = new LinkedHashMap<>();
        try (Arena arena = Arena.ofShared()) {
            contenders.put("netcl-amp-clip", netcl(arena, numels, DType.FP32, true));
            AmpJavaLoop loop = new AmpJavaLoop(numels, INIT_SCALE, MAX_NORM);
            contenders.put("java-loop-amp-clip", contender(loop::step));
            contenders.put("copy", copy(arena, n * twoPassBytesPerElement() / 2));
            contenders.put("netcl-amp", netcl(arena, numels, DType.FP32, false));
            contenders.put("netcl-bf16-master", netcl(arena, numels, DType.BF16, false));
            // The plain step alone (no scaler): what the AMP passes add on top of it.
            contenders.put("netcl-step", netclPlainStep(arena, numels));

            Map<String, Integer> batch = new LinkedHashMap<>();
            contenders.forEach((name, c) -> batch.put(name, batchSize(c)));
            Map<String, double[]> ms = new LinkedHashMap<>();
            contenders.keySet().forEach(name -> ms.put(name, new double[rounds]));
            for (int r = 0; r < rounds; r++) {
                for (var e : contenders.entrySet()) {
                    ms.get(e.getKey())[r] = timeBatch(e.getValue(), batch.get(e.getKey()));
                }
            }

            double[] javaOverNetcl = ratio(ms.get("java-loop-amp-clip"), ms.get("netcl-amp-clip"));
            double[] netclOverCopy = ratio(ms.get("netcl-amp-clip"), ms.get("copy"));
            double[] bf16OverFp32 = ratio(ms.get("netcl-bf16-master"), ms.get("netcl-amp"));
            StringBuilder s = new StringBuilder();
            s.append(String.format(Locale.ROOT, "  {\"case\": \"%s\", \"numel\": %d, \"tensors\": %d,%n   \"ms_per_step\": {",
                    size, n, numels.length));
            List<String> times = new ArrayList<>();
            ms.forEach((name, t) -> times.add(String.format(Locale.ROOT, "\"%s\": %s", name, quartiles(t))));
            s.append(String.join(", ", times)).append("},\n");
            List<String> paths = new ArrayList<>();
            contenders.forEach((name, c) -> {
                if (!c.path().isEmpty()) {
                    paths.add(String.format(Locale.ROOT, "\"%s\": \"%s\"", name, c.path()));
                }
            });
            s.append("   \"netcl_path\": {").append(String.join(", ", paths)).append("},\n");
            s.append(String.format(Locale.ROOT,
                    "   \"bytes_per_step\": {\"amp-clip-two-passes\": %d, \"amp\": %d, \"bf16-master\": %d},%n",
                    n * twoPassBytesPerElement(), n * twoPassBytesPerElement(), n * bf16BytesPerElement()));
            s.append(String.format(Locale.ROOT,
                    "   \"ratios\": {\"java_loop_over_netcl\": %s, \"netcl_over_copy\": %s, \"bf16_over_fp32_time\": %s}}",
                    quartiles(javaOverNetcl), quartiles(netclOverCopy), quartiles(bf16OverFp32)));
            System.out.printf(Locale.ROOT, "%-9s netcl amp-clip %9.3f ms  java loop %9.3f ms  copy %9.3f ms  "
                            + "java/netcl %.2f  netcl/copy %.2f  fp32 amp %9.3f ms  bf16 %9.3f ms  bf16/fp32 %.2f%n",
                    size, median(ms.get("netcl-amp-clip")), median(ms.get("java-loop-amp-clip")), median(ms.get("copy")),
                    median(javaOverNetcl), median(netclOverCopy), median(ms.get("netcl-amp")),
                    median(ms.get("netcl-bf16-master")), median(bf16OverFp32));
            System.out.printf(Locale.ROOT, "          netcl step alone %9.3f ms; paths %s%n", median(ms.get("netcl-step")), paths);
            contenders.values().forEach(Contender::close);
            return s.toString();
        }
    }

    /**
     * Bytes per element the fp32 AMP step must move in two passes: the check and norm read the
     * gradient (4), the update reads gradient, parameter and square average and writes the
     * last two (20).
     */
    static long twoPassBytesPerElement() {
        return 24;
    }

    /**
     * BF16 parameters with float32 masters, no clipping: the check reads the BF16 gradient (2),
     * the update reads it again (2), reads and writes master and square average (16) and writes
     * the BF16 parameter (2).
     */
    static long bf16BytesPerElement() {
        return 22;
    }

    private static Contender contender(Runnable step) {
        return new Contender() {
            @Override
            public void step() {
                step.run();
            }

            @Override
            public void close() {
            }
        };
    }

    /** netcl's RMSProp step without a scaler on float32 tensors. */
    private static Contender netclPlainStep(Arena arena, long[] numels) {
        ScaledParams params = new ScaledParams(arena, numels, DType.FP32);
        return netclContender(params.optimizer, () -> {
            params.optimizer.step();
            params.stepDone();
        });
    }

    /** netcl's AMP step: with {@code clip} unscale, clip, step, update; without it step and update. */
    private static Contender netcl(Arena arena, long[] numels, DType dtype, boolean clip) {
        ScaledParams params = new ScaledParams(arena, numels, dtype);
        RMSProp opt = params.optimizer;
        GradScaler scaler = GradScaler.builder().initScale(INIT_SCALE).build();
        return netclContender(opt, () -> {
            if (clip) {
                scaler.unscale(opt);
                opt.clipGradNorm(MAX_NORM);
            }
            scaler.step(opt);
            scaler.update();
            params.stepDone();
        });
    }

    /** {@code step} over {@code opt}, which reports its path and is closed with the contender. */
    private static Contender netclContender(RMSProp opt, Runnable step) {
        return new Contender() {
            @Override
            public void step() {
                step.run();
            }

            @Override
            public String path() {
                return String.valueOf(opt.lastPath());
            }

            @Override
            public void close() {
                opt.close();
            }
        };
    }

    /**
     * An optimizer over tensors that are slices of one block, like a framework's flat buffer, and
     * the two gradient sets of {@link Gradients} at scale {@value #INIT_SCALE} in two more blocks,
     * which the parameters take in turns.
     */
    private static final class ScaledParams {
        final RMSProp optimizer;
        private final List<Parameter> params = new ArrayList<>();
        /** grads[k % 2][t]: parameter t's gradient at step k. */
        private final MemorySegment[][] grads;
        private int steps;

        ScaledParams(Arena arena, long[] numels, DType dtype) {
            long n = Sizes.total(numels);
            MemorySegment data = Tensors.allocate(arena, n, dtype);
            MemorySegment evenGrad = Tensors.allocate(arena, n, dtype);
            MemorySegment oddGrad = Tensors.allocate(arena, n, dtype);
            fill(data, dtype, 0.5f);
            fill(evenGrad, dtype, Gradients.EVEN * INIT_SCALE);
            fill(oddGrad, dtype, Gradients.ODD * INIT_SCALE);
            grads = new MemorySegment[2][numels.length];
            long at = 0;
            for (int t = 0; t < numels.length; t++) {
                long bytes = numels[t] * dtype.byteSize();
                grads[0][t] = evenGrad.asSlice(at, bytes);
                grads[1][t] = oddGrad.asSlice(at, bytes);
                params.add(Parameter.wrap(data.asSlice(at, bytes), grads[0][t], dtype));
                at += bytes;
            }
            optimizer = RMSProp.builder().lr(Hyper.LR).alpha(Hyper.ALPHA).eps(Hyper.EPS).build(params);
        }

        /** After a step: the parameters take the next step's gradients. */
        void stepDone() {
            steps++;
            MemorySegment[] next = grads[steps % 2];
            for (int t = 0; t < next.length; t++) {
                params.get(t).grad(next[t]);
            }
        }
    }

    /** Float i holds {@code value * (1 + i % 7)}; BF16 as the float's upper half (the values are exact enough). */
    private static void fill(MemorySegment segment, DType dtype, float value) {
        long count = segment.byteSize() / dtype.byteSize();
        for (long i = 0; i < count; i++) {
            float v = value * (1 + i % 7);
            if (dtype == DType.FP32) {
                segment.setAtIndex(ValueLayout.JAVA_FLOAT, i, v);
            } else {
                segment.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) (Float.floatToRawIntBits(v) >>> 16));
            }
        }
    }

    /** Copies {@code bytes} from one segment to another on all cores: reads and writes move 2 * bytes. */
    private static Contender copy(Arena arena, long bytes) {
        MemorySegment from = Tensors.allocate(arena, bytes / Float.BYTES);
        MemorySegment to = Tensors.allocate(arena, bytes / Float.BYTES);
        from.fill((byte) 1);
        int parts = Runtime.getRuntime().availableProcessors();
        return contender(() -> IntStream.range(0, parts).parallel().forEach(c -> {
            long lo = bytes * c / parts & ~63L;
            long hi = c == parts - 1 ? bytes : bytes * (c + 1) / parts & ~63L;
            MemorySegment.copy(from, lo, to, lo, hi - lo);
        }));
    }

    /** Steps per batch so that a batch takes about {@value #BATCH_SECONDS} s, after a warm-up. */
    private static int batchSize(Contender c) {
        for (int i = 0; i < 3; i++) {
            c.step();
        }
        long start = System.nanoTime();
        int steps = 0;
        while (System.nanoTime() - start < 200_000_000L || steps < 3) {
            c.step();
            steps++;
        }
        double seconds = (System.nanoTime() - start) / 1e9 / steps;
        return (int) Math.max(1, Math.round(BATCH_SECONDS / seconds));
    }

    /** Milliseconds per step over a batch. */
    private static double timeBatch(Contender c, int steps) {
        long start = System.nanoTime();
        for (int i = 0; i < steps; i++) {
            c.step();
        }
        return (System.nanoTime() - start) / 1e6 / steps;
    }

    private static double[] ratio(double[] a, double[] b) {
        double[] r = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = a[i] / b[i];
        }
        return r;
    }

    private static double median(double[] values) {
        return quantile(values, 0.5);
    }

    private static double quantile(double[] values, double q) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        double at = q * (sorted.length - 1);
        int lo = (int) Math.floor(at);
        int hi = (int) Math.ceil(at);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
    }

    private static String quartiles(double[] values) {
        return String.format(Locale.ROOT, "{\"median\": %.6g, \"q1\": %.6g, \"q3\": %.6g}",
                median(values), quantile(values, 0.25), quantile(values, 0.75));
    }
}
