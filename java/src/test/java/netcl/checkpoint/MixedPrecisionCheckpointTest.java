package netcl.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import netcl.optim.GradScaler;
import netcl.optim.ParamState;

/** Mixed-precision training state in checkpoints: masters, the loss scaler, BF16 tensors. */
class MixedPrecisionCheckpointTest {
    @TempDir
    Path dir;

    @Test
    void resumedBf16TrainingWithAScalerContinuesBitForBit() throws IOException {
        Path file = dir.resolve("amp.safetensors");
        byte[][] uninterrupted;
        AmpTrainingState.Snapshot end;
        try (AmpTrainingState run = new AmpTrainingState(1)) {
            run.steps(0, 11);
            // Steps 4 and 9 had an inf: skipped, the scale halved; it doubled after steps 2 and 7.
            assertEquals(Map.of("scale", 1024.0, "growth_factor", 2.0, "backoff_factor", 0.5, "growth_interval", 3,
                    "_growth_tracker", 1), run.scaler.stateDict());
            Checkpoint.save(file, run.optimizer, run.scaler, run.named());
            run.steps(11, 17);
            assertEquals(3, run.skipped, "steps 4, 9 and 14");
            uninterrupted = run.values();
            end = run.snapshot();
        }
        // A new "process": other parameter values, a fresh optimizer and scaler.
        try (AmpTrainingState resumed = new AmpTrainingState(99)) {
            Checkpoint.load(file, resumed.optimizer, resumed.scaler, resumed.named());
            resumed.steps(11, 17);
            assertEquals(1, resumed.skipped, "step 14");
            byte[][] values = resumed.values();
            for (int i = 0; i < values.length; i++) {
                assertArrayEquals(uninterrupted[i], values[i], "parameter " + i);
            }
            end.assertSameAs(resumed.snapshot());
        }
    }

    @Test
    void theFileHoldsMastersAndTheScalerUnderTheirNames() throws IOException {
        Path file = dir.resolve("layout.safetensors");
        try (AmpTrainingState run = new AmpTrainingState(1); Arena arena = Arena.ofConfined()) {
            run.steps(0, 3);
            Checkpoint.save(file, run.optimizer, run.scaler, run.named(), Map.of("user.note", "x"));
            SafetensorsFile f = SafetensorsFile.open(file, arena);
            Map<Integer, ParamState> state = run.optimizer.stateDict().state();
            for (int i : new int[] {0, 1}) {
                Tensor master = f.tensors().get("state." + i + ".master");
                assertEquals(ElementType.F32, master.type());
                assertArrayEquals(state.get(i).master(), master.data().toArray(ValueLayout.JAVA_FLOAT));
            }
            assertFalse(f.tensors().containsKey("state.2.master"), "an FP32 parameter has no master");
            assertEquals(ElementType.BF16, f.tensors().get("layer0.weight").type());
            assertEquals("2048.0", f.metadata().get("scaler.scale"));
            assertEquals("2.0", f.metadata().get("scaler.growth_factor"));
            assertEquals("0.5", f.metadata().get("scaler.backoff_factor"));
            assertEquals("3", f.metadata().get("scaler.growth_interval"));
            assertEquals("0", f.metadata().get("scaler._growth_tracker"));
            assertEquals("x", f.metadata().get("user.note"));
        }
    }

    @Test
    void loadingTakesTheFileFactorsLikePyTorch() throws IOException {
        Path file = dir.resolve("factors.safetensors");
        try (AmpTrainingState run = new AmpTrainingState(1)) {
            run.steps(0, 4);
            Checkpoint.save(file, run.optimizer, run.scaler, run.named());
            GradScaler other = GradScaler.builder().initScale(8).growthFactor(4).backoffFactor(0.25)
                    .growthInterval(1000).build();
            Checkpoint.load(file, null, other, Map.of());
            assertEquals(run.scaler.stateDict(), other.stateDict());
        }
    }

    @Test
    void aDisabledScalerOrNoneLeavesTheScalerEntriesAlone() throws IOException {
        Path file = dir.resolve("plain.safetensors");
        try (AmpTrainingState run = new AmpTrainingState(1); AmpTrainingState other = new AmpTrainingState(2)) {
            run.steps(0, 2);
            GradScaler disabled = GradScaler.builder().enabled(false).build();
            Checkpoint.save(file, run.optimizer, disabled, run.named());
            Arena arena = Arena.ofConfined();
            try (arena) {
                assertTrue(SafetensorsFile.open(file, arena).metadata().keySet().stream()
                        .noneMatch(k -> k.startsWith("scaler.")), "a disabled scaler has no state");
            }
            Checkpoint.load(file, other.optimizer, disabled, other.named());
            Checkpoint.load(file, other.optimizer, null, other.named());
            TrainingState.StateDicts.assertBitIdentical(run.optimizer.stateDict(), other.optimizer.stateDict());
        }
    }
}
