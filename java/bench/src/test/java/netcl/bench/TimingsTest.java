package netcl.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Iterator;
import java.util.List;

import org.junit.jupiter.api.Test;

/** A pass's rounds as text (what a pass's JVM hands to the one that reports) and passes joined. */
class TimingsTest {
    private static final boolean[] FIRST_OF_TWO = {true, false};

    @Test
    void roundsReadBackAsTheyWereWritten() {
        Timings written = new Timings(new double[][] {{1.0 / 3, 2e-7}, {0.1, Double.MIN_VALUE}},
                new boolean[] {true, false}, new double[] {0.05, Double.NaN}, FIRST_OF_TWO);
        Iterator<String> lines = written.lines().iterator();
        Timings read = Timings.read(lines, 2, 2);
        assertFalse(lines.hasNext());
        for (int c = 0; c < 2; c++) {
            assertArrayEquals(written.ms()[c], read.ms()[c], 0.0);  // every bit: 0.0 compares exactly
        }
        assertArrayEquals(written.quiet(), read.quiet());
        assertArrayEquals(written.otherCores(), read.otherCores(), 0.0);  // NaN stays NaN
        assertArrayEquals(FIRST_OF_TWO, read.startsPass());
    }

    @Test
    void aRoundWithTheWrongNumberOfTimesIsRefused() {
        Iterator<String> lines = List.of("1 0.0 1.0").iterator();
        assertThrows(IllegalArgumentException.class, () -> Timings.read(lines, 1, 2));
    }

    @Test
    void joinedPassesMarkWhereEachStarts() {
        Timings first = Timings.read(List.of("1 0.0 1.0", "1 0.0 2.0").iterator(), 2, 1);
        Timings second = Timings.read(List.of("0 0.5 3.0", "1 0.0 4.0", "1 0.0 5.0").iterator(), 3, 1);
        Timings joined = first.then(second);
        assertArrayEquals(new boolean[] {true, false, true, false, false}, joined.startsPass());
        assertArrayEquals(new double[] {1, 2, 3, 4, 5}, joined.ms()[0], 0.0);
        assertArrayEquals(new boolean[] {true, true, false, true, true}, joined.quiet());
    }
}
