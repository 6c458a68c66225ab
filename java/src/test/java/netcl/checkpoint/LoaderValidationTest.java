package netcl.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every kind of bad file is refused with a {@link CheckpointException} that names the file and
 * the problem, before anything changes: the optimizer's state and options and the tensors to
 * load are compared bit for bit before and after each attempt.
 */
class LoaderValidationTest {
    @TempDir
    static Path dir;
    /** A valid checkpoint of {@link TrainingState} after 3 steps, with its tensors. */
    static byte[] valid;
    /** A valid checkpoint of {@link AmpTrainingState} after 3 steps: masters, scaler, BF16 tensors. */
    static byte[] validAmp;

    @BeforeAll
    static void writeValidCheckpoint() throws IOException {
        try (TrainingState s = new TrainingState(1)) {
            s.steps(0, 3);
            Path file = dir.resolve("valid.safetensors");
            Checkpoint.save(file, s.optimizer, s.named());
            valid = Files.readAllBytes(file);
        }
        try (AmpTrainingState s = new AmpTrainingState(1)) {
            s.steps(0, 3);
            Path file = dir.resolve("valid-amp.safetensors");
            Checkpoint.save(file, s.optimizer, s.scaler, s.named());
            validAmp = Files.readAllBytes(file);
        }
    }

    private static Arguments raw(String name, byte[] content, String problem) {
        return Arguments.of(name, content, problem, null);
    }

    private static Arguments edit(String name, UnaryOperator<String> edit, String problem) {
        return Arguments.of(name, null, problem, edit);
    }

    private static String tensor(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + ","
                + end + "]}";
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static List<Arguments> badFiles() {
        List<Arguments> cases = new ArrayList<>();
        byte[] sixteen = new byte[16];
        String i32 = tensor("test", "I32", "[2,2]", 0, 16);
        // The file's frame: too short, length beyond the file or over the limit.
        cases.add(raw("empty file", new byte[0], "too few for the 8-byte header length"));
        cases.add(raw("7 bytes", new byte[7], "too few"));
        cases.add(raw("header length beyond the file", RawFiles.withLength(1000, utf8("{}")), "goes beyond the end"));
        cases.add(raw("length field only", RawFiles.withLength(60, new byte[0]), "goes beyond the end"));
        cases.add(raw("header over 100 MB", RawFiles.withLength(100_000_001, utf8("{}")), "over the limit"));
        cases.add(raw("header length 2^64 - 1", RawFiles.withLength(-1, utf8("{}")), "over the limit"));
        // The header's text.
        cases.add(raw("not starting with {", RawFiles.bytes("[]", new byte[0]), "does not start with '{'"));
        cases.add(raw("letter before {", RawFiles.bytes("x{}", new byte[0]), "does not start with '{'"));
        cases.add(raw("empty header", RawFiles.bytes("", new byte[0]), "does not start with '{'"));
        cases.add(raw("byte 0xff", RawFiles.bytes(new byte[] {'{', (byte) 0xff, '}'}, new byte[0]), "not valid UTF-8"));
        cases.add(raw("overlong UTF-8", RawFiles.bytes(new byte[] {'{', '"', (byte) 0xc0, (byte) 0xaf, '"', '}'},
                new byte[0]), "not valid UTF-8"));
        cases.add(raw("UTF-8 surrogate", RawFiles.bytes(new byte[] {'{', '"', (byte) 0xed, (byte) 0xa0, (byte) 0x80, '"',
                ':', '1', '}'}, new byte[0]), "not valid UTF-8"));
        cases.add(raw("unclosed object", RawFiles.bytes("{", new byte[0]), "not valid JSON"));
        cases.add(raw("missing value", RawFiles.bytes("{\"a\":}", new byte[0]), "not valid JSON"));
        cases.add(raw("text after the object", RawFiles.bytes("{} x", new byte[0]), "not valid JSON"));
        cases.add(raw("second object", RawFiles.bytes("{}{}", new byte[0]), "more after its JSON object"));
        cases.add(raw("trailing NUL", RawFiles.bytes("{}\0", new byte[0]), "not valid JSON"));
        cases.add(raw("NaN", RawFiles.bytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[NaN]}}", new byte[0]), "not valid JSON"));
        cases.add(raw("deep nesting", RawFiles.bytes("{\"a\":{\"x\":" + "[".repeat(100) + "]".repeat(100) + "}}",
                new byte[0]), "nesting depth"));
        cases.add(raw("duplicate tensor names", RawFiles.bytes("{" + i32 + "," + i32 + "}", new byte[32]), "duplicate"));
        cases.add(raw("duplicate metadata keys", RawFiles.bytes("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}",
                new byte[0]), "duplicate"));
        cases.add(raw("duplicate field in an entry", RawFiles.bytes("{\"t\":{\"dtype\":\"U8\",\"dtype\":\"U8\","
                + "\"shape\":[],\"data_offsets\":[0,1]}}", new byte[1]), "duplicate"));
        cases.add(raw("metadata value not a string", RawFiles.bytes("{\"__metadata__\":{\"a\":1}}", new byte[0]),
                "is not a string"));
        cases.add(raw("metadata not an object", RawFiles.bytes("{\"__metadata__\":[]}", new byte[0]), "not a JSON object"));
        cases.add(raw("tensor not an object", RawFiles.bytes("{\"t\":[]}", new byte[0]), "not a JSON object"));
        // One tensor's entry.
        cases.add(raw("unknown dtype", RawFiles.bytes("{" + tensor("t", "F128", "[1]", 0, 16) + "}", sixteen),
                "unknown dtype 'F128'"));
        cases.add(raw("lower-case dtype", RawFiles.bytes("{" + tensor("t", "f32", "[1]", 0, 4) + "}", new byte[4]),
                "unknown dtype"));
        cases.add(raw("missing dtype", RawFiles.bytes("{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]),
                "has no dtype"));
        cases.add(raw("missing shape", RawFiles.bytes("{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", new byte[4]),
                "has no shape"));
        cases.add(raw("missing offsets", RawFiles.bytes("{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", new byte[4]),
                "has no data_offsets"));
        cases.add(raw("shape and size disagree", RawFiles.bytes("{" + tensor("test", "I32", "[2,2]", 0, 4) + "}",
                new byte[4]), "needs 16 bytes, data_offsets give 4"));
        cases.add(raw("negative dimension", RawFiles.bytes("{" + tensor("t", "F32", "[-1]", 0, 4) + "}", new byte[4]),
                "out of range"));
        cases.add(raw("fractional dimension", RawFiles.bytes("{" + tensor("t", "F32", "[1.0]", 0, 4) + "}", new byte[4]),
                "not a non-negative integer"));
        cases.add(raw("dimension over 2^64", RawFiles.bytes("{" + tensor("t", "I32", "[2,18446744073709551614]", 0, 16)
                + "}", sixteen), "out of range"));
        cases.add(raw("element count overflows", RawFiles.bytes("{" + tensor("t", "I32", "[2,9223372036854775807]", 0, 16)
                + "}", sixteen), "overflows"));
        cases.add(raw("half a byte", RawFiles.bytes("{" + tensor("t", "F4", "[3]", 0, 1) + "}", new byte[1]),
                "does not fill whole bytes"));
        cases.add(raw("three offsets", RawFiles.bytes("{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}",
                new byte[1]), "has 3 values, not 2"));
        cases.add(raw("offsets end before they begin", RawFiles.bytes("{" + tensor("t", "U8", "[0]", 4, 0) + "}",
                new byte[0]), "end before they begin"));
        // Offsets against each other and against the file.
        cases.add(raw("data beyond the file", RawFiles.bytes("{" + i32 + "}", new byte[14]), "(truncated)"));
        cases.add(raw("bytes after the last tensor", RawFiles.bytes("{" + i32 + "}", utf8("0123456789abcdefextra")),
                "(trailing bytes)"));
        cases.add(raw("overlapping tensors", RawFiles.bytes("{" + tensor("a", "U8", "[16]", 0, 16) + ","
                + tensor("b", "U8", "[16]", 8, 24) + "}", new byte[24]), "inside the tensor before it"));
        cases.add(raw("same offsets twice (the reference's json attack)", RawFiles.bytes("{" + tensor("a", "F32", "[2,2]",
                0, 16) + "," + tensor("b", "F32", "[2,2]", 0, 16) + "}", sixteen), "inside the tensor before it"));
        cases.add(raw("a hole between tensors", RawFiles.bytes("{" + tensor("a", "U8", "[8]", 0, 8) + ","
                + tensor("b", "U8", "[8]", 16, 24) + "}", new byte[24]), "leaving a hole of 8 bytes"));
        cases.add(raw("a hole at the start", RawFiles.bytes("{" + tensor("a", "U8", "[8]", 8, 16) + "}", sixteen),
                "leaving a hole"));
        // The optimizer's entries, edited into a valid checkpoint.
        cases.add(edit("negative step", h -> h.replace("\"state.0.step\":\"3\"", "\"state.0.step\":\"-3\""),
                "state.0.step is '-3', not a step count"));
        cases.add(edit("fractional step", h -> h.replace("\"state.0.step\":\"3\"", "\"state.0.step\":\"2.5\""),
                "not a step count"));
        cases.add(edit("step in exponent form", h -> h.replace("\"state.0.step\":\"3\"", "\"state.0.step\":\"3e0\""),
                "not a step count"));
        cases.add(edit("step with a leading zero", h -> h.replace("\"state.0.step\":\"3\"", "\"state.0.step\":\"03\""),
                "not a step count"));
        cases.add(edit("step over 2^63 - 1", h -> h.replace("\"state.0.step\":\"3\"",
                "\"state.0.step\":\"9223372036854775808\""), "over the largest step count"));
        cases.add(edit("missing step", h -> h.replace("\"state.0.step\":\"3\",", ""), "missing required entry state.0.step"));
        cases.add(edit("missing param_groups", h -> h.replaceFirst("\"param_groups\":\"(\\\\\"|[^\"])*\",", ""),
                "missing required entry param_groups"));
        cases.add(edit("missing format_version", h -> h.replace("\"format_version\":\"1\",", ""),
                "missing required entry format_version"));
        cases.add(edit("version from the future", h -> h.replace("\"format_version\":\"1\"", "\"format_version\":\"2\""),
                "format version 2 is from a newer netcl"));
        cases.add(edit("version far in the future", h -> h.replace("\"format_version\":\"1\"",
                "\"format_version\":\"123456789012\""), "from a newer netcl"));
        cases.add(edit("version not a number", h -> h.replace("\"format_version\":\"1\"", "\"format_version\":\"1.0\""),
                "not a version number"));
        cases.add(edit("missing square_avg", h -> h.replace("\"state.0.square_avg\"", "\"model.other\""),
                "missing required tensor state.0.square_avg"));
        cases.add(edit("step without state", h -> h.replace("\"state.0.step\":\"3\"", "\"state.0.step\":\"3\","
                + "\"state.9.step\":\"1\""), "has state.9.step but the file has no tensor state.9.square_avg"));
        cases.add(edit("unknown state tensor", h -> h.replace("\"state.0.grad_avg\"", "\"state.0.exp_avg\""),
                "unknown optimizer state tensor 'state.0.exp_avg'"));
        cases.add(edit("unknown state metadata", h -> h.replace("\"state.0.step\":\"3\"", "\"state.0.step\":\"3\","
                + "\"state.0.lr\":\"1\""), "unknown optimizer entry 'state.0.lr'"));
        cases.add(edit("state of an unlisted parameter", h -> h.replace("\"state.2.square_avg\"", "\"state.7.square_avg\"")
                .replace("\"state.2.step\"", "\"state.7.step\""), "state of parameter 7, which no parameter group lists"));
        cases.add(edit("state tensor not F32", h -> h.replace("\"state.2.square_avg\":{\"dtype\":\"F32\"",
                "\"state.2.square_avg\":{\"dtype\":\"I32\""), "is I32, not F32"));
        cases.add(edit("state size differs from its parameter", h -> h.replace("\\\"params\\\":[0,1]",
                "\\\"params\\\":[2,1]").replace("\\\"params\\\":[2]", "\\\"params\\\":[0]"),
                "has 5 elements, but its parameter (number 2 in the optimizer) has 1"));
        cases.add(edit("parameter id twice", h -> h.replace("\\\"params\\\":[2]", "\\\"params\\\":[1]"),
                "parameter id 1 appears twice"));
        cases.add(edit("one group too few", h -> h.replaceFirst(",\\{\\\\\"lr\\\\\"[^}]*\\}\\]", "]"),
                "the checkpoint has 1 parameter groups, the optimizer has 2"));
        cases.add(edit("group of another size", h -> h.replace("\\\"params\\\":[0,1]", "\\\"params\\\":[0]"),
                "parameter group 0 has 1 parameters in the checkpoint, 2 in the optimizer"));
        cases.add(edit("param_groups not JSON", h -> h.replace("\"param_groups\":\"[", "\"param_groups\":\"[{,"),
                "param_groups is not valid JSON"));
        cases.add(edit("lr not a number", h -> h.replaceFirst("\\\\\"lr\\\\\":[0-9.eE-]+", "\\\\\"lr\\\\\":\\\\\"fast\\\\\""),
                "lr is fast, not a number"));
        cases.add(edit("negative lr", h -> h.replaceFirst("\\\\\"lr\\\\\":[0-9.eE-]+", "\\\\\"lr\\\\\":-1"),
                "Invalid learning rate: -1.0"));
        cases.add(edit("alpha over 1", h -> h.replaceFirst("\\\\\"alpha\\\\\":[0-9.eE-]+", "\\\\\"alpha\\\\\":1.5"),
                "Invalid alpha value: 1.5"));
        cases.add(edit("missing alpha", h -> h.replaceFirst("\\\\\"alpha\\\\\":[0-9.eE-]+,", ""), "group 0: missing alpha"));
        cases.add(edit("centered not a boolean", h -> h.replaceFirst("\\\\\"centered\\\\\":true", "\\\\\"centered\\\\\":1"),
                "centered is 1, not true or false"));
        cases.add(edit("named tensor missing", h -> h.replace("\"layer1.weight\"", "\"layer1.bias\""),
                "missing required tensor 'layer1.weight'"));
        cases.add(edit("named tensor of another type", h -> h.replace("\"layer2.weight\":{\"dtype\":\"F32\"",
                "\"layer2.weight\":{\"dtype\":\"I32\""), "tensor 'layer2.weight' is I32, not F32"));
        return cases;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badFiles")
    void refusedWithoutChangingAnything(String name, byte[] content, String problem, UnaryOperator<String> edit)
            throws IOException {
        byte[] bytes = content != null ? content : RawFiles.editHeader(valid, edit);
        if (content == null) {
            assertTrue(!java.util.Arrays.equals(bytes, valid), "the edit changed the file");
        }
        Path file = RawFiles.write(dir.resolve("bad.safetensors"), bytes);
        try (TrainingState s = new TrainingState(5)) {
            s.steps(0, 2);
            TrainingState.Snapshot before = s.snapshot();
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> Checkpoint.load(file, s.optimizer, s.named()));
            assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
            assertTrue(e.problem().contains(problem), "expected '" + problem + "' in: " + e.getMessage());
            assertEquals(file, e.file());
            before.assertSameAs(s.snapshot());
        }
    }

    static List<Arguments> badMixedPrecisionFiles() {
        List<Arguments> cases = new ArrayList<>();
        cases.add(edit("master of an FP32 parameter", h -> h.replace("\"state.0.master\"", "\"state.2.master\""),
                "tensor 'state.2.master' is a master copy, but its parameter (number 2 in the optimizer) is FP32"));
        cases.add(edit("master of another length", h -> h.replace("\"state.0.master\"", "\"tmp\"")
                .replace("\"state.1.master\"", "\"state.0.master\"").replace("\"tmp\"", "\"state.1.master\""),
                "master' has "));
        cases.add(edit("master not F32", h -> h.replace("\"state.0.master\":{\"dtype\":\"F32\"",
                "\"state.0.master\":{\"dtype\":\"I32\""), "tensor 'state.0.master' is I32, not F32"));
        cases.add(edit("missing scaler.scale", h -> h.replaceFirst("\"scaler.scale\":\"[^\"]*\",", ""),
                "missing required entry scaler.scale in __metadata__ (saved without a GradScaler"));
        cases.add(edit("missing growth tracker", h -> h.replaceFirst(",?\"scaler._growth_tracker\":\"[^\"]*\"", ""),
                "missing required entry scaler._growth_tracker"));
        cases.add(edit("scale NaN", h -> h.replace("\"scaler.scale\":\"2048.0\"", "\"scaler.scale\":\"NaN\""),
                "scaler.scale is 'NaN', not a decimal number"));
        cases.add(edit("scale in hex", h -> h.replace("\"scaler.scale\":\"2048.0\"", "\"scaler.scale\":\"0x1p11\""),
                "not a decimal number"));
        cases.add(edit("scale 0", h -> h.replace("\"scaler.scale\":\"2048.0\"", "\"scaler.scale\":\"0.0\""),
                "invalid scaler state: initScale must be a finite float32 > 0"));
        cases.add(edit("scale beyond float32", h -> h.replace("\"scaler.scale\":\"2048.0\"", "\"scaler.scale\":\"1e39\""),
                "invalid scaler state"));
        cases.add(edit("growth factor below 1", h -> h.replace("\"scaler.growth_factor\":\"2.0\"",
                "\"scaler.growth_factor\":\"0.5\""), "growthFactor must be finite and > 1"));
        cases.add(edit("backoff factor 1", h -> h.replace("\"scaler.backoff_factor\":\"0.5\"",
                "\"scaler.backoff_factor\":\"1\""), "backoffFactor must be in (0, 1)"));
        cases.add(edit("growth interval 0", h -> h.replace("\"scaler.growth_interval\":\"3\"",
                "\"scaler.growth_interval\":\"0\""), "growthInterval must be > 0"));
        cases.add(edit("growth interval over 2^31 - 1", h -> h.replace("\"scaler.growth_interval\":\"3\"",
                "\"scaler.growth_interval\":\"2147483648\""), "not an integer in 0 .. 2^31 - 1"));
        cases.add(edit("growth tracker at the interval", h -> h.replace("\"scaler._growth_tracker\":\"0\"",
                "\"scaler._growth_tracker\":\"3\""), "_growth_tracker must be an Integer in 0..2, got 3"));
        cases.add(edit("negative growth tracker", h -> h.replace("\"scaler._growth_tracker\":\"0\"",
                "\"scaler._growth_tracker\":\"-1\""), "not an integer"));
        cases.add(edit("unknown scaler entry", h -> h.replace("\"scaler.scale\"", "\"scaler.speed\":\"1\",\"scaler.scale\""),
                "unknown scaler entry 'scaler.speed'"));
        cases.add(edit("BF16 tensor stored as F16", h -> h.replace("\"layer0.weight\":{\"dtype\":\"BF16\"",
                "\"layer0.weight\":{\"dtype\":\"F16\""), "tensor 'layer0.weight' is F16, not BF16"));
        return cases;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badMixedPrecisionFiles")
    void mixedPrecisionRefusedWithoutChangingAnything(String name, byte[] content, String problem,
                                                      UnaryOperator<String> edit) throws IOException {
        byte[] bytes = RawFiles.editHeader(validAmp, edit);
        assertTrue(!java.util.Arrays.equals(bytes, validAmp), "the edit changed the file");
        Path file = RawFiles.write(dir.resolve("bad-amp.safetensors"), bytes);
        try (AmpTrainingState s = new AmpTrainingState(5)) {
            s.steps(0, 2);
            AmpTrainingState.Snapshot before = s.snapshot();
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> Checkpoint.load(file, s.optimizer, s.scaler, s.named()));
            assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
            assertTrue(e.problem().contains(problem), "expected '" + problem + "' in: " + e.getMessage());
            before.assertSameAs(s.snapshot());
        }
    }

    @Test
    void validMixedPrecisionFileStillLoads() throws IOException {
        Path file = RawFiles.write(dir.resolve("valid-amp-copy.safetensors"), validAmp);
        try (AmpTrainingState s = new AmpTrainingState(5)) {
            Checkpoint.load(file, s.optimizer, s.scaler, s.named());
            assertEquals(3, s.optimizer.stateDict().state().get(0).step());
            assertEquals(2048.0, s.scaler.getScale());
        }
    }

    @Test
    void tensorOfAnotherSizeIsRefused() throws IOException {
        Path file = RawFiles.write(dir.resolve("sizes.safetensors"), valid);
        try (TrainingState s = new TrainingState(5); java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            TrainingState.Snapshot before = s.snapshot();
            java.lang.foreign.MemorySegment small = arena.allocate(16);
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> Checkpoint.load(file, s.optimizer, Map.of("layer1.weight", small)));
            assertTrue(e.problem().contains("has 4099 elements, the segment to load it into has 4"), e.getMessage());
            before.assertSameAs(s.snapshot());
        }
    }

    @Test
    void validFileStillLoads() throws IOException {
        Path file = RawFiles.write(dir.resolve("valid-copy.safetensors"), valid);
        try (TrainingState s = new TrainingState(5)) {
            Checkpoint.load(file, s.optimizer, s.named());
            assertEquals(3, s.optimizer.stateDict().state().get(0).step());
        }
    }
}
