package netcl.bench;

/**
 * The rounds of one case as {@link Rounds} measured them.
 *
 * @param ms         the step time in ms of contender c in round r, as [c][r]
 * @param quiet      per round: whether no other program was seen on the CPUs ({@link OtherLoad})
 * @param otherCores per round: the CPU other programs used, in cores (NaN when unknown)
 */
record Timings(double[][] ms, boolean[] quiet, double[] otherCores) {
    int rounds() {
        return quiet.length;
    }

    /**
     * Whether round r counts as quiet: it and the rounds next to it saw no other program. Ticks
     * are sampled 10 ms apart, so a program busy on one core of two still leaves about one short
     * round in six without a tick of its own; three in a row hardly ever.
     */
    boolean quietAround(int r) {
        return quiet[r] && (r == 0 || quiet[r - 1]) && (r + 1 == quiet.length || quiet[r + 1]);
    }

    int quietRounds() {
        int n = 0;
        for (int r = 0; r < quiet.length; r++) {
            n += quietAround(r) ? 1 : 0;
        }
        return n;
    }

    /** The rounds that count as quiet, alone. */
    Timings quietOnly() {
        int n = quietRounds();
        double[][] keptMs = new double[ms.length][n];
        double[] keptCores = new double[n];
        boolean[] keptQuiet = new boolean[n];
        for (int r = 0, k = 0; r < quiet.length; r++) {
            if (quietAround(r)) {
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
