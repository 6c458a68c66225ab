package netcl.demo;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import netcl.checkpoint.Checkpoint;
import netcl.checkpoint.ElementType;
import netcl.checkpoint.Tensor;
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
 * uninterrupted one.
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
        Checkpoint.save(file, opt, scaler, tensors(model),
                Map.of(EPOCH, Integer.toString(epoch), SEED, Long.toString(seed)));
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
        String seed = metadata.get(SEED);
        String epoch = metadata.get(EPOCH);
        if (seed == null || epoch == null || !epoch.matches("[1-9][0-9]{0,8}")) {
            throw new MismatchException(file + " is not a checkpoint of this demo (no " + SEED + " and " + EPOCH + ")");
        }
        if (!seed.equals(Long.toString(options.seed()))) {
            throw new MismatchException(file + " was trained with --seed " + seed + "; pass the same seed to resume");
        }
        ParamGroup g = opt.paramGroups().getFirst();
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
