package netcl.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import netcl.optim.DType;
import netcl.optim.GradScaler;
import netcl.optim.RMSProp;

/** --save and --resume: a resumed run goes on bit for bit like an uninterrupted one. */
class DemoCheckpointTest {
    private static final long SEED = 7;

    @TempDir
    Path dir;

    private static Trainer trainer(int epochs) {
        DigitsDataset all = DigitsDataset.load();
        DigitsDataset.Split split = all.split(all.size() / 5, RandomStream.SPLIT.from(SEED));
        return new Trainer(split.train().first(300), split.test().first(100), epochs, SEED);
    }

    private static RMSProp optimizer(Mlp model, DemoOptions o) {
        return RMSProp.builder().lr(o.lr()).alpha(o.alpha()).eps(DemoOptions.EPS).momentum(o.momentum())
                .centered(o.centered()).build(model.parameters());
    }

    @Test
    void resumedTrainingEqualsUninterruptedBitForBit() throws Exception {
        DemoOptions options = DemoOptions.parse("--epochs", "3", "--seed", Long.toString(SEED), "--momentum", "0.5",
                "--centered");
        Path file = dir.resolve("demo.safetensors");
        float[] uninterrupted;
        try (Mlp model = trainer(3).newModel(); RMSProp opt = optimizer(model, options)) {
            trainer(3).train(model, opt::step, stats -> { });
            uninterrupted = model.params().toArray(ValueLayout.JAVA_FLOAT);
        }
        try (Mlp model = trainer(2).newModel(); RMSProp opt = optimizer(model, options)) {
            trainer(2).train(model, opt::step, stats -> { });
            DemoCheckpoint.save(file, opt, null, model, 2, SEED);
        }
        // A fresh model with other weights: everything comes from the file.
        try (Mlp model = new Mlp(Trainer.BATCH_SIZE, RandomStream.INIT.from(SEED + 1));
             RMSProp opt = optimizer(model, options)) {
            int done = DemoCheckpoint.resume(file, opt, null, model, options);
            trainer(3).train(model, opt::step, stats -> { }, done + 1);
            assertArrayEquals(uninterrupted, model.params().toArray(ValueLayout.JAVA_FLOAT));
        }
    }

    /** --amp: bf16 parameters, their float32 masters and the loss scaler come back from the file. */
    @Test
    void resumedMixedPrecisionTrainingEqualsUninterruptedBitForBit() throws Exception {
        DemoOptions options = DemoOptions.parse("--epochs", "3", "--seed", Long.toString(SEED), "--amp", "--clip", "1");
        Path file = dir.resolve("amp.safetensors");
        float[] uninterrupted;
        Map<String, Object> scalerState;
        try (Mlp model = trainer(3).newModel(DType.BF16); RMSProp opt = optimizer(model, options)) {
            GradScaler scaler = GradScaler.builder().growthInterval(7).build();
            trainer(3).train(model, new AmpStep(opt, scaler, model, options.clip()), stats -> { });
            uninterrupted = model.parameterValues();
            scalerState = scaler.stateDict();
        }
        try (Mlp model = trainer(2).newModel(DType.BF16); RMSProp opt = optimizer(model, options)) {
            GradScaler scaler = GradScaler.builder().growthInterval(7).build();
            trainer(2).train(model, new AmpStep(opt, scaler, model, options.clip()), stats -> { });
            DemoCheckpoint.save(file, opt, scaler, model, 2, SEED);
        }
        try (Mlp model = new Mlp(Trainer.BATCH_SIZE, RandomStream.INIT.from(SEED + 1), DType.BF16);
             RMSProp opt = optimizer(model, options)) {
            GradScaler scaler = GradScaler.builder().build();
            int done = DemoCheckpoint.resume(file, opt, scaler, model, options);
            trainer(3).train(model, new AmpStep(opt, scaler, model, options.clip()), stats -> { }, done + 1);
            assertArrayEquals(uninterrupted, model.parameterValues());
            assertEquals(scalerState, scaler.stateDict(), "the scale grew every 7 steps in both runs");
        }
    }

    /** The full default training with --amp (about 2 s of training here): above 95% on the held-out images. */
    @Test
    void fullMixedPrecisionRunPassesNinetyFivePercent() throws Exception {
        String out = run("--amp", "--out", dir.toString());
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("netcl: +test accuracy ([0-9.]+)%").matcher(out);
        assertTrue(m.find(), out);
        assertTrue(Double.parseDouble(m.group(1)) > 95, out);
        assertTrue(out.contains("0 of 900 steps skipped"), out);
        assertTrue(out.contains("-> AGREE"), out);
    }

    /** Through the demo itself: its netcl run resumes, and still agrees with the uninterrupted reference run. */
    @Test
    void demoResumesAndStillAgreesWithTheReference() throws Exception {
        Path file = dir.resolve("run.safetensors");
        String first = run("--epochs", "2", "--save", file.toString(), "--out", dir.toString());
        assertTrue(first.contains("saved to " + file), first);
        String resumed = run("--epochs", "3", "--resume", file.toString(), "--out", dir.toString());
        assertTrue(resumed.contains("resumed:   " + file + " after epoch 2"), resumed);
        assertTrue(resumed.contains("after 135 steps: 0 (bit for bit identical)"), resumed);
    }

    private static String run(String... args) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        boolean agree = Demo.runDemo(DemoOptions.parse(args), new PrintStream(bytes, true, StandardCharsets.UTF_8));
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(agree, out);
        return out;
    }

    @Test
    void resumeRefusesOtherOptions() throws Exception {
        Path file = dir.resolve("other.safetensors");
        DemoOptions options = DemoOptions.parse("--epochs", "1", "--seed", Long.toString(SEED));
        try (Mlp model = trainer(1).newModel(); RMSProp opt = optimizer(model, options)) {
            trainer(1).train(model, opt::step, stats -> { });
            DemoCheckpoint.save(file, opt, null, model, 1, SEED);
        }
        assertRefused(file, "pass the same seed", "--epochs", "3", "--seed", "8");
        assertRefused(file, "pass the same options", "--epochs", "3", "--seed", Long.toString(SEED), "--lr", "0.1");
        assertRefused(file, "has trained 1 epochs already", "--epochs", "1", "--seed", Long.toString(SEED));
    }

    private static void assertRefused(Path file, String message, String... args) throws Exception {
        DemoOptions options = DemoOptions.parse(args);
        try (Mlp model = trainer(3).newModel(); RMSProp opt = optimizer(model, options)) {
            IOException e = assertThrows(DemoCheckpoint.MismatchException.class,
                    () -> DemoCheckpoint.resume(file, opt, null, model, options));
            assertTrue(e.getMessage().contains(message), e.getMessage());
        }
    }
}
