package netcl.optim;

/**
 * The RMSProp state of one parameter, as PyTorch's {@code optimizer.state[p]} holds it: the step
 * count, {@code square_avg}, {@code momentum_buffer} (only when momentum &gt; 0) and
 * {@code grad_avg} (only when centered). {@code null} means absent.
 */
public record ParamState(long step, float[] squareAvg, float[] momentumBuffer, float[] gradAvg) {
}
