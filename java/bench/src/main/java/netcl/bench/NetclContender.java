package netcl.bench;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

import netcl.optim.Parameter;
import netcl.optim.RMSProp;
import netcl.optim.StepPath;

/**
 * netcl's step from Java ({@link RMSProp#step()}) on one path, over its own tensors: slices of
 * zero-copy blocks ({@link Block}), the layout netcl serves best. Each path gets its own memory
 * and optimizer, so no contender steps memory another one warmed.
 */
final class NetclContender implements Contender {
    private final Arena arena = Arena.ofShared();
    private final StepPath path;
    private final RMSProp optimizer;

    NetclContender(long[] numels, Variant variant, StepPath path) {
        this.path = path;
        try {
            Block data = Block.allocate(arena, numels, 0.5f);
            Block grad = Block.allocate(arena, numels, 1e-3f);
            List<Parameter> params = new ArrayList<>();
            for (int t = 0; t < numels.length; t++) {
                params.add(Parameter.wrap(data.slices[t], grad.slices[t]));
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

    @Override
    public void step(int count) {
        for (int i = 0; i < count; i++) {
            optimizer.step();
        }
    }

    /** The path the last step took: what {@link StepPath#AUTO} chose for this case. */
    StepPath lastPath() {
        return optimizer.lastPath();
    }

    @Override
    public void close() {
        optimizer.close();
        arena.close();
    }
}
