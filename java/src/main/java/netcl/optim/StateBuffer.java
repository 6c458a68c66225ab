package netcl.optim;

import netcl.bindings.Netcl;

/**
 * One of a parameter's state buffers, under PyTorch's names ({@link #MASTER} is netcl's float32
 * master copy of a BF16/FP16 parameter); {@link ParamStateInfo} says which ones a parameter has.
 */
public enum StateBuffer {
    SQUARE_AVG(Netcl.NETCL_STATE_SQUARE_AVG()),
    MOMENTUM_BUFFER(Netcl.NETCL_STATE_MOMENTUM_BUFFER()),
    GRAD_AVG(Netcl.NETCL_STATE_GRAD_AVG()),
    MASTER(Netcl.NETCL_STATE_MASTER());

    private final int nativeCode;

    StateBuffer(int nativeCode) {
        this.nativeCode = nativeCode;
    }

    /** The buffer's number in the C API (netcl_state_buffer). */
    int nativeCode() {
        return nativeCode;
    }

    /** Whether a parameter whose state is {@code info} has this buffer. */
    public boolean isIn(ParamStateInfo info) {
        return switch (this) {
            case SQUARE_AVG -> true;
            case MOMENTUM_BUFFER -> info.hasMomentumBuffer();
            case GRAD_AVG -> info.hasGradAvg();
            case MASTER -> info.hasMaster();
        };
    }
}
