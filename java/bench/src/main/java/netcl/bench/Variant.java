package netcl.bench;

import netcl.optim.RMSProp;

/** The RMSProp options a case steps, named as netcl-bench names them. */
enum Variant {
    PLAIN("plain", 0, false),
    MOMENTUM("momentum", Hyper.MOMENTUM, false),
    CENTERED_MOMENTUM("centered_momentum", Hyper.MOMENTUM, true);

    final String label;
    final double momentum;
    final boolean centered;

    Variant(String label, double momentum, boolean centered) {
        this.label = label;
        this.momentum = momentum;
        this.centered = centered;
    }

    /** What a fused step must move per float: read p, g, v and write p, v; +8 for the momentum
     *  buffer and +8 for the gradient average, each read and written. */
    long bytesPerElement() {
        return 20 + (momentum > 0 ? 8 : 0) + (centered ? 8 : 0);
    }

    /** A builder with {@link Hyper}'s values and this variant's options. */
    RMSProp.Builder builder() {
        return RMSProp.builder().lr(Hyper.LR).alpha(Hyper.ALPHA).eps(Hyper.EPS).momentum(momentum).centered(centered);
    }
}
