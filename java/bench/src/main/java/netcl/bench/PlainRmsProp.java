package netcl.bench;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Plain RMSProp written as the obvious Java loop, the baseline a JVM user would write without
 * netcl: {@code v = alpha*v + (1-alpha)*g*g; p -= lr*g / (sqrt(v) + eps)}, in float like the
 * kernels. Over arrays and over memory segments, on the index range [from, to) of one tensor.
 */
final class PlainRmsProp {
    private static final float LR = (float) Hyper.LR;
    private static final float ALPHA = (float) Hyper.ALPHA;
    private static final float ONE_MINUS_ALPHA = (float) (1 - Hyper.ALPHA);
    private static final float EPS = (float) Hyper.EPS;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private PlainRmsProp() {
    }

    static void step(float[] p, float[] g, float[] v, int from, int to) {
        for (int i = from; i < to; i++) {
            float gi = g[i];
            float vi = ALPHA * v[i] + ONE_MINUS_ALPHA * gi * gi;
            v[i] = vi;
            // (float) Math.sqrt of a float compiles to a float square root, which C2 vectorizes.
            p[i] -= LR * gi / ((float) Math.sqrt(vi) + EPS);
        }
    }

    /**
     * The loop reading every gradient as {@code g[i] * gradFactor}: the AMP update, where the factor
     * is the loss scaler's inverse scale times the clip coefficient, applied in the update's pass.
     */
    static void step(float[] p, float[] g, float[] v, int from, int to, float gradFactor) {
        for (int i = from; i < to; i++) {
            float gi = g[i] * gradFactor;
            float vi = ALPHA * v[i] + ONE_MINUS_ALPHA * gi * gi;
            v[i] = vi;
            p[i] -= LR * gi / ((float) Math.sqrt(vi) + EPS);
        }
    }

    /**
     * The same loop over native segments. JDK 25's C2 leaves it scalar (it cannot prove that
     * three native segments do not overlap, and has no run-time aliasing check), which is what a
     * user of off-heap tensors gets from plain Java today.
     */
    static void step(MemorySegment p, MemorySegment g, MemorySegment v, long from, long to) {
        for (long i = from; i < to; i++) {
            float gi = g.getAtIndex(FLOAT, i);
            float vi = ALPHA * v.getAtIndex(FLOAT, i) + ONE_MINUS_ALPHA * gi * gi;
            v.setAtIndex(FLOAT, i, vi);
            p.setAtIndex(FLOAT, i, p.getAtIndex(FLOAT, i) - LR * gi / ((float) Math.sqrt(vi) + EPS));
        }
    }
}
