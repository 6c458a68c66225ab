package netcl.bench;

/**
 * A contender whose every step follows a gap in which the calling thread is busy, as in a
 * training loop, where the forward and backward pass run between two steps: a worker thread
 * that the step could use has gone to sleep by then (netcl's spin for 50 us, a Java loop's
 * fork-join threads theirs), and waking it is part of the step. Only the steps are timed.
 */
final class AfterGap implements Contender {
    private final Contender stepping;
    private final long gapNanos;

    AfterGap(Contender stepping, long gapNanos) {
        this.stepping = stepping;
        this.gapNanos = gapNanos;
    }

    @Override
    public String impl() {
        return stepping.impl();
    }

    @Override
    public void step(int count) {
        timedSteps(count);
    }

    /** The steps' time without the gaps before them. */
    @Override
    public long timedSteps(int count) {
        long steps = 0;
        for (int i = 0; i < count; i++) {
            long until = System.nanoTime() + gapNanos;
            while (System.nanoTime() < until) {
                Thread.onSpinWait();
            }
            long start = System.nanoTime();
            stepping.step(1);
            steps += System.nanoTime() - start;
        }
        return steps;
    }

    @Override
    public void close() {
        stepping.close();
    }
}
