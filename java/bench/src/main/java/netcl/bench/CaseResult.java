package netcl.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * One case measured in alternating rounds: each contender's step time per round, and the
 * ratios the report shows, peer time / netcl time, each computed round by round (both times
 * from the same round) and summarized over the rounds by a {@link Spread}.
 *
 * <p>The rounds used: the quiet ones (no other program on the CPUs, see {@link OtherLoad}) when
 * there are enough of them, else all, and the report says which; of those, as many from each
 * pass as the pass with the fewest has ({@link Timings#balanced}).
 *
 * <p>Peers: "java-loop-serial" (the single-threaded loop, the baseline netcl must beat),
 * "java-loop-parallel" (all cores) and "java-loop-best", the faster of the two in each round.
 */
final class CaseResult {
    static final String BEST_JAVA_LOOP = "java-loop-best";
    private static final List<String> PEERS = List.of("java-loop-serial", "java-loop-parallel", BEST_JAVA_LOOP);

    final Variant variant;
    /** The case's name in {@link Sizes}. */
    final String size;
    final long[] numels;
    /** "single" (one tensor), or the list's {@link Layout#label}. */
    final String layout;
    /** What netcl's automatic choice took ("kernel" or "host"). */
    final String autoPath;
    private final List<String> impls;
    private final Timings all;
    private final boolean fromQuiet;
    private final Timings used;
    private final double[][] ms;

    /**
     * {@code all.ms()[c]}: the step times of {@code impls.get(c)}; the quiet rounds are used
     * when there are at least {@code minQuiet} of them.
     */
    CaseResult(Variant variant, String size, long[] numels, String layout, String autoPath, List<String> impls,
               Timings all, int minQuiet) {
        this.variant = variant;
        this.size = size;
        this.numels = numels;
        this.layout = layout;
        this.autoPath = autoPath;
        this.impls = List.copyOf(impls);
        this.all = all;
        this.fromQuiet = all.quietRounds() >= minQuiet;
        this.used = (fromQuiet ? all.quietOnly() : all).balanced();
        this.ms = used.ms();
    }

    /** Whether the ratios come from quiet rounds alone. */
    boolean quietOnly() {
        return fromQuiet;
    }

    /** The rounds the ratios come from. */
    int rounds() {
        return used.rounds();
    }

    /** The CPU other programs used over all rounds, in cores (NaN when unknown). */
    double otherCores() {
        return all.meanOtherCores();
    }

    int allRounds() {
        return all.rounds();
    }

    long numel() {
        return Sizes.total(numels);
    }

    /** "2^20", "ResNet-50 list", "1000 x 100 floats, separate". */
    String label() {
        if (Sizes.RESNET50.equals(size)) {
            return "ResNet-50 list";
        }
        if (numels.length > 1) {
            return numels.length + " x " + numels[0] + " floats, " + layout;
        }
        long n = numel();
        return Long.bitCount(n) == 1 ? "2^" + Long.numberOfTrailingZeros(n) : Long.toString(n);
    }

    /** The step times of {@code impl} over the rounds, in ms; the best Java loop's per round. */
    double[] roundsMs(String impl) {
        if (impl.equals(BEST_JAVA_LOOP)) {
            double[] serial = roundsMs("java-loop-serial");
            double[] parallel = roundsMs("java-loop-parallel");
            double[] best = new double[serial.length];
            for (int r = 0; r < best.length; r++) {
                best[r] = Math.min(serial[r], parallel[r]);
            }
            return best;
        }
        int c = impls.indexOf(impl);
        if (c < 0) {
            throw new IllegalArgumentException("not measured: " + impl);
        }
        return ms[c];
    }

    /**
     * Whether every ratio's median is known within {@code halfWidth} (relative, 95% confidence)
     * from quiet rounds.
     */
    boolean precise(double halfWidth) {
        if (!quietOnly()) {
            return false;
        }
        for (String peer : PEERS) {
            for (String netcl : netclImpls()) {
                if (ratio(peer, netcl).relativeHalfWidth() > halfWidth) {
                    return false;
                }
            }
        }
        return true;
    }

    private List<String> netclImpls() {
        return impls.stream().filter(impl -> impl.startsWith("netcl")).toList();
    }

    /** peer time / netcl time, per round, summarized. */
    Spread ratio(String peer, String netcl) {
        return Spread.of(roundRatios(peer, netcl));
    }

    /** {@link #ratio}'s median in each pass alone, in pass order (each ran in a JVM of its own). */
    double[] passMedians(String peer, String netcl) {
        double[] ratios = roundRatios(peer, netcl);
        boolean[] starts = used.startsPass();
        List<Double> medians = new ArrayList<>();
        for (int first = 0, r = 1; r <= ratios.length; r++) {
            if (r == ratios.length || starts[r]) {
                medians.add(Spread.of(Arrays.copyOfRange(ratios, first, r)).median());
                first = r;
            }
        }
        return medians.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** peer time / netcl time in each round used. */
    private double[] roundRatios(String peer, String netcl) {
        double[] p = roundsMs(peer);
        double[] n = roundsMs(netcl);
        double[] ratios = new double[p.length];
        for (int r = 0; r < ratios.length; r++) {
            ratios[r] = p[r] / n[r];
        }
        return ratios;
    }

    private static String jsonNumber(double x) {
        return Double.isNaN(x) ? "null" : String.format(Locale.ROOT, "%.3f", x);
    }

    String json() {
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT,
                "{\"variant\": \"%s\", \"case\": \"%s\", \"layout\": \"%s\", \"numel\": %d, \"tensors\": %d, "
                        + "\"bytes_per_step\": %d, \"auto_path\": \"%s\", "
                        + "\"rounds\": %d, \"quiet_rounds\": %d, \"ratios_from\": \"%s\", \"rounds_used\": %d,%n       "
                        + "\"other_load_cores\": %s, \"other_load_cores_used\": %s,%n",
                variant.label, size, layout, numel(), numels.length, numel() * variant.bytesPerElement(), autoPath,
                all.rounds(), all.quietRounds(), quietOnly() ? "quiet rounds" : "all rounds", used.rounds(),
                jsonNumber(all.meanOtherCores()),
                jsonNumber(used.meanOtherCores())));
        List<String> times = new ArrayList<>();
        for (String impl : impls) {
            double[] rounds = roundsMs(impl);
            Spread s = Spread.of(rounds);
            StringBuilder list = new StringBuilder();
            for (double t : rounds) {
                list.append(list.isEmpty() ? "" : ", ").append(String.format(Locale.ROOT, "%.6g", t));
            }
            times.add(String.format(Locale.ROOT,
                    "\"%s\": {\"median_ms\": %.6g, \"q1_ms\": %.6g, \"q3_ms\": %.6g, \"min_ms\": %.6g, "
                            + "\"max_ms\": %.6g, \"rounds_ms\": [%s]}",
                    impl, s.median(), s.q1(), s.q3(), s.min(), s.max(), list));
        }
        out.append("       \"times\": {").append(String.join(",\n                 ", times)).append("},\n");
        List<String> ratios = new ArrayList<>();
        for (String peer : PEERS) {
            for (String netcl : netclImpls()) {
                Spread s = ratio(peer, netcl);
                StringBuilder perPass = new StringBuilder();
                for (double m : passMedians(peer, netcl)) {
                    perPass.append(perPass.isEmpty() ? "" : ", ").append(String.format(Locale.ROOT, "%.4f", m));
                }
                ratios.add(String.format(Locale.ROOT,
                        "{\"peer\": \"%s\", \"netcl\": \"%s\", \"median\": %.4f, \"q1\": %.4f, \"q3\": %.4f, "
                                + "\"min\": %.4f, \"max\": %.4f, \"ci95_low\": %.4f, \"ci95_high\": %.4f, "
                                + "\"pass_medians\": [%s]}",
                        peer, netcl, s.median(), s.q1(), s.q3(), s.min(), s.max(), s.ciLow(), s.ciHigh(), perPass));
            }
        }
        out.append("       \"ratios\": [").append(String.join(",\n                  ", ratios)).append("]}");
        return out.toString();
    }
}
