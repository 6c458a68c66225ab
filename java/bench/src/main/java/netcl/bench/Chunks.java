package netcl.bench;

import java.util.stream.IntStream;

/**
 * Runs a loop over every element of a tensor list on all cores: the concatenated elements are
 * cut into one equal range per core (so one large tensor is shared, and many small ones are
 * grouped), and each range visits the pieces of the tensors it covers. The parallel stream runs
 * on the common pool plus the calling thread, which together use every core.
 */
final class Chunks {
    /** The loop body over the elements [from, to) of tensor {@code tensor}. */
    interface Body {
        void run(int tensor, long from, long to);
    }

    /** A loop body over the elements [from, to) of tensor {@code tensor} that returns a partial sum. */
    interface Sum {
        double run(int tensor, long from, long to);
    }

    private final long[] starts;
    private final long total;
    private final int count = Runtime.getRuntime().availableProcessors();

    Chunks(long[] numels) {
        starts = new long[numels.length + 1];
        for (int t = 0; t < numels.length; t++) {
            starts[t + 1] = starts[t] + numels[t];
        }
        total = starts[numels.length];
    }

    void forEachParallel(Body body) {
        IntStream.range(0, count).parallel().forEach(c -> visit(total * c / count, total * (c + 1) / count, body));
    }

    /** The sum of {@code body} over every range, the ranges run on all cores like {@link #forEachParallel}. */
    double sumParallel(Sum body) {
        return IntStream.range(0, count).parallel().mapToDouble(c -> {
            double[] sum = {0};
            visit(total * c / count, total * (c + 1) / count, (t, from, to) -> sum[0] += body.run(t, from, to));
            return sum[0];
        }).sum();
    }

    void forEachSerial(Body body) {
        for (int t = 0; t + 1 < starts.length; t++) {
            body.run(t, 0, starts[t + 1] - starts[t]);
        }
    }

    /** Runs {@code body} on the parts of the tensors that overlap the global range [from, to). */
    private void visit(long from, long to, Body body) {
        for (int t = 0; t + 1 < starts.length && starts[t] < to; t++) {
            long lo = Math.max(from, starts[t]);
            long hi = Math.min(to, starts[t + 1]);
            if (lo < hi) {
                body.run(t, lo - starts[t], hi - starts[t]);
            }
        }
    }
}
