package netcl.demo;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The reference: PyTorch's {@code torch.optim.RMSprop} written out in plain Java over one flat
 * parameter segment, with the options the demo offers (lr, alpha, eps, momentum, centered).
 *
 * <p>Every operation is a float operation rounded exactly like netcl's kernel (and PyTorch's CPU
 * kernel): hyperparameters are rounded to float once, {@code 1 - alpha} is computed in double
 * first, and the fused multiply-adds are the same ones. Java never contracts {@code a * b + c}
 * by itself, so the result is bit for bit what netcl should compute.
 */
final class JavaRmsProp {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private final MemorySegment params;
    private final MemorySegment grads;
    private final float negLr;
    private final float alpha;
    private final float oneMinusAlpha;
    private final float eps;
    private final float momentum;
    private final boolean centered;
    // PyTorch's state names; all start at zero, which is what its lazy initialization does.
    private final float[] squareAvg;
    private final float[] momentumBuffer;
    private final float[] gradAvg;

    JavaRmsProp(MemorySegment params, MemorySegment grads, double lr, double alpha, double eps,
                double momentum, boolean centered) {
        if (params.byteSize() != grads.byteSize()) {
            throw new IllegalArgumentException("params and grads differ in size");
        }
        int n = Math.toIntExact(params.byteSize() / Float.BYTES);
        this.params = params;
        this.grads = grads;
        this.negLr = (float) -lr;
        this.alpha = (float) alpha;
        this.oneMinusAlpha = (float) (1.0 - alpha);
        this.eps = (float) eps;
        this.momentum = (float) momentum;
        this.centered = centered;
        this.squareAvg = new float[n];
        this.momentumBuffer = momentum > 0 ? new float[n] : null;
        this.gradAvg = centered ? new float[n] : null;
    }

    void step() {
        for (int i = 0; i < squareAvg.length; i++) {
            float p = params.getAtIndex(F, i);
            float g = grads.getAtIndex(F, i);
            float v = Math.fma(oneMinusAlpha * g, g, squareAvg[i] * alpha);
            squareAvg[i] = v;
            float avg;
            if (centered) {
                float ga = Math.fma(oneMinusAlpha, g, gradAvg[i] * alpha);
                gradAvg[i] = ga;
                // A float's square root computed in double and rounded back is correctly rounded.
                avg = (float) Math.sqrt(Math.fma(-ga, ga, v)) + eps;
            } else {
                avg = (float) Math.sqrt(v) + eps;
            }
            if (momentumBuffer != null) {
                float b = momentumBuffer[i] * momentum + g / avg;
                momentumBuffer[i] = b;
                params.setAtIndex(F, i, Math.fma(negLr, b, p));
            } else {
                params.setAtIndex(F, i, p + (negLr * g) / avg);
            }
        }
    }
}
