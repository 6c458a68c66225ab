package netcl.bench;

/**
 * The hyperparameters of every benchmarked step, netcl-bench's: alpha and eps are PyTorch's
 * defaults, no weight decay; the momentum of the variants that have one (see {@link Variant}).
 * The JMH benchmarks step plain RMSProp (no momentum, not centered).
 */
final class Hyper {
    static final double LR = 1e-3;
    static final double ALPHA = 0.99;
    static final double EPS = 1e-8;
    static final double MOMENTUM = 0.9;

    private Hyper() {
    }
}
