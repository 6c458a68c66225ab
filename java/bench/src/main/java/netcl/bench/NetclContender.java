package netcl.bench;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

import netcl.optim.Parameter;
import netcl.optim.RMSProp;
import netcl.optim.StepPath;

/**
 * netcl's step from Java ({@link RMSProp#step()}) on one path, over its own tensors: slices of
 * zero-copy blocks ({@link Block}), the layout netcl serves best, or each tensor allocated on its
 * own. Each path gets its own memory and optimizer, so no contender steps memory another one
 * warmed.
 */
final class NetclContender implements Contender {
    private final Arena arena = Arena.ofShared();
    private final StepPath path;
    private final Block data;
    private final Block evenGrad;
    private final Block oddGrad;
    private final List<Parameter> params = new ArrayList<>();
    private final RMSProp optimizer;
    private boolean odd;

    NetclContender(long[] numels, Layout layout, Variant variant, StepPath path) {
        this.path = path;
        try {
            data = Block.allocate(arena, numels, 0.5f, layout);
            evenGrad = Block.allocate(arena, numels, Gradients.EVEN, layout);
            oddGrad = Block.allocate(arena, numels, Gradients.ODD, layout);
            for (int t = 0; t < numels.length; t++) {
                params.add(Parameter.wrap(data.slices[t], evenGrad.slices[t]));
            }
            optimizer = variant.builder().path(path).build(params);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** "netcl" for the automatic choice, else "netcl-kernel" or "netcl-host": netcl-bench's names. */
    static String impl(StepPath path) {
        return path == StepPath.AUTO ? "netcl" : "netcl-" + path.name().toLowerCase(java.util.Locale.ROOT);
    }

    @Override
    public String impl() {
        return impl(path);
    }

    /**
     * Each step takes the other block's gradients: a training loop that gets a fresh gradient
     * buffer per backward pass does the same. netcl's kernel path keeps both blocks wrapped (a
     * spare per span, see native/src/plan.c), so the alternation costs the parameters' grad calls,
     * no re-wrapping.
     */
    @Override
    public void step(int count) {
        for (int i = 0; i < count; i++) {
            optimizer.step();
            odd = !odd;
            (odd ? oddGrad : evenGrad).setAsGrads(params);
        }
    }

    /** The path the last step took: what {@link StepPath#AUTO} chose for this case. */
    StepPath lastPath() {
        return optimizer.lastPath();
    }

    @Override
    public void close() {
        boolean finite;
        try {
            finite = data.allFinite();
        } finally {
            optimizer.close();
            arena.close();
        }
        if (!finite) {
            throw Contender.diverged(impl());
        }
    }
}
