package netcl.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

/** How the flat parameter space splits into shards: hand-computed layouts and the rules on random ones. */
class ShardLayoutTest {
    /** The MPI tests' model: 1399 floats in six tensors. */
    private static final long[] SIZES = {37, 100, 5, 193, 1000, 64};

    private static ShardLayout.Slice slice(int param, long start, long length, long flatStart) {
        return new ShardLayout.Slice(param, start, length, flatStart);
    }

    @Test
    void threeRanksCutTheLargeTensorAtWholeChunks() {
        // Ideal cuts 1399/3 = 466 and 932 fall in tensor 4 (elements 335..1335): 131 and 597 into
        // it, rounded down to chunks of 32: 128 and 576, so flat 463 and 911.
        ShardLayout rank0 = ShardLayout.of(SIZES, 3, 0);
        assertArrayEquals(new long[] {0, 463, 911, 1399}, rank0.boundaries);
        assertArrayEquals(new int[] {463, 448, 488}, rank0.counts);
        assertArrayEquals(new int[] {0, 463, 911}, rank0.displs);
        assertEquals(List.of(slice(0, 0, 37, 0), slice(1, 0, 100, 37), slice(2, 0, 5, 137), slice(3, 0, 193, 142),
                slice(4, 0, 128, 335)), rank0.slices);
        assertEquals(List.of(slice(4, 128, 448, 463)), ShardLayout.of(SIZES, 3, 1).slices);
        assertEquals(List.of(slice(4, 576, 424, 911), slice(5, 0, 64, 1335)), ShardLayout.of(SIZES, 3, 2).slices);
        assertEquals(463, rank0.shardLength(0));
        assertEquals(911, rank0.shardStart(2));
    }

    @Test
    void oneRankHoldsEveryParameterWhole() {
        ShardLayout only = ShardLayout.of(SIZES, 1, 0);
        assertArrayEquals(new long[] {0, 1399}, only.boundaries);
        assertArrayEquals(new int[] {1399}, only.counts);
        assertEquals(List.of(slice(0, 0, 37, 0), slice(1, 0, 100, 37), slice(2, 0, 5, 137), slice(3, 0, 193, 142),
                slice(4, 0, 1000, 335), slice(5, 0, 64, 1335)), only.slices);
        assertArrayEquals(new long[] {0, 37, 137, 142, 335, 1335, 1399}, only.offsets);
    }

    @Test
    void fewerElementsThanRanksLeaveTheFirstShardsEmpty() {
        // Every ideal cut (0, 0.75, 1.5, 2.25) rounds down to the tensor's start: the last rank
        // holds all 3 floats, within one chunk of 3/4.
        for (int rank = 0; rank < 4; rank++) {
            ShardLayout layout = ShardLayout.of(new long[] {3}, 4, rank);
            assertArrayEquals(new int[] {0, 0, 0, 3}, layout.counts);
            assertArrayEquals(new int[] {0, 0, 0, 0}, layout.displs);
            assertEquals(rank == 3 ? List.of(slice(0, 0, 3, 0)) : List.of(), layout.slices);
        }
    }

    @Test
    void smallTensorsAreCutOnlyAtTheirStarts() {
        // Six tensors of 5: the cut at 15 is tensor 3's start.
        ShardLayout layout = ShardLayout.of(new long[] {5, 5, 5, 5, 5, 5}, 2, 1);
        assertArrayEquals(new long[] {0, 15, 30}, layout.boundaries);
        assertEquals(List.of(slice(3, 0, 5, 15), slice(4, 0, 5, 20), slice(5, 0, 5, 25)), layout.slices);
    }

    @Test
    void noParametersMeanEmptyShards() {
        ShardLayout layout = ShardLayout.of(new long[0], 2, 0);
        assertEquals(0, layout.total);
        assertArrayEquals(new int[] {0, 0}, layout.counts);
        assertEquals(List.of(), layout.slices);
    }

    @Test
    void moreThanMpisIntCountsIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ShardLayout.of(new long[] {Integer.MAX_VALUE, 1}, 2, 0));
        assertEquals("the parameters hold 2147483648 floats; sharding over MPI supports up to 2147483647 (MPI's int "
                + "counts)", e.getMessage());
    }

    /**
     * Random tensor lists and rank counts: the shards tile the flat space in rank order, each
     * boundary lies at most one chunk below its ideal r·N/W and a whole number of chunks into its
     * tensor, so every shard is within one chunk of N/W; each rank's slices are exactly its shard.
     */
    @Test
    void everyLayoutIsBalancedWithinOneChunkAndTilesTheParameters() {
        SplittableRandom random = new SplittableRandom(7);
        for (int trial = 0; trial < 2000; trial++) {
            int count = random.nextInt(1, 12);
            long[] numels = new long[count];
            for (int i = 0; i < count; i++) {
                numels[i] = random.nextInt(3) == 0 ? random.nextLong(1, 40) : random.nextLong(1, 5000);
            }
            int ranks = random.nextInt(1, 9);
            List<ShardLayout.Slice> covered = new ArrayList<>();
            for (int rank = 0; rank < ranks; rank++) {
                ShardLayout layout = ShardLayout.of(numels, ranks, rank);
                long n = layout.total;
                for (int r = 1; r < ranks; r++) {
                    long ideal = n * r / ranks;
                    long cut = layout.boundaries[r];
                    assertTrue(cut <= ideal && ideal - cut < ShardLayout.CHUNK, "cut " + cut + " for ideal " + ideal);
                    assertTrue(layout.boundaries[r - 1] <= cut, "cuts out of order");
                    int param = 0;
                    while (layout.offsets[param + 1] <= cut && param + 1 < count) {
                        param++;
                    }
                    assertEquals(0, (cut - layout.offsets[param]) % ShardLayout.CHUNK, "cut inside a chunk");
                }
                for (int r = 0; r < ranks; r++) {
                    assertTrue(Math.abs(layout.shardLength(r) - (double) n / ranks) < ShardLayout.CHUNK,
                            "shard " + layout.shardLength(r) + " of " + n + " over " + ranks);
                }
                long at = layout.shardStart(rank);
                for (ShardLayout.Slice s : layout.slices) {
                    assertEquals(at, s.flatStart());
                    assertEquals(layout.offsets[s.param()] + s.start(), s.flatStart());
                    assertTrue(s.length() > 0 && s.start() + s.length() <= numels[s.param()]);
                    at += s.length();
                }
                assertEquals(layout.shardStart(rank) + layout.shardLength(rank), at);
                covered.addAll(layout.slices);
            }
            long at = 0;
            for (ShardLayout.Slice s : covered) {
                assertEquals(at, s.flatStart(), "the shards must tile the parameters in rank order");
                at += s.length();
            }
            assertEquals(ShardLayout.of(numels, 1, 0).total, at);
        }
    }
}
