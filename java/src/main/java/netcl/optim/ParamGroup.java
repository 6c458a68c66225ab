package netcl.optim;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parameters that share hyperparameters. Options left unset inherit the optimizer's defaults when
 * the group is added. Groups are live: a setter called between steps (a learning-rate schedule)
 * takes effect at the next step. Values are checked like PyTorch checks them.
 */
public final class ParamGroup {
    private final List<Parameter> params;
    private double lr = Double.NaN;
    private double alpha = Double.NaN;
    private double eps = Double.NaN;
    private double weightDecay = Double.NaN;
    private double momentum = Double.NaN;
    private Boolean centered;
    private Boolean maximize;

    private ParamGroup(List<Parameter> params) {
        this.params = params;
    }

    /** A group of distinct parameters, at least one. */
    public static ParamGroup of(List<Parameter> params) {
        if (params == null || params.isEmpty()) {
            throw new IllegalArgumentException("optimizer got an empty parameter list");
        }
        Map<Parameter, Boolean> seen = new IdentityHashMap<>();
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            if (p == null) {
                throw new IllegalArgumentException("parameter " + i + " is null");
            }
            if (seen.put(p, Boolean.TRUE) != null) {
                throw new IllegalArgumentException("parameter " + i + " appears twice in the group");
            }
        }
        return new ParamGroup(Collections.unmodifiableList(new ArrayList<>(params)));
    }

    public List<Parameter> params() {
        return params;
    }

    public ParamGroup lr(double lr) {
        this.lr = check(lr, "Invalid learning rate: ");
        return this;
    }

    public ParamGroup alpha(double alpha) {
        if (!(alpha >= 0.0 && alpha <= 1.0)) {
            throw new IllegalArgumentException("Invalid alpha value: " + alpha + " (must be in [0, 1])");
        }
        this.alpha = alpha;
        return this;
    }

    public ParamGroup eps(double eps) {
        this.eps = check(eps, "Invalid epsilon value: ");
        return this;
    }

    public ParamGroup weightDecay(double weightDecay) {
        this.weightDecay = check(weightDecay, "Invalid weight_decay value: ");
        return this;
    }

    public ParamGroup momentum(double momentum) {
        this.momentum = check(momentum, "Invalid momentum value: ");
        return this;
    }

    public ParamGroup centered(boolean centered) {
        this.centered = centered;
        return this;
    }

    public ParamGroup maximize(boolean maximize) {
        this.maximize = maximize;
        return this;
    }

    public double lr() {
        return lr;
    }

    public double alpha() {
        return alpha;
    }

    public double eps() {
        return eps;
    }

    public double weightDecay() {
        return weightDecay;
    }

    public double momentum() {
        return momentum;
    }

    public boolean centered() {
        return centered != null && centered;
    }

    public boolean maximize() {
        return maximize != null && maximize;
    }

    /**
     * Fills the options left unset from {@code defaults}, as an optimizer does when it adds the
     * group (optimizers built on others, such as {@code netcl.dist.ShardedRMSProp}, call it).
     */
    public void inherit(ParamGroup defaults) {
        lr = Double.isNaN(lr) ? defaults.lr : lr;
        alpha = Double.isNaN(alpha) ? defaults.alpha : alpha;
        eps = Double.isNaN(eps) ? defaults.eps : eps;
        weightDecay = Double.isNaN(weightDecay) ? defaults.weightDecay : weightDecay;
        momentum = Double.isNaN(momentum) ? defaults.momentum : momentum;
        centered = centered == null ? defaults.centered : centered;
        maximize = maximize == null ? defaults.maximize : maximize;
    }

    /** PyTorch's defaults: lr 1e-2, alpha 0.99, eps 1e-8, the rest 0 or false. */
    static ParamGroup defaults() {
        ParamGroup d = new ParamGroup(List.of());
        d.lr = 1e-2;
        d.alpha = 0.99;
        d.eps = 1e-8;
        d.weightDecay = 0.0;
        d.momentum = 0.0;
        d.centered = false;
        d.maximize = false;
        return d;
    }

    /** Copies the hyperparameters (not the parameters) of {@code other}. */
    void copyOptions(ParamGroup other) {
        lr = other.lr;
        alpha = other.alpha;
        eps = other.eps;
        weightDecay = other.weightDecay;
        momentum = other.momentum;
        centered = other.centered;
        maximize = other.maximize;
    }

    private static double check(double value, String message) {
        if (!(value >= 0.0) || Double.isInfinite(value)) {
            throw new IllegalArgumentException(message + value);
        }
        return value;
    }
}
