package netcl.bench;

/**
 * The hyperparameters of every benchmarked step: plain RMSProp (no momentum, not centered, no
 * weight decay), the case netcl-bench calls "plain". alpha and eps are PyTorch's defaults.
 */
final class Hyper {
    static final double LR = 1e-3;
    static final double ALPHA = 0.99;
    static final double EPS = 1e-8;

    private Hyper() {
    }
}
