package netcl.optim;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

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
 * Parameter over the same memory) are not seen unless the gradient is set again.
 *
 * <p>The per-tensor results go to one native array, grown by doubling from the optimizer's arena
 * (so its memory stays within twice the largest size), and the totals stay in this object: a
 * steady-state pass allocates nothing. Not thread-safe: the optimizer's lock guards it.
 */
final class GradientStatistics {
    private static final long STRUCT_BYTES = netcl_grad_stats.sizeof();
    private static final long SUM_SQUARES = netcl_grad_stats.sum_squares$offset();
    private static final long MAX_ABS = netcl_grad_stats.max_abs$offset();
    private static final long NONFINITE = netcl_grad_stats.nonfinite$offset();
    private final Arena arena;
    private MemorySegment perTensor = MemorySegment.NULL;
    private long[] changesAtPass = new long[0];
    private float factor;
    private double sumSquares;
    private double maxAbs;
    private boolean nonFinite;
    private boolean any;
    /** Whether the totals are unscale's, kept for clipGradNorm. */
    private boolean kept;

    GradientStatistics(Arena arena) {
        this.arena = arena;
    }

    /**
     * Starts a pass over {@code params}' gradients times {@code factor}: notes their gradient
     * change counts and makes room for the per-tensor results ({@link #perTensor()}).
     */
    void begin(Parameter[] params, float factor) {
        kept = false;
        this.factor = factor;
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
    }

    /** The scaling factor of the current pass. */
    float factor() {
        return factor;
    }

    /** Where the current pass writes a {@code netcl_grad_stats} per tensor. */
    MemorySegment perTensor() {
        return perTensor;
    }

    /**
     * Sums the per-tensor results of the pass {@link #begin} started; with {@code keep}, keeps
     * them for {@link #reusable}.
     */
    void finish(Parameter[] params, boolean keep) {
        sumSquares = 0;
        maxAbs = 0;
        nonFinite = false;
        any = false;
        // Read at offsets, not through a slice per tensor: a slice is an object, which only C2's
        // escape analysis would remove, so an AMP step in a loop not yet compiled would allocate.
        for (int i = 0; i < params.length; i++) {
            long at = i * STRUCT_BYTES;
            double m = perTensor.get(ValueLayout.JAVA_DOUBLE, at + MAX_ABS);
            sumSquares += perTensor.get(ValueLayout.JAVA_DOUBLE, at + SUM_SQUARES);
            maxAbs = m > maxAbs || Double.isNaN(m) ? m : maxAbs;  // a NaN stays, as in torch.max
            nonFinite |= perTensor.get(ValueLayout.JAVA_INT, at + NONFINITE) != 0;
            any |= params[i].grad() != null || params[i].deviceGrad() != null;
        }
        kept = keep;
    }

    /**
     * Whether the kept totals still describe {@code params}' gradients scaled by {@code factor};
     * then the totals below are theirs.
     */
    boolean reusable(Parameter[] params, float factor) {
        if (!kept || Float.floatToRawIntBits(factor) != Float.floatToRawIntBits(this.factor)
                || params.length != changesAtPass.length) {
            return false;
        }
        for (int i = 0; i < params.length; i++) {
            if (params[i].gradChanges() != changesAtPass[i]) {
                return false;
            }
        }
        return true;
    }

    /** Drops the kept totals: a step used the gradients they describe. */
    void forget() {
        kept = false;
    }

    /** The sum of the squares over every gradient element (scaled), in double. */
    double sumSquares() {
        return sumSquares;
    }

    /** The largest magnitude of a (scaled) gradient element; NaN when one is NaN. */
    double maxAbs() {
        return maxAbs;
    }

    /** Whether a gradient element as given is inf or NaN. */
    boolean nonFinite() {
        return nonFinite;
    }

    /** Whether any parameter has a gradient. */
    boolean any() {
        return any;
    }
}
