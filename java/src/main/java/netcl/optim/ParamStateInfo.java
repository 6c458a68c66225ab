package netcl.optim;

/**
 * What a parameter's state holds, without its values: the step count, the number of floats in
 * each buffer, and which optional buffers exist ({@code square_avg} always does). Enough to lay
 * out a file before the state is copied into it.
 */
public record ParamStateInfo(long step, long numel, boolean hasMomentumBuffer, boolean hasGradAvg) {
}
