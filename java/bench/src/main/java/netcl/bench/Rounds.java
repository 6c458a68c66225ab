package netcl.bench;

import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;

/**
 * How {@link AlternatingRounds} times a case: the contenders take turns in short batches, so
 * that a ratio of two of them compares times taken milliseconds apart, under the same load.
 * <ol>
 * <li>Calibration: each contender steps once (netcl creates its state then), then runs doubling
 * step counts until one batch takes a quarter of the batch time; its batch is that count scaled
 * to the whole batch time (at least one step).</li>
 * <li>Warm-up: {@code warmup} rounds run as below and are dropped.</li>
 * <li>Rounds: in each round every contender runs one batch, back to back, always in the given
 * order, so that the batches follow one another in one fixed cycle: neighbours in the order run
 * next to each other, and each contender always runs after the same one, so that whatever the
 * one before leaves behind (caches, threads still spinning or asleep) is the same in every round
 * and every run. (Reversing the order every other round made the contenders at both ends run
 * twice in a row, which on a busy machine made the second batch of a step on worker threads
 * 1.6 to 1.8 times faster than the first.) A batch's time over its steps is the contender's step time
 * in that round. Each round also notes whether other programs stayed off the CPUs while it ran
 * ({@link OtherLoad}), so that the ratios can be taken from quiet rounds alone.</li>
 * <li>Stop: after at least {@code minRounds} recorded rounds, when the caller's test finds the
 * rounds so far precise enough, or when the rounds have taken {@code budgetNanos}.</li>
 * </ol>
 * A ratio of two contenders is then computed per round and summarized over the rounds (see
 * {@link CaseResult}): a disturbance hits one round's ratio, not the median of all of them.
 *
 * @param minRounds   recorded rounds at least
 * @param warmup      rounds run first and dropped
 * @param batchNanos  how long one contender's batch in a round lasts at least (one step at least)
 * @param budgetNanos how long the recorded rounds may take once {@code minRounds} are done
 */
record Rounds(int minRounds, int warmup, long batchNanos, long budgetNanos) {
    /**
     * One of {@code passes} passes that share these rounds: each records at least its share of
     * {@code minRounds} (4 at least) within its share of the budget, after the same warm-up.
     */
    Rounds pass(int passes) {
        return new Rounds(Math.max(4, (minRounds + passes - 1) / passes), warmup, batchNanos, budgetNanos / passes);
    }

    /** The recorded rounds; {@code enough} is asked after every round from {@code minRounds} on. */
    Timings measure(List<? extends Contender> contenders, Predicate<Timings> enough) {
        int k = contenders.size();
        int[] steps = new int[k];
        for (int c = 0; c < k; c++) {
            steps[c] = calibrate(contenders.get(c));
        }
        for (int r = 0; r < warmup; r++) {
            round(contenders, steps);
        }
        int cpus = Runtime.getRuntime().availableProcessors();
        double[][] ms = new double[k][minRounds];
        boolean[] quiet = new boolean[minRounds];
        double[] otherCores = new double[minRounds];
        long start = System.nanoTime();
        for (int r = 0;; r++) {
            if (r == quiet.length) {
                for (int c = 0; c < k; c++) {
                    ms[c] = Arrays.copyOf(ms[c], 2 * r);
                }
                quiet = Arrays.copyOf(quiet, 2 * r);
                otherCores = Arrays.copyOf(otherCores, 2 * r);
            }
            OtherLoad before = OtherLoad.now();
            double[] times = round(contenders, steps);
            OtherLoad after = OtherLoad.now();
            for (int c = 0; c < k; c++) {
                ms[c][r] = times[c];
            }
            // Where /proc cannot tell, every round counts as quiet: none can be told apart.
            quiet[r] = after == null || after.quietSince(before, cpus);
            otherCores[r] = after == null ? Double.NaN : after.coresSince(before, cpus);
            if (r + 1 >= minRounds) {
                double[][] sofarMs = new double[k][];
                for (int c = 0; c < k; c++) {
                    sofarMs[c] = Arrays.copyOf(ms[c], r + 1);
                }
                boolean[] startsPass = new boolean[r + 1];
                startsPass[0] = true;
                Timings sofar = new Timings(sofarMs, Arrays.copyOf(quiet, r + 1), Arrays.copyOf(otherCores, r + 1),
                        startsPass);
                if (System.nanoTime() - start >= budgetNanos || enough.test(sofar)) {
                    return sofar;
                }
            }
        }
    }

    /** One round: every contender's step time in ms, in the contenders' order. */
    private static double[] round(List<? extends Contender> contenders, int[] steps) {
        int k = contenders.size();
        double[] times = new double[k];
        for (int c = 0; c < k; c++) {
            times[c] = contenders.get(c).timedSteps(steps[c]) / 1e6 / steps[c];
        }
        return times;
    }

    private int calibrate(Contender contender) {
        contender.step(1);
        for (int n = 1;; n *= 2) {
            long elapsed = Math.max(1, contender.timedSteps(n));
            if (elapsed >= batchNanos / 4 || n >= 1 << 24) {
                return (int) Math.max(1, Math.min(1 << 30, Math.round((double) n * batchNanos / elapsed)));
            }
        }
    }
}
