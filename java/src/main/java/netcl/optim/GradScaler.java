package netcl.optim;

import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Loss scaling for mixed-precision training, with the semantics of PyTorch 1.13's
 * {@code torch.cuda.amp.GradScaler}, fused into netcl's step.
 *
 * <pre>{@code
 * GradScaler scaler = GradScaler.builder().build();
 * double scaledLoss = scaler.scale(loss);   // backpropagate this: gradients come out scaled
 * scaler.unscale(opt);                      // optional: only to clip (or read) true gradients
 * opt.clipGradNorm(1.0);
 * scaler.step(opt);                         // skipped when a gradient was inf or NaN
 * scaler.update();
 * }</pre>
 *
 * <p>Unscaling is fused, never a pass of its own: {@link #unscale} checks every gradient for inf
 * and NaN (one pass) and from then on the optimizer reads each gradient element as
 * {@code (float) g * invScale} in float32, in {@link RMSProp#clipGradNorm} and in the step, exactly
 * the values PyTorch's in-place {@code unscale_} leaves in float32 (master) gradients; the
 * gradient memory itself is not rewritten, so BF16/FP16 gradients are never rounded on the way.
 * {@link #step} without {@link #unscale} does the check itself and steps with the unscaling (and
 * a pending clip coefficient) applied inside the update's pass: two passes over the gradients in
 * all. With {@link #unscale} and {@link RMSProp#clipGradNorm} before the step, two as well: the
 * check keeps the statistics clipping needs (see there for what makes clipGradNorm read the
 * gradients again). When any gradient is not finite, {@link #step} changes nothing (parameters, state, step
 * counts) and returns false; {@link #update} then backs the scale off. Arithmetic follows
 * PyTorch: the inverse scale is {@code (float) (1 / (double) scale)} and the scale itself is a
 * float32 value.
 *
 * <p>A scaler is used from one thread at a time, like PyTorch's.
 */
public final class GradScaler {
    private final boolean enabled;
    private double growthFactor;
    private double backoffFactor;
    private int growthInterval;
    private float scale;
    private int growthTracker;
    /** Per optimizer since the last update: whether unscale ran, and whether a gradient was not finite. */
    private final Map<RMSProp, Stage> stages = new IdentityHashMap<>();
    /**
     * Whether any optimizer's gradients held an inf or NaN since the last update: kept as the
     * stages are set, because iterating over them would allocate an iterator every update.
     */
    private boolean stepsFoundInf;

    private record Stage(boolean unscaled, boolean stepped, boolean foundInf) {
        /** Every stage there is, made once: a step's bookkeeping allocates nothing. */
        private static final Stage[] ALL = new Stage[8];

        static {
            for (int i = 0; i < ALL.length; i++) {
                ALL[i] = new Stage((i & 4) != 0, (i & 2) != 0, (i & 1) != 0);
            }
        }

        static Stage of(boolean unscaled, boolean stepped, boolean foundInf) {
            return ALL[(unscaled ? 4 : 0) | (stepped ? 2 : 0) | (foundInf ? 1 : 0)];
        }
    }

    private GradScaler(Builder b) {
        this.enabled = b.enabled;
        this.scale = (float) b.initScale;
        this.growthFactor = b.growthFactor;
        this.backoffFactor = b.backoffFactor;
        this.growthInterval = b.growthInterval;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** PyTorch's defaults: initScale 2^16, growthFactor 2, backoffFactor 0.5, growthInterval 2000. */
    public static final class Builder {
        private double initScale = 65536.0;
        private double growthFactor = 2.0;
        private double backoffFactor = 0.5;
        private int growthInterval = 2000;
        private boolean enabled = true;

        private Builder() {
        }

        /** The first scale: finite and &gt; 0 (and a finite float32). */
        public Builder initScale(double initScale) {
            if (!(initScale > 0) || Float.isInfinite((float) initScale) || (float) initScale == 0f) {
                throw new IllegalArgumentException("initScale must be a finite float32 > 0, got " + initScale);
            }
            this.initScale = initScale;
            return this;
        }

        /** The factor the scale grows by after growthInterval clean steps: finite and &gt; 1. */
        public Builder growthFactor(double growthFactor) {
            if (!(growthFactor > 1.0) || Double.isInfinite(growthFactor)) {
                throw new IllegalArgumentException("growthFactor must be finite and > 1, got " + growthFactor);
            }
            this.growthFactor = growthFactor;
            return this;
        }

        /** The factor the scale shrinks by after a step with inf/NaN gradients: in (0, 1). */
        public Builder backoffFactor(double backoffFactor) {
            if (!(backoffFactor > 0.0 && backoffFactor < 1.0)) {
                throw new IllegalArgumentException("backoffFactor must be in (0, 1), got " + backoffFactor);
            }
            this.backoffFactor = backoffFactor;
            return this;
        }

        /** Clean steps before the scale grows: &gt; 0. */
        public Builder growthInterval(int growthInterval) {
            if (growthInterval <= 0) {
                throw new IllegalArgumentException("growthInterval must be > 0, got " + growthInterval);
            }
            this.growthInterval = growthInterval;
            return this;
        }

        /** false makes every method a pass-through: scale 1, plain steps. */
        public Builder enabled(boolean enabled) {
            this.enabled = enabled;
            return this;
        }

        public GradScaler build() {
            return new GradScaler(this);
        }
    }

    /** {@code loss * scale}: the loss to backpropagate. */
    public double scale(double loss) {
        return enabled ? loss * scale : loss;
    }

    /** The current scale (1 when disabled). */
    public double getScale() {
        return enabled ? scale : 1.0;
    }

    public boolean isEnabled() {
        return enabled;
    }

    private float invScale() {
        return (float) (1.0 / (double) scale);
    }

    /**
     * Unscales the optimizer's gradients (as the optimizer reads them: see the class comment) and
     * finds infs and NaNs among them, so that they can be clipped. At most once per optimizer
     * between {@link #update}s, and before {@link #step}.
     */
    public void unscale(RMSProp optimizer) {
        if (optimizer == null) {
            throw new IllegalArgumentException("optimizer is null");
        }
        if (!enabled) {
            return;
        }
        Stage stage = stages.get(optimizer);
        if (stage != null && stage.unscaled) {
            throw new IllegalStateException("unscale() has already been called on this optimizer since the last update()");
        }
        if (stage != null && stage.stepped) {
            throw new IllegalStateException("unscale() is being called after step()");
        }
        boolean foundInf = optimizer.unscaleGradients(invScale(), true);
        stages.put(optimizer, Stage.of(true, false, foundInf));
        stepsFoundInf |= foundInf;
    }

    /**
     * Steps the optimizer unless a gradient is inf or NaN (then nothing changes and it returns
     * false). Unscales inside the fused step when {@link #unscale} was not called.
     */
    public boolean step(RMSProp optimizer) {
        if (optimizer == null) {
            throw new IllegalArgumentException("optimizer is null");
        }
        if (!enabled) {
            optimizer.step();
            return true;
        }
        Stage stage = stages.get(optimizer);
        if (stage != null && stage.stepped) {
            throw new IllegalStateException("step() has already been called since the last update()");
        }
        boolean unscaled = stage != null && stage.unscaled;
        boolean foundInf = unscaled ? stage.foundInf : optimizer.gradientsNonFinite();
        stages.put(optimizer, Stage.of(unscaled, true, foundInf));
        stepsFoundInf |= foundInf;
        if (foundInf) {
            optimizer.dropPendingScaling();
            return false;
        }
        if (!unscaled) {
            optimizer.unscaleGradients(invScale(), false);
        }
        optimizer.step();
        return true;
    }

    /**
     * Updates the scale from the steps since the last update: backs off when any optimizer met
     * an inf or NaN gradient, else grows after growthInterval clean steps in a row.
     */
    public void update() {
        if (!enabled) {
            return;
        }
        if (stages.isEmpty()) {
            throw new IllegalStateException("update() without a step(): no gradients were checked");
        }
        if (stepsFoundInf) {
            scale = (float) ((double) scale * backoffFactor);
            growthTracker = 0;
        } else if (++growthTracker == growthInterval) {
            float grown = (float) ((double) scale * growthFactor);
            if (Float.isFinite(grown)) {
                scale = grown;
            }
            growthTracker = 0;
        }
        stages.clear();
        stepsFoundInf = false;
    }

    /** PyTorch's state_dict keys: scale, growth_factor, backoff_factor, growth_interval, _growth_tracker. */
    public Map<String, Object> stateDict() {
        Map<String, Object> state = new LinkedHashMap<>();
        if (enabled) {
            state.put("scale", (double) scale);
            state.put("growth_factor", growthFactor);
            state.put("backoff_factor", backoffFactor);
            state.put("growth_interval", growthInterval);
            state.put("_growth_tracker", growthTracker);
        }
        return state;
    }

    /**
     * Restores a {@link #stateDict}: the scale and growth tracker, and, like PyTorch's
     * {@code load_state_dict}, the growth factor, backoff factor and growth interval where the
     * state has them (else the builder's stay). Everything is checked first (the builder's rules;
     * a growth tracker in 0 .. growth interval - 1); on an error nothing changes. A disabled
     * scaler ignores the call, as PyTorch's does.
     */
    public void loadStateDict(Map<String, ?> state) {
        if (state == null || !(state.get("scale") instanceof Number s) || !(state.get("_growth_tracker") instanceof Number t)) {
            throw new IllegalArgumentException("a GradScaler state needs numeric 'scale' and '_growth_tracker'");
        }
        Builder checked = builder().initScale(s.doubleValue()).growthFactor(number(state, "growth_factor", growthFactor))
                .backoffFactor(number(state, "backoff_factor", backoffFactor));
        Object interval = state.containsKey("growth_interval") ? state.get("growth_interval") : (Object) growthInterval;
        if (!(interval instanceof Integer i)) {
            throw new IllegalArgumentException("growth_interval must be an Integer, got " + interval);
        }
        checked.growthInterval(i);
        if (!(t instanceof Integer tracker) || tracker < 0 || tracker >= i) {
            throw new IllegalArgumentException("_growth_tracker must be an Integer in 0.." + (i - 1) + ", got " + t);
        }
        if (!enabled) {
            return;
        }
        scale = (float) checked.initScale;
        growthFactor = checked.growthFactor;
        backoffFactor = checked.backoffFactor;
        growthInterval = checked.growthInterval;
        growthTracker = tracker;
        stages.clear();
        stepsFoundInf = false;
    }

    private static double number(Map<String, ?> state, String key, double otherwise) {
        Object value = state.get(key);
        if (value == null) {
            return otherwise;
        }
        if (!(value instanceof Number n)) {
            throw new IllegalArgumentException(key + " must be a number, got " + value);
        }
        return n.doubleValue();
    }
}
