package netcl.demo;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import netcl.checkpoint.Checkpoint;
import netcl.checkpoint.ElementType;
import netcl.checkpoint.ShardedCheckpoint;
import netcl.checkpoint.Tensor;
import netcl.dist.ShardedRMSProp;
import netcl.optim.DType;
import netcl.optim.GradScaler;
import netcl.optim.ParamGroup;
import netcl.optim.RMSProp;

/**
 * The demo's training state on disk ({@code --save} / {@code --resume}): the MLP's tensors under
 * PyTorch's names and shapes ({@code fc1.weight} [128, 64], {@code fc1.bias}, {@code fc2.weight},
 * {@code fc2.bias}; BF16 with {@code --amp}), the optimizer's state (with the float32 masters under
 * {@code --amp}), the loss scaler's state under {@code --amp}, and the finished epoch and seed,
 * which fix where the batch order goes on. A resumed run continues bit for bit like an
 * uninterrupted one. The data-parallel demo ({@code --ranks}) writes and reads the same file
 * through {@link ShardedCheckpoint}, so either demo resumes the other's checkpoints.
 */
final class DemoCheckpoint {
    static final String EPOCH = "demo.epoch";
    static final String SEED = "demo.seed";
    private static final String[] NAMES = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
    private static final long[][] SHAPES = {{Mlp.HIDDEN, Mlp.INPUTS}, {Mlp.HIDDEN}, {Mlp.OUTPUTS, Mlp.HIDDEN},
            {Mlp.OUTPUTS}};

    private DemoCheckpoint() {
    }

    /** Saves the state after {@code epoch} (counted from 1), replacing {@code file} atomically. */
    static void save(Path file, RMSProp opt, GradScaler scaler, Mlp model, int epoch, long seed) throws IOException {
        Checkpoint.save(file, opt, scaler, tensors(model), metadata(epoch, seed));
    }

    /** The data-parallel demo's {@link #save} (collective: every rank calls it; rank 0 writes). */
    static void save(Path file, ShardedRMSProp opt, Mlp model, int epoch, long seed) throws IOException {
        ShardedCheckpoint.save(file, opt, tensors(model), metadata(epoch, seed));
    }

    /** In a fixed order (Map.of's varies between runs), so that equal states give equal files. */
    private static Map<String, String> metadata(int epoch, long seed) {
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put(EPOCH, Integer.toString(epoch));
        metadata.put(SEED, Long.toString(seed));
        return metadata;
    }

    /** The model's parameters under their PyTorch names and shapes, of the model's type. */
    private static Map<String, Tensor> tensors(Mlp model) {
        ElementType type = model.dtype() == DType.BF16 ? ElementType.BF16 : ElementType.F32;
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (int i = 0; i < NAMES.length; i++) {
            tensors.put(NAMES[i], new Tensor(type, SHAPES[i], model.parameters().get(i).data()));
        }
        return tensors;
    }

    /** Thrown when a checkpoint does not fit the options given; the message is one line for the user. */
    static final class MismatchException extends IOException {
        private static final long serialVersionUID = 1L;

        MismatchException(String message) {
            super(message);
        }
    }

    /**
     * Loads {@code file} into the model, optimizer and (with {@code --amp}) loss scaler; returns
     * the epoch it was saved after.
     * Refuses a checkpoint made with another seed or other hyperparameters, or one that has
     * already trained all {@code options.epochs()}.
     */
    static int resume(Path file, RMSProp opt, GradScaler scaler, Mlp model, DemoOptions options) throws IOException {
        Map<String, String> metadata = Checkpoint.load(file, opt, scaler, tensors(model));
        return epochDone(file, metadata, opt.paramGroups().getFirst(), options);
    }

    /** The data-parallel demo's {@link #resume} (collective: every rank loads its shard). */
    static int resume(Path file, ShardedRMSProp opt, Mlp model, DemoOptions options) throws IOException {
        Map<String, String> metadata = ShardedCheckpoint.load(file, opt, tensors(model));
        return epochDone(file, metadata, opt.paramGroups().getFirst(), options);
    }

    /** The epoch a loaded checkpoint was saved after, once its metadata and options {@code g} fit {@code options}. */
    private static int epochDone(Path file, Map<String, String> metadata, ParamGroup g, DemoOptions options)
            throws MismatchException {
        String seed = metadata.get(SEED);
        String epoch = metadata.get(EPOCH);
        if (seed == null || epoch == null || !epoch.matches("[1-9][0-9]{0,8}")) {
            throw new MismatchException(file + " is not a checkpoint of this demo (no " + SEED + " and " + EPOCH + ")");
        }
        if (!seed.equals(Long.toString(options.seed()))) {
            throw new MismatchException(file + " was trained with --seed " + seed + "; pass the same seed to resume");
        }
        if (g.lr() != options.lr() || g.alpha() != options.alpha() || g.momentum() != options.momentum()
                || g.centered() != options.centered()) {
            throw new MismatchException(file + " was trained with --lr " + g.lr() + " --alpha " + g.alpha()
                    + " --momentum " + g.momentum() + " --centered=" + g.centered() + "; pass the same options to resume");
        }
        int done = Integer.parseInt(epoch);
        if (done >= options.epochs()) {
            throw new MismatchException(file + " has trained " + done + " epochs already; ask for more with --epochs");
        }
        return done;
    }
}
