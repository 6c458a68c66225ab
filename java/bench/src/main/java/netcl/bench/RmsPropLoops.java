package netcl.bench;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * RMSProp written as the obvious Java loops, the baseline a JVM user would write without netcl,
 * in float like the kernels, on the index range [from, to) of one tensor:
 * <pre>
 * v = alpha*v + (1-alpha)*g*g
 * centered:  ga = alpha*ga + (1-alpha)*g;  d = sqrt(v - ga*ga) + eps,  else d = sqrt(v) + eps
 * momentum:  b = momentum*b + g/d;  p -= lr*b,                         else p -= lr*g/d
 * </pre>
 * One loop per variant (no per-element branch on the options), each touching every array at
 * index i only, so C2 vectorizes the loops over arrays.
 */
final class RmsPropLoops {
    private static final float LR = (float) Hyper.LR;
    private static final float ALPHA = (float) Hyper.ALPHA;
    private static final float ONE_MINUS_ALPHA = (float) (1 - Hyper.ALPHA);
    private static final float EPS = (float) Hyper.EPS;
    private static final float MOMENTUM = (float) Hyper.MOMENTUM;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private RmsPropLoops() {
    }

    static void plain(float[] p, float[] g, float[] v, int from, int to) {
        for (int i = from; i < to; i++) {
            float gi = g[i];
            float vi = ALPHA * v[i] + ONE_MINUS_ALPHA * gi * gi;
            v[i] = vi;
            // (float) Math.sqrt of a float compiles to a float square root, which C2 vectorizes.
            p[i] -= LR * gi / ((float) Math.sqrt(vi) + EPS);
        }
    }

    /**
     * {@link #plain} reading every gradient as {@code g[i] * gradFactor}: the AMP update, where the
     * factor is the loss scaler's inverse scale times the clip coefficient, applied in the
     * update's pass.
     */
    static void plain(float[] p, float[] g, float[] v, int from, int to, float gradFactor) {
        for (int i = from; i < to; i++) {
            float gi = g[i] * gradFactor;
            float vi = ALPHA * v[i] + ONE_MINUS_ALPHA * gi * gi;
            v[i] = vi;
            p[i] -= LR * gi / ((float) Math.sqrt(vi) + EPS);
        }
    }

    static void momentum(float[] p, float[] g, float[] v, float[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            float gi = g[i];
            float vi = ALPHA * v[i] + ONE_MINUS_ALPHA * gi * gi;
            v[i] = vi;
            float bi = MOMENTUM * b[i] + gi / ((float) Math.sqrt(vi) + EPS);
            b[i] = bi;
            p[i] -= LR * bi;
        }
    }

    static void centeredMomentum(float[] p, float[] g, float[] v, float[] ga, float[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            float gi = g[i];
            float vi = ALPHA * v[i] + ONE_MINUS_ALPHA * gi * gi;
            v[i] = vi;
            float gai = ALPHA * ga[i] + ONE_MINUS_ALPHA * gi;
            ga[i] = gai;
            float bi = MOMENTUM * b[i] + gi / ((float) Math.sqrt(vi - gai * gai) + EPS);
            b[i] = bi;
            p[i] -= LR * bi;
        }
    }

    /**
     * The plain loop over native segments. JDK 25's C2 leaves it scalar (it cannot prove that
     * three native segments do not overlap, and has no run-time aliasing check), which is what a
     * user of off-heap tensors gets from plain Java today.
     */
    static void plain(MemorySegment p, MemorySegment g, MemorySegment v, long from, long to) {
        for (long i = from; i < to; i++) {
            float gi = g.getAtIndex(FLOAT, i);
            float vi = ALPHA * v.getAtIndex(FLOAT, i) + ONE_MINUS_ALPHA * gi * gi;
            v.setAtIndex(FLOAT, i, vi);
            p.setAtIndex(FLOAT, i, p.getAtIndex(FLOAT, i) - LR * gi / ((float) Math.sqrt(vi) + EPS));
        }
    }
}
