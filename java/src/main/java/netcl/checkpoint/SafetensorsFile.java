package netcl.checkpoint;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A safetensors file, validated and mapped into memory: its tensors are read-only slices of one
 * mapping ({@link FileChannel#map} into the caller's {@link Arena}), so opening a file of any size
 * copies nothing through the Java heap and nothing at all until a tensor is read; files and
 * tensors over 2 GiB work. The mapping lives as long as the arena.
 *
 * <pre>{@code
 * try (Arena arena = Arena.ofConfined()) {
 *     SafetensorsFile file = SafetensorsFile.open(Path.of("model.safetensors"), arena);
 *     MemorySegment w = file.tensors().get("fc1.weight").data();
 * }
 * }</pre>
 *
 * <p>Everything is checked before the file is mapped (see {@link Header}): a file that opens is
 * one the reference implementation accepts, without duplicate names.
 */
public final class SafetensorsFile {
    private static final int LENGTH_BYTES = Long.BYTES;

    private final Path path;
    private final Map<String, String> metadata;
    private final Map<String, Tensor> tensors;

    private SafetensorsFile(Path path, Map<String, String> metadata, Map<String, Tensor> tensors) {
        this.path = path;
        this.metadata = metadata;
        this.tensors = tensors;
    }

    /** Reads and validates {@code file}'s header, then maps the file into {@code arena}. */
    public static SafetensorsFile open(Path file, Arena arena) throws IOException {
        if (file == null || arena == null) {
            throw new IllegalArgumentException("file and arena must not be null");
        }
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < LENGTH_BYTES) {
                throw new CheckpointException(file, "the file has " + size
                        + " bytes, too few for the 8-byte header length");
            }
            long headerLength = read(channel, 0, LENGTH_BYTES).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (headerLength < 0 || headerLength > Json.MAX_HEADER_BYTES) {
                throw new CheckpointException(file, "the header length " + Long.toUnsignedString(headerLength)
                        + " is over the limit of " + Json.MAX_HEADER_BYTES + " bytes");
            }
            if (headerLength > size - LENGTH_BYTES) {
                throw new CheckpointException(file, "the header length " + headerLength
                        + " goes beyond the end of the file (" + size + " bytes)");
            }
            ByteBuffer headerBytes = read(channel, LENGTH_BYTES, (int) headerLength);
            long dataStart = LENGTH_BYTES + headerLength;
            Header header = Header.parse(file, headerBytes.array(), size - dataStart);
            MemorySegment mapping = channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (Header.Entry e : header.entries()) {
                tensors.put(e.name(), new Tensor(e.type(), e.shape(), mapping.asSlice(dataStart + e.begin(), e.bytes())));
            }
            return new SafetensorsFile(file, header.metadata(), Collections.unmodifiableMap(tensors));
        }
    }

    private static ByteBuffer read(FileChannel channel, long position, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        while (buffer.hasRemaining()) {
            if (channel.read(buffer, position + buffer.position()) < 0) {
                throw new IOException("unexpected end of file");
            }
        }
        return buffer.flip();
    }

    /** The file this was read from. */
    public Path path() {
        return path;
    }

    /** The header's {@code __metadata__} (empty when it has none). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Every tensor by name, in file order; each one's data is a read-only slice of the mapping. */
    public Map<String, Tensor> tensors() {
        return tensors;
    }
}
