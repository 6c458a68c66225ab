package netcl.optim;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parameters that share hyperparameters. Values are checked like PyTorch checks them.
 *
 * <p>A group belongs to one optimizer. {@link RMSProp#addParamGroup} adopts this object as the
 * optimizer's live group: options left unset are filled in from the optimizer's defaults (as
 * PyTorch fills in the dict it is given), and the object is what {@link RMSProp#paramGroups()}
 * lists. Adding a group that already belongs to an optimizer, the same or another, is refused:
 * build a new one with {@link #of} instead.
 *
 * <p>Groups are live: a setter called between steps (a learning-rate schedule) takes effect at
 * the next step. Setters may also be called from another thread while a step runs: each setter
 * is atomic, and a step reads all options of a group at one instant, under the group's monitor.
 * To change several options at once with respect to steps, hold that monitor:
 * {@code synchronized (group) { group.lr(1e-3).momentum(0.9); }}, and call nothing else while
 * holding it (a step takes the optimizer's lock, then the group's).
 */
public final class ParamGroup {
    private final List<Parameter> params;
    /** Whether an optimizer adopted this group. Options and adoption: guarded by this. */
    private boolean adopted;
    private double lr = Double.NaN;
    private double alpha = Double.NaN;
    private double eps = Double.NaN;
    private double weightDecay = Double.NaN;
    private double momentum = Double.NaN;
    private Boolean centered;
    private Boolean maximize;
    /**
     * Counts changes of the options, each made under this monitor: a step rewrites a group's
     * options only when it changed since the step before, without taking the monitor otherwise
     * (a change in progress is then not yet counted, and the step uses the options before it).
     */
    private volatile int version;

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

    public synchronized ParamGroup lr(double lr) {
        this.lr = check(lr, "Invalid learning rate: ");
        version++;
        return this;
    }

    public synchronized ParamGroup alpha(double alpha) {
        if (!(alpha >= 0.0 && alpha <= 1.0)) {
            throw new IllegalArgumentException("Invalid alpha value: " + alpha + " (must be in [0, 1])");
        }
        this.alpha = alpha;
        version++;
        return this;
    }

    public synchronized ParamGroup eps(double eps) {
        this.eps = check(eps, "Invalid epsilon value: ");
        version++;
        return this;
    }

    public synchronized ParamGroup weightDecay(double weightDecay) {
        this.weightDecay = check(weightDecay, "Invalid weight_decay value: ");
        version++;
        return this;
    }

    public synchronized ParamGroup momentum(double momentum) {
        this.momentum = check(momentum, "Invalid momentum value: ");
        version++;
        return this;
    }

    public synchronized ParamGroup centered(boolean centered) {
        this.centered = centered;
        version++;
        return this;
    }

    public synchronized ParamGroup maximize(boolean maximize) {
        this.maximize = maximize;
        version++;
        return this;
    }

    public synchronized double lr() {
        return lr;
    }

    public synchronized double alpha() {
        return alpha;
    }

    public synchronized double eps() {
        return eps;
    }

    public synchronized double weightDecay() {
        return weightDecay;
    }

    public synchronized double momentum() {
        return momentum;
    }

    public synchronized boolean centered() {
        return centered != null && centered;
    }

    public synchronized boolean maximize() {
        return maximize != null && maximize;
    }

    /**
     * Refuses a group that already belongs to an optimizer, with nothing changed. Called before
     * any other check, for the clearer message; {@link #adopt} decides atomically.
     */
    public synchronized void checkUnowned() {
        if (adopted) {
            throw new IllegalArgumentException("this ParamGroup already belongs to an optimizer: create a new one "
                    + "with ParamGroup.of(...) for another optimizer");
        }
    }

    /**
     * Makes this an optimizer's group: claims it and fills the options left unset from
     * {@code defaults}. Optimizers built on others ({@code netcl.dist.ShardedRMSProp}) call it too.
     */
    public synchronized void adopt(ParamGroup defaults) {
        checkUnowned();
        adopted = true;
        inherit(defaults);
        version++;
    }

    /**
     * A new, unclaimed group over the same parameters with this group's options, those left unset
     * taken from {@code defaults}; this group does not change. For an optimizer that must try a
     * group out before it claims it with {@link #adopt} ({@code netcl.dist.ShardedRMSProp} first
     * agrees with the other ranks).
     */
    public synchronized ParamGroup withDefaults(ParamGroup defaults) {
        ParamGroup copy = new ParamGroup(params);
        copy.copyOptions(this);
        copy.inherit(defaults);
        return copy;
    }

    /** Fills the options left unset from {@code defaults}. */
    private void inherit(ParamGroup defaults) {
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

    /**
     * Writes this group's options, one consistent snapshot, into the step's group {@code index},
     * unless they are there already: an unchanged group costs one volatile read, not its monitor.
     */
    void writeOptions(StepLayout layout, int index) {
        if (layout.optionsVersion(index) == version) {
            return;
        }
        synchronized (this) {
            layout.options(index, version, lr, alpha, eps, weightDecay, momentum, centered(), maximize());
        }
    }

    /** A snapshot of this group's options for a state dict. */
    synchronized StateDict.GroupState state(List<Integer> paramIndices) {
        return new StateDict.GroupState(lr, alpha, eps, weightDecay, momentum, centered(), maximize(), paramIndices);
    }

    /** Copies the hyperparameters (not the parameters) of {@code other}, a group no one else uses. */
    synchronized void copyOptions(ParamGroup other) {
        lr = other.lr;
        alpha = other.alpha;
        eps = other.eps;
        weightDecay = other.weightDecay;
        momentum = other.momentum;
        centered = other.centered;
        maximize = other.maximize;
        version++;
    }

    private static double check(double value, String message) {
        if (!(value >= 0.0) || Double.isInfinite(value)) {
            throw new IllegalArgumentException(message + value);
        }
        return value;
    }
}
