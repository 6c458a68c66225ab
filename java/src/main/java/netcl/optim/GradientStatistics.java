package netcl.optim;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import netcl.bindings.netcl_grad_stats;

/**
 * The gradient passes of one optimizer ({@code netcl_rmsprop_grad_stats}: per tensor the sum of
 * squares in double, the largest magnitude and an inf/NaN flag) summed over its parameters, and
 * the totals of {@link GradScaler#unscale}'s pass kept for {@link RMSProp#clipGradNorm}, which
 * then needs no pass of its own: unscale, clip and step read the gradients twice in all.
 *
 * <p>Kept totals describe the gradients while nothing changed them through netcl: each
 * parameter's {@link Parameter#gradChanges()} is noted before the pass reads its gradient, and
 * the totals are reused only while every count is the same (a new gradient segment, zeroGrad of
 * any optimizer, and parameters added since count as changes), for the same scaling factor, and
 * until the next step. Writes into gradient memory by other means (Java or native code, another
 * Parameter over the same memory) are not seen.
 *
 * <p>The per-tensor results go to one native array, grown by doubling from the optimizer's arena
 * (so its memory stays within twice the largest size), instead of a temporary arena per pass.
 * Not thread-safe: the optimizer's lock guards it.
 */
final class GradientStatistics {
    /** Over every parameter that has a gradient; {@code any} is false when none has one. */
    record Totals(double sumSquares, double maxAbs, boolean nonFinite, boolean any) {
    }

    private final Arena arena;
    private MemorySegment perTensor = MemorySegment.NULL;
    private long[] changesAtPass = new long[0];
    private Totals kept;
    private float keptFactor;

    GradientStatistics(Arena arena) {
        this.arena = arena;
    }

    /**
     * Starts a pass over {@code params}: notes their gradient change counts and returns the
     * array the native pass writes its per-tensor results to.
     */
    MemorySegment begin(Parameter[] params) {
        kept = null;
        if (changesAtPass.length != params.length) {
            changesAtPass = new long[params.length];
        }
        for (int i = 0; i < params.length; i++) {
            changesAtPass[i] = params[i].gradChanges();
        }
        long needed = Math.max(1, params.length) * netcl_grad_stats.sizeof();
        if (perTensor.byteSize() < needed) {
            perTensor = arena.allocate(Math.max(needed, 2 * perTensor.byteSize()), 8);
        }
        return perTensor;
    }

    /**
     * Sums the results of the pass {@link #begin} started, scaled by {@code factor}; with
     * {@code keep}, keeps them for {@link #reusable}.
     */
    Totals finish(Parameter[] params, float factor, boolean keep) {
        double sum = 0;
        double max = 0;
        boolean nonFinite = false;
        boolean any = false;
        for (int i = 0; i < params.length; i++) {
            MemorySegment s = netcl_grad_stats.asSlice(perTensor, i);
            double m = netcl_grad_stats.max_abs(s);
            sum += netcl_grad_stats.sum_squares(s);
            max = m > max || Double.isNaN(m) ? m : max;  // a NaN stays, as in torch.max
            nonFinite |= netcl_grad_stats.nonfinite(s) != 0;
            any |= params[i].grad() != null;
        }
        Totals totals = new Totals(sum, max, nonFinite, any);
        if (keep) {
            kept = totals;
            keptFactor = factor;
        }
        return totals;
    }

    /** The kept totals if they still describe {@code params}' gradients scaled by {@code factor}, else null. */
    Totals reusable(Parameter[] params, float factor) {
        if (kept == null || Float.floatToRawIntBits(factor) != Float.floatToRawIntBits(keptFactor)
                || params.length != changesAtPass.length) {
            return null;
        }
        for (int i = 0; i < params.length; i++) {
            if (params[i].gradChanges() != changesAtPass[i]) {
                return null;
            }
        }
        return kept;
    }

    /** Drops the kept totals: a step used the gradients they describe. */
    void forget() {
        kept = null;
    }
}
