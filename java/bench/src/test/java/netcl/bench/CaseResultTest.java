package netcl.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;

/** A case's ratios over its passes, against values worked out by hand. */
class CaseResultTest {
    private static final List<String> IMPLS = List.of("netcl", "java-loop-serial");

    /** A pass of quiet rounds in which netcl took 1 ms and the Java loop {@code ratios[r]} ms. */
    private static Timings pass(double... ratios) {
        double[] netcl = new double[ratios.length];
        Arrays.fill(netcl, 1.0);
        boolean[] quiet = new boolean[ratios.length];
        Arrays.fill(quiet, true);
        boolean[] starts = new boolean[ratios.length];
        starts[0] = true;
        return new Timings(new double[][] {netcl, ratios.clone()}, quiet, new double[ratios.length], starts);
    }

    private static CaseResult result(Timings rounds) {
        return new CaseResult(Variant.PLAIN, "1024", new long[] {1024}, "single", "host", IMPLS, rounds, 1);
    }

    @Test
    void eachPassHasItsOwnMedian() {
        CaseResult result = result(pass(1, 2, 3).then(pass(4, 5, 6)));
        assertArrayEquals(new double[] {2, 5}, result.passMedians("java-loop-serial", "netcl"), 0.0);
        assertEquals(3.5, result.ratio("java-loop-serial", "netcl").median(), 0.0);  // of 1..6
    }

    @Test
    void aLongerPassGivesAsManyRoundsAsTheShortest() {
        // The first pass's 4 rounds give 2, spread evenly: its rounds 0 and 2 (ratios 1 and 3).
        CaseResult result = result(pass(1, 9, 3, 9).then(pass(5, 7)));
        assertArrayEquals(new double[] {2, 6}, result.passMedians("java-loop-serial", "netcl"), 0.0);
        assertEquals(4, result.rounds());
        assertEquals(4.0, result.ratio("java-loop-serial", "netcl").median(), 0.0);  // of 1, 3, 5, 7
    }
}
