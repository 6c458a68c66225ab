package netcl.bench;

/**
 * A parameter list on the Java heap, as a JVM program without off-heap memory holds it: one
 * float[] per tensor for the data, the gradient and each optimizer state the variant keeps,
 * stepped by {@link RmsPropLoops}. The values follow {@link Block}'s (float i of the list holds
 * {@code value * (1 + i % 7)}; state starts at 0), so that every harness steps the same numbers.
 */
final class HeapTensors {
    private final Variant variant;
    private final float[][] data;
    private final float[][] grad;
    private final float[][] squareAvg;
    private final float[][] momentumBuffer;
    private final float[][] gradAvg;

    HeapTensors(long[] numels, Variant variant) {
        this.variant = variant;
        data = new float[numels.length][];
        grad = new float[numels.length][];
        squareAvg = new float[numels.length][];
        momentumBuffer = new float[numels.length][];
        gradAvg = new float[numels.length][];
        long at = 0;
        for (int t = 0; t < numels.length; t++) {
            int n = Math.toIntExact(numels[t]);
            data[t] = new float[n];
            grad[t] = new float[n];
            for (int i = 0; i < n; i++) {
                data[t][i] = 0.5f * (1 + (at + i) % 7);
                grad[t][i] = 1e-3f * (1 + (at + i) % 7);
            }
            squareAvg[t] = new float[n];
            momentumBuffer[t] = variant.momentum > 0 ? new float[n] : null;
            gradAvg[t] = variant.centered ? new float[n] : null;
            at += n;
        }
    }

    /** One step of the elements [from, to) of tensor {@code t} (a {@link Chunks.Body}). */
    void update(int t, long from, long to) {
        int lo = (int) from;
        int hi = (int) to;
        switch (variant) {
            case PLAIN -> RmsPropLoops.plain(data[t], grad[t], squareAvg[t], lo, hi);
            case MOMENTUM -> RmsPropLoops.momentum(data[t], grad[t], squareAvg[t], momentumBuffer[t], lo, hi);
            case CENTERED_MOMENTUM ->
                RmsPropLoops.centeredMomentum(data[t], grad[t], squareAvg[t], gradAvg[t], momentumBuffer[t], lo, hi);
        }
    }
}
