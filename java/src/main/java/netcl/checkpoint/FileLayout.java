package netcl.checkpoint;

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
 * A checkpoint file laid out before anything is written: the header (the caller's metadata, the
 * optimizer's and the loss scaler's entries) and the place of every tensor and optimizer state
 * buffer. Laying it out checks the caller's names and tensors; {@link #write} then fills a mapping
 * of {@link #size()} bytes, all but the optimizer's state, whose places it returns.
 */
final class FileLayout {
    private static final ValueLayout.OfLong LENGTH = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final byte[] header;
    private final long size;
    private final List<Placed> tensors;
    private final List<Placed> state;

    /** A tensor to write, its source (null for optimizer state) and, once laid out, its offset. */
    private static final class Placed {
        final Header.Entry entry;
        final MemorySegment source;
        long begin;

        Placed(Header.Entry entry, MemorySegment source) {
            this.entry = entry;
            this.source = source;
        }
    }

    private FileLayout(byte[] header, long size, List<Placed> tensors, List<Placed> state) {
        this.header = header;
        this.size = size;
        this.tensors = tensors;
        this.state = state;
    }

    /**
     * The layout of a file with the optimizer state {@code plan} (unless it is {@code null}),
     * {@code scaler}'s state (unless it is {@code null}), {@code tensors} and {@code metadata}.
     */
    static FileLayout of(OptimizerEntries.Plan plan, GradScaler scaler, Map<String, Tensor> tensors,
                         Map<String, String> metadata) {
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
                    tensor.data()));
        });
        List<Placed> state = new ArrayList<>();
        if (scaler != null) {
            header.putAll(ScalerEntries.write(scaler));
        }
        if (plan != null) {
            header.putAll(plan.metadata());
            for (Header.Entry e : plan.buffers()) {
                state.add(new Placed(e, null));
            }
        }
        List<Placed> all = new ArrayList<>(state);
        all.addAll(placed);
        // Widest elements first: each tensor's bytes are a multiple of its element size, so every
        // offset stays aligned to the element size of the tensor that starts there.
        all.sort(Comparator.comparingInt((Placed p) -> -p.entry.type().bits()));
        List<Header.Entry> entries = new ArrayList<>();
        long offset = 0;
        for (Placed p : all) {
            p.begin = offset;
            offset = Math.addExact(offset, p.entry.bytes());
            entries.add(new Header.Entry(p.entry.name(), p.entry.type(), p.entry.shape(), p.begin, offset));
        }
        byte[] headerBytes = Header.write(header, entries);
        if (headerBytes.length > Json.MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("the header would have " + headerBytes.length
                    + " bytes, over the limit of " + Json.MAX_HEADER_BYTES);
        }
        return new FileLayout(headerBytes, Long.BYTES + headerBytes.length + offset, placed, state);
    }

    /** Bytes of the whole file. */
    long size() {
        return size;
    }

    /**
     * Writes the header and the caller's tensors into {@code mapping} (the file, {@link #size()}
     * bytes); returns the places of the optimizer's state buffers in it, in plan order.
     */
    List<MemorySegment> write(MemorySegment mapping) {
        long dataStart = Long.BYTES + header.length;
        mapping.set(LENGTH, 0, header.length);
        MemorySegment.copy(MemorySegment.ofArray(header), 0, mapping, Long.BYTES, header.length);
        for (Placed p : tensors) {
            MemorySegment.copy(p.source, 0, mapping, dataStart + p.begin, p.entry.bytes());
        }
        List<MemorySegment> slices = new ArrayList<>();
        for (Placed p : state) {
            slices.add(mapping.asSlice(dataStart + p.begin, p.entry.bytes()));
        }
        return slices;
    }
}
