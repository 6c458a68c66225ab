package netcl.demo;

import netcl.optim.GradScaler;
import netcl.optim.RMSProp;

/**
 * One mixed-precision step (the demo's {@code --amp}): the model's bf16 gradients are of the
 * scaled loss; netcl unscales them (and clips their norm when asked), steps unless a gradient was
 * inf or NaN, updates the scale, and the model scales its next gradients by the new one.
 */
final class AmpStep implements Runnable {
    private final RMSProp optimizer;
    private final GradScaler scaler;
    private final Mlp model;
    private final double clip;
    private int steps;
    private int skipped;

    /** {@code clip}: the largest L2 norm of all gradients together, or 0 for no clipping. */
    AmpStep(RMSProp optimizer, GradScaler scaler, Mlp model, double clip) {
        if (!(clip >= 0) || Double.isInfinite(clip)) {
            throw new IllegalArgumentException("clip must be a finite norm > 0, or 0 for none, got " + clip);
        }
        this.optimizer = optimizer;
        this.scaler = scaler;
        this.model = model;
        this.clip = clip;
        model.gradScale(scaler.getScale());
    }

    @Override
    public void run() {
        if (clip > 0) {
            scaler.unscale(optimizer);
            optimizer.clipGradNorm(clip);
        }
        skipped += scaler.step(optimizer) ? 0 : 1;
        steps++;
        scaler.update();
        model.gradScale(scaler.getScale());
    }

    /** Steps run so far. */
    int steps() {
        return steps;
    }

    /** Steps skipped so far because a gradient was inf or NaN. */
    int skipped() {
        return skipped;
    }
}
