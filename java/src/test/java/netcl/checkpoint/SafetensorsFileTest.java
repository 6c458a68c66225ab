package netcl.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Files the reference implementation (huggingface/safetensors) accepts are read the same way:
 * its own test files, every element type, zero-sized tensors, whitespace around the header; and
 * files and tensors over 2 GiB, written and read through mappings.
 */
class SafetensorsFileTest {
    @TempDir
    Path dir;

    private SafetensorsFile open(byte[] content, Arena arena) throws IOException {
        return SafetensorsFile.open(RawFiles.write(dir.resolve("t.safetensors"), content), arena);
    }

    /** The reference's test_deserialization: {@code <} (60) bytes of header, an I32 [2, 2] of zeros. */
    @Test
    void readsTheReferenceTestFile() throws IOException {
        byte[] file = ("<\0\0\0\0\0\0\0{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}"
                + "\0".repeat(16)).getBytes(StandardCharsets.ISO_8859_1);
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = open(file, arena).tensors().get("test");
            assertEquals(ElementType.I32, t.type());
            assertArrayEquals(new long[] {2, 2}, t.shape());
            assertArrayEquals(new byte[16], t.data().toArray(ValueLayout.JAVA_BYTE));
        }
    }

    /** The reference's test_zero_sized_tensor: shape [2, 0], offsets [0, 0]. */
    @Test
    void readsZeroSizedTensors() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = open(RawFiles.bytes("{\"test\":{\"dtype\":\"I32\",\"shape\":[2,0],\"data_offsets\":[0, 0]}}",
                    new byte[0]), arena).tensors().get("test");
            assertArrayEquals(new long[] {2, 0}, t.shape());
            assertEquals(0, t.data().byteSize());
        }
    }

    /** test_whitespace_padded_header and test_whitespace_leading_padded_header. */
    @Test
    void acceptsJsonWhitespaceAroundTheHeader() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            assertTrue(open(RawFiles.bytes("{}\r \t\n", new byte[0]), arena).tensors().isEmpty());
            assertTrue(open(RawFiles.bytes("\t\n{}\r ", new byte[0]), arena).tensors().isEmpty());
        }
    }

    @Test
    void readsEveryElementTypeAndScalars() throws IOException {
        StringBuilder header = new StringBuilder("{\"__metadata__\":{\"test\":\"a\"}");
        long offset = 0;
        for (ElementType type : ElementType.values()) {
            long bytes = 8 * type.bits() / 8;   // 8 elements fill whole bytes for every type
            header.append(",\"").append(type).append("\":{\"dtype\":\"").append(type).append("\",\"shape\":[2,4],")
                    .append("\"data_offsets\":[").append(offset).append(',').append(offset + bytes).append("]}");
            offset += bytes;
        }
        header.append(",\"scalar\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[").append(offset).append(',')
                .append(offset + 1).append("],\"ignored\":{\"x\":[1]}}}");
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = open(RawFiles.bytes(header.toString(), new byte[(int) offset + 1]), arena);
            assertEquals(Map.of("test", "a"), f.metadata());
            for (ElementType type : ElementType.values()) {
                assertEquals(type, f.tensors().get(type.name()).type());
            }
            assertEquals(1, f.tensors().get("scalar").numel());
            assertArrayEquals(new long[0], f.tensors().get("scalar").shape());
        }
    }

    /** Tensors in any order in the header; the file order is the offsets'. */
    @Test
    void ordersTensorsByOffset() throws IOException {
        String header = "{\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]},"
                + "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = open(RawFiles.bytes(header, new byte[] {7, 9}), arena);
            assertEquals(List.of("a", "b"), List.copyOf(f.tensors().keySet()));
            assertEquals(9, f.tensors().get("b").data().get(ValueLayout.JAVA_BYTE, 0));
        }
    }

    /**
     * A 2 GiB + 64 byte tensor is saved from a mapped (sparse) source and read back through the
     * mapping; the markers at both ends survive, and the file is over 2 GiB.
     */
    @Test
    void filesAndTensorsOver2GiB() throws IOException {
        long numel = (1L << 29) + 16;   // 2^31 + 64 bytes of float32
        Path source = dir.resolve("source.bin");
        Path file = dir.resolve("big.safetensors");
        try (RandomAccessFile raf = new RandomAccessFile(source.toFile(), "rw")) {
            raf.setLength(numel * Float.BYTES);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment big;
            try (FileChannel channel = FileChannel.open(source, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                big = channel.map(FileChannel.MapMode.READ_WRITE, 0, numel * Float.BYTES, arena);
            }
            big.setAtIndex(ValueLayout.JAVA_FLOAT, 0, 1.5f);
            big.setAtIndex(ValueLayout.JAVA_FLOAT, numel - 1, -2.5f);
            MemorySegment small = arena.allocate(ValueLayout.JAVA_DOUBLE, 2);
            small.setAtIndex(ValueLayout.JAVA_DOUBLE, 1, Math.PI);
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            tensors.put("big", Tensor.f32(big));
            tensors.put("small", new Tensor(ElementType.F64, new long[] {2}, small));
            Checkpoint.save(file, null, tensors, Map.of());
        }
        Files.delete(source);
        try (Arena arena = Arena.ofConfined()) {
            assertTrue(Files.size(file) > (1L << 31));
            SafetensorsFile f = SafetensorsFile.open(file, arena);
            MemorySegment big = f.tensors().get("big").data();
            assertEquals(numel * Float.BYTES, big.byteSize());
            assertEquals(1.5f, big.getAtIndex(ValueLayout.JAVA_FLOAT, 0));
            assertEquals(-2.5f, big.getAtIndex(ValueLayout.JAVA_FLOAT, numel - 1));
            assertEquals(Math.PI, f.tensors().get("small").data().getAtIndex(ValueLayout.JAVA_DOUBLE, 1));
        } finally {
            Files.delete(file);
        }
    }

    /** The length field is read as little-endian: a big-endian writer's file is refused. */
    @Test
    void lengthIsLittleEndian() throws IOException {
        byte[] good = RawFiles.bytes("{}      ", new byte[0]);
        byte[] swapped = good.clone();
        ByteBuffer.wrap(swapped).order(ByteOrder.BIG_ENDIAN).putLong(8);
        try (Arena arena = Arena.ofConfined()) {
            assertTrue(open(good, arena).tensors().isEmpty());
            CheckpointException e = org.junit.jupiter.api.Assertions.assertThrows(CheckpointException.class,
                    () -> open(swapped, arena));
            assertTrue(e.problem().contains("over the limit"), e.getMessage());
        }
    }
}
