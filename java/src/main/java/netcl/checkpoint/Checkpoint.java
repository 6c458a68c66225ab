package netcl.checkpoint;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import netcl.optim.GradScaler;
import netcl.optim.RMSProp;

/**
 * Checkpoints on disk, like {@code torch.save(optimizer.state_dict())} and
 * {@code optimizer.load_state_dict(torch.load(f))}: an optimizer's state, and optionally the
 * model's own tensors by name, in one safetensors file that PyTorch can read through
 * {@code python/netcl_checkpoint.py}.
 *
 * <pre>{@code
 * Checkpoint.save(Path.of("run.safetensors"), opt, Map.of("fc1.weight", w1, "fc1.bias", b1));
 * // ... later, in a new process, with the same model and optimizer built again:
 * Checkpoint.load(Path.of("run.safetensors"), opt, Map.of("fc1.weight", w1, "fc1.bias", b1));
 * // mixed precision: the float32 masters travel with the optimizer's state, the loss scaler's
 * // state as scaler.* metadata, and the bf16 parameters as BF16 tensors
 * Checkpoint.save(file, opt, scaler, Map.of("fc1.weight", new Tensor(ElementType.BF16, shape, w1)));
 * Checkpoint.load(file, opt, scaler, Map.of("fc1.weight", new Tensor(ElementType.BF16, shape, w1)));
 * }</pre>
 *
 * <p>Saving is atomic: the file is either the complete old or the complete new checkpoint,
 * whenever the process dies. State goes from the device to the file through a 1 MiB native
 * buffer ({@link RMSProp#readState}; steps from other threads wait for it), and comes back from
 * the file's mapping, never through {@code float[]} nor a second copy of the whole state.
 * Loading checks the whole file, and that it fits the optimizer and the tensors, before it
 * changes anything; a problem is a {@link CheckpointException} naming the file. The file
 * layout: {@code docs/checkpoints.md}.
 *
 * <p>{@link ShardedCheckpoint} saves and loads a {@code netcl.dist.ShardedRMSProp} in the same
 * file format.
 */
public final class Checkpoint {
    private Checkpoint() {
    }

    /** Saves {@code optimizer}'s state and hyperparameters to {@code file}. */
    public static void save(Path file, RMSProp optimizer) throws IOException {
        save(file, optimizer, Map.of(), Map.of());
    }

    /** Saves {@code optimizer}'s state and the float32 {@code tensors} (one-dimensional) to {@code file}. */
    public static void save(Path file, RMSProp optimizer, Map<String, MemorySegment> tensors) throws IOException {
        if (tensors == null) {
            throw new IllegalArgumentException("tensors is null");
        }
        Map<String, Tensor> typed = new LinkedHashMap<>();
        tensors.forEach((name, data) -> typed.put(name, Tensor.f32(data)));
        save(file, optimizer, typed, Map.of());
    }

    /**
     * Saves {@code optimizer}'s state (unless it is {@code null}), {@code tensors} of any type
     * and shape, and the string pairs {@code metadata} to {@code file}, replacing it atomically.
     * Names starting with {@code state.} or {@code scaler.} and the keys {@code format_version}
     * and {@code param_groups} are the optimizer's.
     */
    public static void save(Path file, RMSProp optimizer, Map<String, Tensor> tensors, Map<String, String> metadata)
            throws IOException {
        save(file, optimizer, null, tensors, metadata);
    }

    /** Saves {@code optimizer}'s state, {@code scaler}'s state and {@code tensors} of any type and shape. */
    public static void save(Path file, RMSProp optimizer, GradScaler scaler, Map<String, Tensor> tensors)
            throws IOException {
        save(file, optimizer, scaler, tensors, Map.of());
    }

    /**
     * {@link #save(Path, RMSProp, Map, Map)} plus the state of {@code scaler} (unless it is
     * {@code null}) as {@code scaler.*} entries of {@code __metadata__}; a disabled scaler has none.
     */
    public static void save(Path file, RMSProp optimizer, GradScaler scaler, Map<String, Tensor> tensors,
                            Map<String, String> metadata) throws IOException {
        checkSaveArguments(file, tensors, metadata);
        FileLayout layout = FileLayout.of(scaler, tensors, metadata);
        AtomicFile.write(file, out -> {
            if (optimizer == null) {
                layout.write(out);
                return;
            }
            // Holding the optimizer's lock keeps its state as planned until it is copied: a step
            // from another thread waits (the fsync after this does not keep it waiting).
            synchronized (optimizer) {
                OptimizerEntries.Plan plan = OptimizerEntries.Plan.of(optimizer.stateInfo(), optimizer.paramGroups());
                layout.write(out, plan, (o, t) -> o.append(t.entry().bytes(), Float.BYTES,
                        (chunk, at) -> optimizer.readState(t.index(), t.buffer(), at / Float.BYTES, chunk)));
            }
        });
    }

    /** The arguments every save needs; shared with {@link ShardedCheckpoint}. */
    static void checkSaveArguments(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        if (file == null || tensors == null || metadata == null) {
            throw new IllegalArgumentException("file, tensors and metadata must not be null");
        }
    }

    /**
     * Loads {@code file}'s optimizer state and hyperparameters into {@code optimizer}, which must
     * have the same groups of parameters of the same sizes; returns the file's metadata.
     */
    public static Map<String, String> load(Path file, RMSProp optimizer) throws IOException {
        if (optimizer == null) {
            throw new IllegalArgumentException("optimizer is null");
        }
        return load(file, optimizer, Map.of());
    }

    /**
     * Loads {@code file} into {@code optimizer} (unless it is {@code null}) and copies each of
     * the file's float32 tensors named in {@code tensors} into the segment given for it (the same
     * number of elements; the file's shape may differ). Everything is checked first: on any
     * problem nothing changes. Returns the file's metadata.
     */
    public static Map<String, String> load(Path file, RMSProp optimizer, Map<String, MemorySegment> tensors)
            throws IOException {
        if (tensors == null) {
            throw new IllegalArgumentException("file and tensors must not be null");
        }
        Map<String, CheckedLoad.Target> targets = new LinkedHashMap<>();
        tensors.forEach((name, segment) -> targets.put(name, new CheckedLoad.Target(ElementType.F32, segment)));
        return loadInto(file, optimizer, null, targets);
    }

    /**
     * Loads {@code file} into {@code optimizer} and {@code scaler} (either may be {@code null})
     * and copies each of the file's tensors named in {@code tensors} into the given tensor's
     * memory: the file's tensor must have the same element type and number of elements (its shape
     * may differ). An enabled scaler takes the file's {@code scaler.*} entries, which must all be
     * there; a disabled one ignores them, as PyTorch's does. Everything is checked first: on any
     * problem nothing changes. Returns the file's metadata.
     */
    public static Map<String, String> load(Path file, RMSProp optimizer, GradScaler scaler, Map<String, Tensor> tensors)
            throws IOException {
        return loadInto(file, optimizer, scaler, targets(tensors));
    }

    /** Where each named tensor of a file goes. */
    static Map<String, CheckedLoad.Target> targets(Map<String, Tensor> tensors) {
        if (tensors == null) {
            throw new IllegalArgumentException("file and tensors must not be null");
        }
        Map<String, CheckedLoad.Target> targets = new LinkedHashMap<>();
        tensors.forEach((name, tensor) -> {
            if (tensor == null) {
                throw new IllegalArgumentException("tensor names and tensors must not be null");
            }
            targets.put(name, new CheckedLoad.Target(tensor.type(), tensor.data()));
        });
        return targets;
    }

    private static Map<String, String> loadInto(Path file, RMSProp optimizer, GradScaler scaler,
                                                Map<String, CheckedLoad.Target> tensors) throws IOException {
        if (file == null) {
            throw new IllegalArgumentException("file and tensors must not be null");
        }
        try (Arena arena = Arena.ofConfined()) {
            CheckedLoad load = CheckedLoad.of(SafetensorsFile.open(file, arena),
                    optimizer == null ? null : optimizer.paramGroups(), scaler, tensors);
            if (load.state() != null) {
                try {
                    optimizer.loadStateDict(load.state());
                } catch (IllegalArgumentException e) {
                    throw new CheckpointException(file, e.getMessage(), e);
                }
            }
            if (load.scalerState() != null) {
                scaler.loadStateDict(load.scalerState());  // checked by ScalerEntries.read: cannot refuse
            }
            load.copyTensors();
            return Map.copyOf(load.file().metadata());
        }
    }
}
