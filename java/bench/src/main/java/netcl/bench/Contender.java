package netcl.bench;

/** One implementation of a case's step, as {@link Rounds} times it against the others. */
interface Contender extends AutoCloseable {
    /** The name the report gives it, e.g. "netcl-host" or "java-loop-serial". */
    String impl();

    /**
     * Runs {@code count} steps back to back. The loop lives here, not in the caller, so that the
     * call inside it has one target.
     */
    void step(int count);

    /** Frees what the contender holds; it is not stepped afterwards. */
    @Override
    void close();
}
