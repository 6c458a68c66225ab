package netcl.bench;

/**
 * The rounds of one case as {@link Rounds} measured them.
 *
 * @param ms         the step time in ms of contender c in round r, as [c][r]
 * @param quiet      per round: whether other programs stayed off the CPUs ({@link OtherLoad})
 * @param otherCores per round: the CPU other programs used, in cores (NaN when unknown)
 */
record Timings(double[][] ms, boolean[] quiet, double[] otherCores) {
    int rounds() {
        return quiet.length;
    }

    int quietRounds() {
        int n = 0;
        for (boolean q : quiet) {
            n += q ? 1 : 0;
        }
        return n;
    }

    /** The quiet rounds alone. */
    Timings quietOnly() {
        int n = quietRounds();
        double[][] keptMs = new double[ms.length][n];
        double[] keptCores = new double[n];
        boolean[] keptQuiet = new boolean[n];
        for (int r = 0, k = 0; r < quiet.length; r++) {
            if (quiet[r]) {
                for (int c = 0; c < ms.length; c++) {
                    keptMs[c][k] = ms[c][r];
                }
                keptCores[k] = otherCores[r];
                keptQuiet[k++] = true;
            }
        }
        return new Timings(keptMs, keptQuiet, keptCores);
    }

    /** The mean of the rounds' other load, in cores (NaN when unknown). */
    double meanOtherCores() {
        double sum = 0;
        for (double c : otherCores) {
            sum += c;
        }
        return sum / otherCores.length;
    }
}
