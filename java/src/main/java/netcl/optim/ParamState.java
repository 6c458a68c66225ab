package netcl.optim;

/**
 * The RMSProp state of one parameter, as PyTorch's {@code optimizer.state[p]} holds it: the step
 * count, {@code square_avg}, {@code momentum_buffer} (only when momentum &gt; 0) and
 * {@code grad_avg} (only when centered); for a {@link DType#BF16} or {@link DType#FP16}
 * parameter also its float32 master copy ({@code master}). {@code null} means absent.
 */
public record ParamState(long step, float[] squareAvg, float[] momentumBuffer, float[] gradAvg, float[] master) {

    /** The state of a float32 parameter (no master copy). */
    public ParamState(long step, float[] squareAvg, float[] momentumBuffer, float[] gradAvg) {
        this(step, squareAvg, momentumBuffer, gradAvg, null);
    }
}
