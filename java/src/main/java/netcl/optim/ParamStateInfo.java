package netcl.optim;

/**
 * What a parameter's state holds, without its values: the step count, the number of floats in
 * each buffer, and which optional buffers exist ({@code square_avg} always does; {@code master},
 * the float32 master copy, for BF16/FP16 parameters that have stepped). Enough to lay out a file
 * before the state is copied into it.
 */
public record ParamStateInfo(long step, long numel, boolean hasMomentumBuffer, boolean hasGradAvg, boolean hasMaster) {

    /** The state of a float32 parameter (no master copy). */
    public ParamStateInfo(long step, long numel, boolean hasMomentumBuffer, boolean hasGradAvg) {
        this(step, numel, hasMomentumBuffer, hasGradAvg, false);
    }
}
