package netcl.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

class ProgressBarTest {
    private static final Trainer.EpochStats EPOCH = new Trainer.EpochStats(2, 0.25, 0.93, 0.3, 0.915, 40_000_000,
            4_000_000);

    private static String show(boolean inPlace) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        ProgressBar bar = new ProgressBar(out, inPlace, 12);
        for (int done = 1; done <= 45; done++) {
            bar.batch(2, done, 45, 0.25, 0.93);
        }
        bar.epoch(EPOCH);
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void logsOneLinePerEpochWhenNotOnATerminal() {
        assertEquals("epoch  2/12  loss 0.2500  train acc  93.0%  test loss 0.3000  test acc  91.5%  (0.04 s)"
                + System.lineSeparator(), show(false));
    }

    @Test
    void redrawsInPlaceOnATerminal() {
        String shown = show(true);
        assertTrue(shown.startsWith("\repoch  2/12 [                              ] 1/45  loss 0.2500  acc  93.0%"), shown);
        assertTrue(shown.contains("\repoch  2/12 [==============================] 45/45"), shown);
        // Redraws are throttled to one per 0.1 s (besides the first and the last batch): the loop
        // above takes microseconds, so all but a few of its 45 batches draw nothing.
        long redraws = shown.chars().filter(c -> c == '\r').count();
        assertTrue(redraws >= 3 && redraws < 10, shown);
        assertTrue(shown.endsWith("test acc  91.5%  (0.04 s)" + System.lineSeparator()), shown);
    }
}
