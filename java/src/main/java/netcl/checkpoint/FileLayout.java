package netcl.checkpoint;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import netcl.optim.GradScaler;

/**
 * A checkpoint file's content and its layout: the header (the caller's metadata, the loss
 * scaler's and the optimizer's entries) and every tensor in its place. Made from the caller's
 * arguments, which it checks before any file is touched; {@link #write} adds the optimizer's
 * state, lays the file out and streams it to a {@link FileAppender}. A single process's save and
 * a sharded one both write through it, so their files are the same byte for byte.
 */
final class FileLayout {
    private static final ValueLayout.OfLong LENGTH = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Appends the values of one of the optimizer's state tensors, {@code tensor.entry().bytes()} bytes. */
    @FunctionalInterface
    interface StateSource {
        void append(FileAppender out, OptimizerEntries.StateTensor tensor) throws IOException;
    }

    /** A tensor to write: its entry (offsets not yet laid out) and what appends its bytes. */
    private record Placed(Header.Entry entry, Content content) {
    }

    @FunctionalInterface
    private interface Content {
        void appendTo(FileAppender out) throws IOException;
    }

    /** The header's entries other than the optimizer's, in order. */
    private final Map<String, String> metadata;
    /** The caller's tensors. */
    private final List<Placed> tensors;

    private FileLayout(Map<String, String> metadata, List<Placed> tensors) {
        this.metadata = metadata;
        this.tensors = tensors;
    }

    /**
     * The content of a file with {@code scaler}'s state (unless it is {@code null}), the caller's
     * {@code tensors} and {@code metadata}, after checking their names and that every tensor's
     * memory is open.
     */
    static FileLayout of(GradScaler scaler, Map<String, Tensor> tensors, Map<String, String> metadata) {
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
        return new FileLayout(header, List.copyOf(placed));
    }

    /** Writes the whole file, without an optimizer's state. */
    void write(FileAppender out) throws IOException {
        write(out, metadata, tensors);
    }

    /**
     * Writes the whole file with the optimizer's state that {@code plan} lists, whose values
     * {@code state} appends tensor by tensor in the plan's order.
     */
    void write(FileAppender out, OptimizerEntries.Plan plan, StateSource state) throws IOException {
        Map<String, String> header = new LinkedHashMap<>(metadata);
        header.putAll(plan.metadata());
        List<Placed> all = new ArrayList<>();
        for (OptimizerEntries.StateTensor t : plan.tensors()) {
            all.add(new Placed(t.entry(), o -> state.append(o, t)));
        }
        all.addAll(tensors);
        write(out, header, all);
    }

    /** Lays out {@code tensors} and writes length, header and data. */
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
}
