package netcl.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One case measured in alternating rounds: each contender's step time per round, and the
 * ratios the report shows, peer time / netcl time, each computed round by round (both times
 * from the same round) and summarized over the rounds by a {@link Spread}.
 *
 * <p>Peers: "java-loop-serial" (the single-threaded loop, the baseline netcl must beat),
 * "java-loop-parallel" (all cores) and "java-loop-best", the faster of the two in each round.
 */
final class CaseResult {
    static final String BEST_JAVA_LOOP = "java-loop-best";
    private static final List<String> PEERS = List.of("java-loop-serial", "java-loop-parallel", BEST_JAVA_LOOP);

    final Variant variant;
    final long[] numels;
    /** What netcl's automatic choice took ("kernel" or "host"). */
    final String autoPath;
    /** The CPU other programs used while the rounds ran, in cores (see {@link OtherLoad}); NaN if unknown. */
    final double otherCores;
    private final List<String> impls;
    private final double[][] ms;

    /** {@code ms[c][r]}: the step time of {@code impls.get(c)} in round r. */
    CaseResult(Variant variant, long[] numels, String autoPath, List<String> impls, double[][] ms, double otherCores) {
        this.variant = variant;
        this.numels = numels;
        this.autoPath = autoPath;
        this.impls = List.copyOf(impls);
        this.ms = ms;
        this.otherCores = otherCores;
    }

    int rounds() {
        return ms[0].length;
    }

    long numel() {
        return Sizes.total(numels);
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

    /** Whether every ratio's median is known within {@code halfWidth} (relative, 95% confidence). */
    boolean precise(double halfWidth) {
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
        double[] p = roundsMs(peer);
        double[] n = roundsMs(netcl);
        double[] ratios = new double[p.length];
        for (int r = 0; r < ratios.length; r++) {
            ratios[r] = p[r] / n[r];
        }
        return Spread.of(ratios);
    }

    String json() {
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT,
                "{\"variant\": \"%s\", \"numel\": %d, \"tensors\": %d, \"bytes_per_step\": %d, \"auto_path\": \"%s\", "
                        + "\"rounds\": %d, \"other_load_cores\": %s,%n",
                variant.label, numel(), numels.length, numel() * variant.bytesPerElement(), autoPath, rounds(),
                Double.isNaN(otherCores) ? "null" : String.format(Locale.ROOT, "%.3f", otherCores)));
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
                ratios.add(String.format(Locale.ROOT,
                        "{\"peer\": \"%s\", \"netcl\": \"%s\", \"median\": %.4f, \"q1\": %.4f, \"q3\": %.4f, "
                                + "\"min\": %.4f, \"max\": %.4f, \"ci95_low\": %.4f, \"ci95_high\": %.4f}",
                        peer, netcl, s.median(), s.q1(), s.q3(), s.min(), s.max(), s.ciLow(), s.ciHigh()));
            }
        }
        out.append("       \"ratios\": [").append(String.join(",\n                  ", ratios)).append("]}");
        return out.toString();
    }
}
