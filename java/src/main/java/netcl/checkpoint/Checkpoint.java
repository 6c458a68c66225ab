package netcl.checkpoint;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import netcl.optim.GradScaler;
import netcl.optim.RMSProp;
import netcl.optim.SegmentStateDict;

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
 */
public final class Checkpoint {
    private static final ValueLayout.OfLong LENGTH = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

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
        if (file == null || tensors == null || metadata == null) {
            throw new IllegalArgumentException("file, tensors and metadata must not be null");
        }
        Map<String, String> header = new LinkedHashMap<>();
        header.put(OptimizerEntries.VERSION_KEY, Integer.toString(OptimizerEntries.VERSION));
        metadata.forEach((key, value) -> {
            if (key == null || value == null) {
                throw new IllegalArgumentException("metadata keys and values must not be null");
            }
            if (OptimizerEntries.isReserved(key)) {
                throw new IllegalArgumentException("metadata key '" + key + "' is reserved for the optimizer's state");
            }
            header.put(key, value);
        });
        List<Placed> placed = new ArrayList<>();
        tensors.forEach((name, tensor) -> {
            if (name == null || tensor == null) {
                throw new IllegalArgumentException("tensor names and tensors must not be null");
            }
            if (name.equals(Header.METADATA) || OptimizerEntries.isReserved(name)) {
                throw new IllegalArgumentException("tensor name '" + name + "' is reserved");
            }
            if (!tensor.data().scope().isAlive()) {
                throw new IllegalArgumentException("tensor '" + name + "': the segment's arena is closed");
            }
            placed.add(new Placed(new Header.Entry(name, tensor.type(), tensor.shape(), 0, tensor.data().byteSize()),
                    out -> out.append(tensor.data())));
        });
        if (scaler != null) {
            header.putAll(ScalerEntries.write(scaler));
        }
        AtomicFile.write(file, out -> {
            if (optimizer == null) {
                write(out, header, placed);
                return;
            }
            // Holding the optimizer's lock keeps its state as planned until it is copied: a step
            // from another thread waits (the fsync after this does not keep it waiting).
            synchronized (optimizer) {
                OptimizerEntries.Plan plan = OptimizerEntries.Plan.of(optimizer);
                header.putAll(plan.metadata());
                List<Placed> all = new ArrayList<>();
                for (OptimizerEntries.StateTensor t : plan.tensors()) {
                    all.add(new Placed(t.entry(), o -> o.append(t.entry().bytes(), Float.BYTES,
                            (chunk, at) -> optimizer.readState(t.index(), t.buffer(), at / Float.BYTES, chunk))));
                }
                all.addAll(placed);
                write(out, header, all);
            }
        });
    }

    /** A tensor to write: its entry (offsets not yet laid out) and what appends its bytes. */
    private record Placed(Header.Entry entry, Content content) {
    }

    @FunctionalInterface
    private interface Content {
        void appendTo(FileAppender out) throws IOException;
    }

    /** Lays out {@code tensors} and writes the whole file: length, header and data. */
    private static void write(FileAppender out, Map<String, String> metadata, List<Placed> tensors)
            throws IOException {
        List<Placed> sorted = new ArrayList<>(tensors);
        // Widest elements first: each tensor's bytes are a multiple of its element size, so every
        // offset stays aligned to the element size of the tensor that starts there. The sort is
        // stable: the optimizer's state stays in its plan's order.
        sorted.sort(Comparator.comparingInt((Placed p) -> -p.entry().type().bits()));
        List<Header.Entry> entries = new ArrayList<>();
        long offset = 0;
        for (Placed p : sorted) {
            long begin = offset;
            offset = Math.addExact(offset, p.entry().bytes());
            entries.add(new Header.Entry(p.entry().name(), p.entry().type(), p.entry().shape(), begin, offset));
        }
        byte[] headerBytes = Header.write(metadata, entries);
        if (headerBytes.length > Json.MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("the header would have " + headerBytes.length + " bytes, over the limit of "
                    + Json.MAX_HEADER_BYTES);
        }
        MemorySegment length = MemorySegment.ofArray(new byte[Long.BYTES]);
        length.set(LENGTH, 0, headerBytes.length);
        out.append(length);
        out.append(MemorySegment.ofArray(headerBytes));
        for (Placed p : sorted) {
            p.content().appendTo(out);
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
        Map<String, Target> targets = new LinkedHashMap<>();
        tensors.forEach((name, segment) -> targets.put(name, new Target(ElementType.F32, segment)));
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
        if (tensors == null) {
            throw new IllegalArgumentException("file and tensors must not be null");
        }
        Map<String, Target> targets = new LinkedHashMap<>();
        tensors.forEach((name, tensor) -> {
            if (tensor == null) {
                throw new IllegalArgumentException("tensor names and tensors must not be null");
            }
            targets.put(name, new Target(tensor.type(), tensor.data()));
        });
        return loadInto(file, optimizer, scaler, targets);
    }

    /** Memory to load a file's tensor of this element type into. */
    private record Target(ElementType type, MemorySegment segment) {
    }

    private static Map<String, String> loadInto(Path file, RMSProp optimizer, GradScaler scaler, Map<String, Target> tensors)
            throws IOException {
        if (file == null) {
            throw new IllegalArgumentException("file and tensors must not be null");
        }
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(file, arena);
            SegmentStateDict state = optimizer == null ? null : OptimizerEntries.read(f, optimizer);
            Map<String, Object> scalerState = scaler == null || !scaler.isEnabled() ? null
                    : ScalerEntries.read(f.path(), f.metadata());
            List<MemorySegment[]> copies = new ArrayList<>();
            for (Map.Entry<String, Target> e : tensors.entrySet()) {
                Target target = e.getValue();
                copies.add(new MemorySegment[] {checkedSource(f, e.getKey(), target), target.segment()});
            }
            if (state != null) {
                try {
                    optimizer.loadStateDict(state);
                } catch (IllegalArgumentException e) {
                    throw new CheckpointException(file, e.getMessage(), e);
                }
            }
            if (scalerState != null) {
                scaler.loadStateDict(scalerState);  // checked by ScalerEntries.read: cannot refuse
            }
            for (MemorySegment[] c : copies) {
                MemorySegment.copy(c[0], 0, c[1], 0, c[0].byteSize());
            }
            return Map.copyOf(f.metadata());
        }
    }

    /** The file's tensor for a segment to fill, after checking that it fits. */
    private static MemorySegment checkedSource(SafetensorsFile f, String name, Target into)
            throws CheckpointException {
        MemorySegment target = into.segment();
        if (name == null || target == null) {
            throw new IllegalArgumentException("tensor names and segments must not be null");
        }
        if (!target.scope().isAlive() || target.isReadOnly()) {
            throw new IllegalArgumentException("tensor '" + name + "': the segment is closed or read-only");
        }
        Tensor t = f.tensors().get(name);
        if (t == null) {
            throw new CheckpointException(f.path(), "missing required tensor '" + name + "'");
        }
        if (t.type() != into.type()) {
            throw new CheckpointException(f.path(), "tensor '" + name + "' is " + t.type() + ", not " + into.type());
        }
        if (t.data().byteSize() != target.byteSize()) {
            throw new CheckpointException(f.path(), "tensor '" + name + "' has " + t.numel()
                    + " elements, the segment to load it into has " + target.byteSize() * 8 / into.type().bits());
        }
        return t.data();
    }
}
