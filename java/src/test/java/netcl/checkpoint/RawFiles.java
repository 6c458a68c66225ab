package netcl.checkpoint;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.UnaryOperator;

/** Hand-made safetensors files for the loader's tests: raw bytes, or a valid file with an edited header. */
final class RawFiles {
    private RawFiles() {
    }

    /** The 8-byte little-endian length of {@code header}, the header, then {@code data}. */
    static byte[] bytes(byte[] header, byte[] data) {
        return ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(header.length).put(header).put(data).array();
    }

    static byte[] bytes(String header, byte[] data) {
        return bytes(header.getBytes(StandardCharsets.UTF_8), data);
    }

    /** A length field of {@code length} followed by {@code rest}, whatever the length says. */
    static byte[] withLength(long length, byte[] rest) {
        return ByteBuffer.allocate(8 + rest.length).order(ByteOrder.LITTLE_ENDIAN).putLong(length).put(rest).array();
    }

    static String header(byte[] file) {
        long n = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return new String(file, 8, (int) n, StandardCharsets.UTF_8);
    }

    static byte[] data(byte[] file) {
        long n = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return Arrays.copyOfRange(file, (int) (8 + n), file.length);
    }

    /**
     * {@code file} with its header replaced by {@code edit(header)}, padded with spaces to a
     * multiple of 8 bytes like a writer pads it (so the data stays aligned), and its data kept.
     */
    static byte[] editHeader(byte[] file, UnaryOperator<String> edit) {
        StringBuilder edited = new StringBuilder(edit.apply(header(file)).stripTrailing());
        while (edited.toString().getBytes(StandardCharsets.UTF_8).length % 8 != 0) {
            edited.append(' ');
        }
        return bytes(edited.toString(), data(file));
    }

    static Path write(Path file, byte[] content) throws IOException {
        return Files.write(file, content);
    }
}
