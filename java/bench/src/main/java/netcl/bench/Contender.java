package netcl.bench;

/** One implementation of a case's step, as {@link Rounds} times it against the others. */
interface Contender extends AutoCloseable {
    /** The name the report gives it, e.g. "netcl-host" or "java-loop-serial". */
    String impl();

    /**
     * Runs {@code count} steps back to back, step k of the contender's life on the gradients of
     * {@link Gradients} for k. The loop lives here, not in the caller, so that the call inside
     * it has one target.
     */
    void step(int count);

    /** Runs {@link #step}{@code (count)} and returns the nanoseconds it took: what a round times. */
    default long timedSteps(int count) {
        long start = System.nanoTime();
        step(count);
        return System.nanoTime() - start;
    }

    /**
     * Frees what the contender holds; it is not stepped afterwards. Then checks its parameters
     * (outside any timing).
     *
     * @throws IllegalStateException a parameter became NaN or infinite (see {@link #diverged})
     */
    @Override
    void close();

    /**
     * What {@link #close} throws when the steps left a parameter NaN or infinite: the times were
     * those of a diverged optimizer, and the run must not report them as a step's.
     */
    static IllegalStateException diverged(String impl) {
        return new IllegalStateException(impl + ": a parameter became NaN or infinite, so its times are those of "
                + "a diverged optimizer; the benchmark's gradients (Gradients) must keep every variant finite");
    }
}
