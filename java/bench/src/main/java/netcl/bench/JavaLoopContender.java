package netcl.bench;

/**
 * The plain-Java peer: {@link RmsPropLoops} over float[] tensors on the heap
 * ({@link HeapTensors}), on the calling thread ("java-loop-serial", the hand-written loop that
 * netcl must beat) or split over all cores ("java-loop-parallel", see {@link Chunks}).
 */
final class JavaLoopContender implements Contender {
    private final Chunks chunks;
    private final HeapTensors tensors;
    private final Chunks.Body update;
    private final boolean parallel;

    JavaLoopContender(long[] numels, Variant variant, boolean parallel) {
        this.chunks = new Chunks(numels);
        this.tensors = new HeapTensors(numels, variant);
        this.update = tensors::update;
        this.parallel = parallel;
    }

    @Override
    public String impl() {
        return parallel ? "java-loop-parallel" : "java-loop-serial";
    }

    @Override
    public void step(int count) {
        for (int i = 0; i < count; i++) {
            if (parallel) {
                chunks.forEachParallel(update);
            } else {
                chunks.forEachSerial(update);
            }
            tensors.stepDone();
        }
    }

    /** The arrays are the garbage collector's: only the check is left. */
    @Override
    public void close() {
        if (!tensors.dataFinite()) {
            throw Contender.diverged(impl());
        }
    }
}
