package netcl.bench;

/**
 * The plain-Java peer of netcl's AMP step (loss scaler + gradient clipping + RMSProp) in the
 * fewest passes, on all cores over float[] tensors: pass 1 reads every gradient once for the
 * sum of squares of {@code g * invScale} (in double, so that a finite gradient can never
 * overflow it: the sum is not finite exactly when some gradient is inf or NaN, which makes it
 * the inf check too); pass 2 is the update with {@code g * invScale * clipCoef}. The scale
 * follows PyTorch's GradScaler defaults (back off by 2 on inf/NaN, grow by 2 after 2000 clean
 * steps).
 */
final class AmpJavaLoop {
    private static final int GROWTH_INTERVAL = 2000;

    private final float[][] data;
    private final float[][] evenGrad;
    private final float[][] oddGrad;
    /** The gradients of the step to come: evenGrad or oddGrad. */
    private float[][] grad;
    private final float[][] squareAvg;
    private final Chunks chunks;
    private final double maxNorm;
    private float scale;
    private int growthTracker;

    /**
     * Tensors of {@code numels} filled like {@link Block}: data 0.5, gradients {@link Gradients}'
     * two sets times {@code initScale} (the loss scale they were computed at), alternating by step.
     */
    AmpJavaLoop(long[] numels, float initScale, double maxNorm) {
        data = new float[numels.length][];
        evenGrad = new float[numels.length][];
        oddGrad = new float[numels.length][];
        squareAvg = new float[numels.length][];
        long at = 0;
        for (int t = 0; t < numels.length; t++) {
            int n = Math.toIntExact(numels[t]);
            data[t] = new float[n];
            evenGrad[t] = new float[n];
            oddGrad[t] = new float[n];
            squareAvg[t] = new float[n];
            for (int i = 0; i < n; i++) {
                data[t][i] = 0.5f * (1 + (at + i) % 7);
                evenGrad[t][i] = Gradients.EVEN * initScale * (1 + (at + i) % 7);
                oddGrad[t][i] = Gradients.ODD * initScale * (1 + (at + i) % 7);
            }
            at += n;
        }
        grad = evenGrad;
        chunks = new Chunks(numels);
        this.scale = initScale;
        this.maxNorm = maxNorm;
    }

    /** One AMP step; false when a gradient was inf or NaN (then only the scale changed). */
    boolean step() {
        float invScale = (float) (1.0 / (double) scale);
        double sumOfSquares = chunks.sumParallel((t, from, to) -> sumOfSquares(grad[t], (int) from, (int) to, invScale));
        boolean finite = Double.isFinite(sumOfSquares);
        if (finite) {
            float norm = (float) Math.sqrt(sumOfSquares);
            float clipCoef = (float) Math.min(maxNorm / ((double) norm + 1e-6), 1.0);
            float gradFactor = invScale * clipCoef;
            chunks.forEachParallel((t, from, to) ->
                    RmsPropLoops.plain(data[t], grad[t], squareAvg[t], (int) from, (int) to, gradFactor));
        }
        updateScale(finite);
        grad = grad == evenGrad ? oddGrad : evenGrad;
        return finite;
    }

    private void updateScale(boolean finite) {
        if (!finite) {
            scale *= 0.5f;
            growthTracker = 0;
        } else if (++growthTracker == GROWTH_INTERVAL) {
            float grown = scale * 2f;
            if (Float.isFinite(grown)) {
                scale = grown;
            }
            growthTracker = 0;
        }
    }

    /** Four independent accumulators, so that the additions do not wait on one another. */
    private static double sumOfSquares(float[] g, int from, int to, float invScale) {
        double s0 = 0;
        double s1 = 0;
        double s2 = 0;
        double s3 = 0;
        int i = from;
        for (; i + 3 < to; i += 4) {
            double a = g[i] * invScale;
            double b = g[i + 1] * invScale;
            double c = g[i + 2] * invScale;
            double d = g[i + 3] * invScale;
            s0 += a * a;
            s1 += b * b;
            s2 += c * c;
            s3 += d * d;
        }
        for (; i < to; i++) {
            double a = g[i] * invScale;
            s0 += a * a;
        }
        return s0 + s1 + s2 + s3;
    }
}
