package netcl.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;

/**
 * The rounds of one case as {@link Rounds} measured them, in one pass or in several passes
 * joined ({@link #then}).
 *
 * @param ms         the step time in ms of contender c in round r, as [c][r]
 * @param quiet      per round: whether no other program was seen on the CPUs ({@link OtherLoad})
 * @param otherCores per round: the CPU other programs used, in cores (NaN when unknown)
 * @param startsPass per round: whether it opens a pass (no round of the case ran just before it)
 */
record Timings(double[][] ms, boolean[] quiet, double[] otherCores, boolean[] startsPass) {
    int rounds() {
        return quiet.length;
    }

    /**
     * Whether round r counts as quiet: it and the rounds next to it in time (in its pass) saw no
     * other program. Ticks are sampled 10 ms apart, so a program busy on one core of two still
     * leaves about one short round in six without a tick of its own; three in a row hardly ever.
     */
    boolean quietAround(int r) {
        boolean quietBefore = startsPass[r] || quiet[r - 1];
        boolean quietAfter = r + 1 == quiet.length || startsPass[r + 1] || quiet[r + 1];
        return quiet[r] && quietBefore && quietAfter;
    }

    /** These rounds followed by those of a later pass over the same contenders. */
    Timings then(Timings later) {
        double[][] joined = new double[ms.length][];
        for (int c = 0; c < ms.length; c++) {
            joined[c] = concat(ms[c], later.ms[c]);
        }
        boolean[] starts = Arrays.copyOf(startsPass, rounds() + later.rounds());
        System.arraycopy(later.startsPass, 0, starts, rounds(), later.rounds());
        starts[rounds()] = true;
        boolean[] q = Arrays.copyOf(quiet, starts.length);
        System.arraycopy(later.quiet, 0, q, rounds(), later.rounds());
        return new Timings(joined, q, concat(otherCores, later.otherCores), starts);
    }

    /**
     * The rounds as text, a line each: "quiet otherCores ms_0 ... ms_k-1" (quiet 1 or 0), every
     * number as {@link Double#toString} writes it, so that {@link #read} gives back the same
     * values. A pass run in its own JVM hands its rounds over so (see AlternatingRounds).
     */
    List<String> lines() {
        List<String> out = new ArrayList<>();
        for (int r = 0; r < rounds(); r++) {
            StringBuilder line = new StringBuilder(quiet[r] ? "1 " : "0 ").append(otherCores[r]);
            for (double[] contender : ms) {
                line.append(' ').append(contender[r]);
            }
            out.add(line.toString());
        }
        return out;
    }

    /** {@code rounds} lines of {@link #lines()} for {@code contenders} contenders: one pass. */
    static Timings read(Iterator<String> lines, int rounds, int contenders) {
        double[][] ms = new double[contenders][rounds];
        boolean[] quiet = new boolean[rounds];
        double[] otherCores = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            String[] fields = lines.next().split(" ");
            if (fields.length != contenders + 2) {
                throw new IllegalArgumentException("a round of " + contenders + " contenders has "
                        + (fields.length - 2) + " times");
            }
            quiet[r] = fields[0].equals("1");
            otherCores[r] = Double.parseDouble(fields[1]);
            for (int c = 0; c < contenders; c++) {
                ms[c][r] = Double.parseDouble(fields[c + 2]);
            }
        }
        boolean[] startsPass = new boolean[rounds];
        if (rounds > 0) {
            startsPass[0] = true;
        }
        return new Timings(ms, quiet, otherCores, startsPass);
    }

    private static double[] concat(double[] a, double[] b) {
        double[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    int quietRounds() {
        int n = 0;
        for (int r = 0; r < quiet.length; r++) {
            n += quietAround(r) ? 1 : 0;
        }
        return n;
    }

    /** The rounds that count as quiet, alone, each pass's still marked where it starts. */
    Timings quietOnly() {
        int n = quietRounds();
        int[] kept = new int[n];
        boolean[] starts = new boolean[n];
        boolean passStarted = false;
        for (int r = 0, k = 0; r < quiet.length; r++) {
            passStarted |= startsPass[r];
            if (quietAround(r)) {
                starts[k] = passStarted;
                kept[k++] = r;
                passStarted = false;
            }
        }
        return select(kept, starts);
    }

    /**
     * As many rounds from every pass as the pass with the fewest has, spread evenly over each
     * pass: every pass weighs the same in a median, so that one pass on unlucky memory (a
     * contender's step 3 to 4 times slower for a whole pass, in one of three) cannot carry it,
     * however many of its rounds were quiet.
     */
    Timings balanced() {
        List<int[]> passes = new ArrayList<>();  // [first round, rounds]
        for (int r = 0; r < quiet.length; r++) {
            if (startsPass[r] || passes.isEmpty()) {
                passes.add(new int[] {r, 0});
            }
            passes.get(passes.size() - 1)[1]++;
        }
        int each = Integer.MAX_VALUE;
        for (int[] pass : passes) {
            each = Math.min(each, pass[1]);
        }
        int n = passes.isEmpty() ? 0 : each * passes.size();
        int[] kept = new int[n];
        boolean[] starts = new boolean[n];
        int k = 0;
        for (int[] pass : passes) {
            for (int i = 0; i < each; i++) {
                starts[k] = i == 0;
                kept[k++] = pass[0] + (int) ((long) i * pass[1] / each);
            }
        }
        return select(kept, starts);
    }

    /** The rounds {@code kept}, in that order, with passes opening where {@code starts} says. */
    private Timings select(int[] kept, boolean[] starts) {
        double[][] keptMs = new double[ms.length][kept.length];
        double[] keptCores = new double[kept.length];
        boolean[] keptQuiet = new boolean[kept.length];
        for (int k = 0; k < kept.length; k++) {
            for (int c = 0; c < ms.length; c++) {
                keptMs[c][k] = ms[c][kept[k]];
            }
            keptCores[k] = otherCores[kept[k]];
            keptQuiet[k] = quiet[kept[k]];
        }
        return new Timings(keptMs, keptQuiet, keptCores, starts);
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
