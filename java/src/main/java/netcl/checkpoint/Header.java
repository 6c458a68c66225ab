package netcl.checkpoint;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;

/**
 * The JSON header of a safetensors file: the {@code __metadata__} map and, for each tensor, its
 * name, element type, shape and byte range in the data section (entries sorted by offset).
 * {@link #parse} applies the reference implementation's rules (huggingface/safetensors,
 * {@code Metadata::validate} and {@code read_metadata}) and refuses more: duplicate names
 * (the reference keeps the last one silently) and text other than JSON whitespace before the
 * opening brace.
 */
record Header(Map<String, String> metadata, List<Entry> entries) {
    static final String METADATA = "__metadata__";

    /** One tensor's entry; {@code begin} and {@code end} are offsets into the data section. */
    record Entry(String name, ElementType type, long[] shape, long begin, long end) {
        long bytes() {
            return end - begin;
        }
    }

    /**
     * Parses and validates {@code header}, the bytes after the 8-byte length, of a file whose
     * data section holds {@code dataBytes} bytes.
     */
    static Header parse(Path file, byte[] header, long dataBytes) throws CheckpointException {
        String text = utf8(file, header);
        int first = 0;
        while (first < text.length() && isJsonWhitespace(text.charAt(first))) {
            first++;
        }
        if (first == text.length() || text.charAt(first) != '{') {
            throw new CheckpointException(file, "the header does not start with '{'");
        }
        Map<String, String> metadata = null;
        List<Entry> entries = new ArrayList<>();
        try (JsonParser p = Json.FACTORY.createParser(text)) {
            p.nextToken();
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                p.nextToken();
                if (METADATA.equals(name)) {
                    metadata = readMetadata(file, p);
                } else {
                    entries.add(readEntry(file, p, name));
                }
            }
            if (p.nextToken() != null) {
                throw new CheckpointException(file, "the header has more after its JSON object");
            }
        } catch (CheckpointException e) {
            throw e;
        } catch (JsonParseException e) {
            String message = e.getOriginalMessage();
            throw new CheckpointException(file, message.startsWith("Duplicate") ? "duplicate name in the header: "
                    + message : "the header is not valid JSON: " + message + " at " + location(e), e);
        } catch (JsonProcessingException e) {
            throw new CheckpointException(file, "the header is not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new CheckpointException(file, "the header cannot be parsed: " + e.getMessage(), e);
        }
        checkOffsets(file, entries, dataBytes);
        return new Header(metadata == null ? Map.of() : Collections.unmodifiableMap(metadata),
                List.copyOf(entries));
    }

    private static String location(JsonProcessingException e) {
        return e.getLocation() == null ? "?" : "line " + e.getLocation().getLineNr() + ", column "
                + e.getLocation().getColumnNr();
    }

    private static String utf8(Path file, byte[] bytes) throws CheckpointException {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        try {
            CharBuffer chars = decoder.decode(in);
            return chars.toString();
        } catch (CharacterCodingException e) {
            throw new CheckpointException(file, "the header is not valid UTF-8 (near byte " + in.position() + ")", e);
        }
    }

    private static boolean isJsonWhitespace(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
    }

    private static Map<String, String> readMetadata(Path file, JsonParser p) throws IOException {
        if (p.currentToken() == JsonToken.VALUE_NULL) {
            return null;
        }
        if (p.currentToken() != JsonToken.START_OBJECT) {
            throw new CheckpointException(file, METADATA + " is not a JSON object");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String key = p.currentName();
            if (p.nextToken() != JsonToken.VALUE_STRING) {
                throw new CheckpointException(file, METADATA + " entry '" + key + "' is not a string");
            }
            metadata.put(key, p.getText());
        }
        return metadata;
    }

    private static Entry readEntry(Path file, JsonParser p, String name) throws IOException {
        if (p.currentToken() != JsonToken.START_OBJECT) {
            throw new CheckpointException(file, "tensor '" + name + "' is not a JSON object");
        }
        ElementType type = null;
        long[] shape = null;
        long[] offsets = null;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken value = p.nextToken();
            switch (field) {
                case "dtype" -> {
                    if (value != JsonToken.VALUE_STRING) {
                        throw new CheckpointException(file, "tensor '" + name + "': dtype is not a string");
                    }
                    type = ElementType.named(p.getText());
                    if (type == null) {
                        throw new CheckpointException(file, "tensor '" + name + "': unknown dtype '" + p.getText() + "'");
                    }
                }
                case "shape" -> shape = readUnsignedArray(file, p, name, "shape");
                case "data_offsets" -> {
                    offsets = readUnsignedArray(file, p, name, "data_offsets");
                    if (offsets.length != 2) {
                        throw new CheckpointException(file, "tensor '" + name + "': data_offsets has "
                                + offsets.length + " values, not 2");
                    }
                }
                // Like the reference, fields it does not know are skipped.
                default -> p.skipChildren();
            }
        }
        String missing = type == null ? "dtype" : shape == null ? "shape" : offsets == null ? "data_offsets" : null;
        if (missing != null) {
            throw new CheckpointException(file, "tensor '" + name + "' has no " + missing);
        }
        return new Entry(name, type, shape, offsets[0], offsets[1]);
    }

    private static long[] readUnsignedArray(Path file, JsonParser p, String name, String field) throws IOException {
        if (p.currentToken() != JsonToken.START_ARRAY) {
            throw new CheckpointException(file, "tensor '" + name + "': " + field + " is not an array");
        }
        long[] values = new long[4];
        int n = 0;
        for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) {
            if (t != JsonToken.VALUE_NUMBER_INT) {
                throw new CheckpointException(file, "tensor '" + name + "': " + field + " holds " + p.getText()
                        + ", not a non-negative integer");
            }
            if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER || p.getLongValue() < 0) {
                throw new CheckpointException(file, "tensor '" + name + "': " + field + " value " + p.getText()
                        + " is out of range (0 to 2^63 - 1)");
            }
            if (n == values.length) {
                values = Arrays.copyOf(values, 2 * n);
            }
            values[n++] = p.getLongValue();
        }
        return Arrays.copyOf(values, n);
    }

    /**
     * The reference's rule: sorted by offset, the tensors tile the data section from its first
     * byte to its last, each exactly as long as its shape and type require.
     */
    private static void checkOffsets(Path file, List<Entry> entries, long dataBytes) throws CheckpointException {
        entries.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long expected = 0;
        for (Entry e : entries) {
            if (e.end() < e.begin()) {
                throw new CheckpointException(file, "tensor '" + e.name() + "': data_offsets [" + e.begin() + ", "
                        + e.end() + "] end before they begin");
            }
            if (e.begin() > expected) {
                throw new CheckpointException(file, "tensor '" + e.name() + "' begins at " + e.begin()
                        + ", leaving a hole of " + (e.begin() - expected) + " bytes before it");
            }
            if (e.begin() < expected) {
                throw new CheckpointException(file, "tensor '" + e.name() + "' begins at " + e.begin()
                        + ", inside the tensor before it (which ends at " + expected + ")");
            }
            long bytes = Tensor.byteSize(e.type(), e.shape());
            if (bytes < 0) {
                throw new CheckpointException(file, "tensor '" + e.name() + "': shape "
                        + Arrays.toString(e.shape()) + " of " + e.type() + " overflows or does not fill whole bytes");
            }
            if (bytes != e.bytes()) {
                throw new CheckpointException(file, "tensor '" + e.name() + "': shape " + Arrays.toString(e.shape())
                        + " of " + e.type() + " needs " + bytes + " bytes, data_offsets give " + e.bytes());
            }
            expected = e.end();
        }
        if (expected != dataBytes) {
            throw new CheckpointException(file, "the tensors cover " + expected + " bytes, but the data section "
                    + "after the header holds " + dataBytes + (expected < dataBytes ? " (trailing bytes)" : " (truncated)"));
        }
    }

    /**
     * The header's bytes for {@code metadata} and {@code entries} (written in that order), padded
     * with spaces to a multiple of 8 so that the data section stays 8-byte aligned.
     */
    static byte[] write(Map<String, String> metadata, List<Entry> entries) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JsonGenerator g = Json.FACTORY.createGenerator(out)) {
            g.writeStartObject();
            if (!metadata.isEmpty()) {
                g.writeObjectFieldStart(METADATA);
                for (Map.Entry<String, String> m : metadata.entrySet()) {
                    g.writeStringField(m.getKey(), m.getValue());
                }
                g.writeEndObject();
            }
            for (Entry e : entries) {
                g.writeObjectFieldStart(e.name());
                g.writeStringField("dtype", e.type().name());
                g.writeArrayFieldStart("shape");
                for (long d : e.shape()) {
                    g.writeNumber(d);
                }
                g.writeEndArray();
                g.writeArrayFieldStart("data_offsets");
                g.writeNumber(e.begin());
                g.writeNumber(e.end());
                g.writeEndArray();
                g.writeEndObject();
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new IllegalStateException("writing JSON to memory failed", e);
        }
        while (out.size() % 8 != 0) {
            out.write(' ');
        }
        return out.toByteArray();
    }
}
