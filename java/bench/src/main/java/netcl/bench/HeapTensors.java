package netcl.bench;

/**
 * A parameter list on the Java heap, as a JVM program without off-heap memory holds it: one
 * float[] per tensor for the data, each of the two gradients of {@link Gradients} and each
 * optimizer state the variant keeps, stepped by {@link RmsPropLoops}. The values follow
 * {@link Block}'s (float i of the list holds {@code value * (1 + i % 7)}; state starts at 0), so
 * that every harness steps the same numbers.
 */
final class HeapTensors {
    private final Variant variant;
    private final float[][] data;
    private final float[][] evenGrad;
    private final float[][] oddGrad;
    /** The gradients of the step to come: evenGrad or oddGrad. */
    private float[][] grad;
    private final float[][] squareAvg;
    private final float[][] momentumBuffer;
    private final float[][] gradAvg;

    HeapTensors(long[] numels, Variant variant) {
        this.variant = variant;
        data = new float[numels.length][];
        evenGrad = new float[numels.length][];
        oddGrad = new float[numels.length][];
        squareAvg = new float[numels.length][];
        momentumBuffer = new float[numels.length][];
        gradAvg = new float[numels.length][];
        long at = 0;
        for (int t = 0; t < numels.length; t++) {
            int n = Math.toIntExact(numels[t]);
            data[t] = new float[n];
            evenGrad[t] = new float[n];
            oddGrad[t] = new float[n];
            for (int i = 0; i < n; i++) {
                data[t][i] = 0.5f * (1 + (at + i) % 7);
                evenGrad[t][i] = Gradients.EVEN * (1 + (at + i) % 7);
                oddGrad[t][i] = Gradients.ODD * (1 + (at + i) % 7);
            }
            squareAvg[t] = new float[n];
            momentumBuffer[t] = variant.momentum > 0 ? new float[n] : null;
            gradAvg[t] = variant.centered ? new float[n] : null;
            at += n;
        }
        grad = evenGrad;
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

    /** Once every tensor took its step: the next step takes the other gradients. */
    void stepDone() {
        grad = grad == evenGrad ? oddGrad : evenGrad;
    }

    /** Whether every parameter is finite (false once the optimizer diverged). */
    boolean dataFinite() {
        for (float[] tensor : data) {
            for (float x : tensor) {
                if (!Float.isFinite(x)) {
                    return false;
                }
            }
        }
        return true;
    }
}
