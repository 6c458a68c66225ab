package netcl.dist;

import java.util.ArrayList;
import java.util.List;

/**
 * How the flat parameter space (every parameter's elements, in parameter order) splits into one
 * shard per rank. Rank r's shard starts near r·N/W: at the largest point at or below it that lies
 * a whole number of chunks ({@value #CHUNK} floats, 128 bytes) into its tensor, so that a tensor
 * allocated with {@code Tensors.allocate} keeps its slices 128-byte aligned. Each shard is thus
 * within one chunk of N/W floats, and a shard may cut through a tensor.
 */
final class ShardLayout {
    static final int CHUNK = 32;

    /** A piece of one parameter inside this rank's shard. */
    record Slice(int param, long start, long length, long flatStart) {
    }

    final long[] offsets;
    final long total;
    final long[] boundaries;
    final int[] counts;
    final int[] displs;
    final List<Slice> slices;

    private ShardLayout(long[] offsets, long total, long[] boundaries, List<Slice> slices) {
        this.offsets = offsets;
        this.total = total;
        this.boundaries = boundaries;
        this.slices = slices;
        int ranks = boundaries.length - 1;
        this.counts = new int[ranks];
        this.displs = new int[ranks];
        for (int r = 0; r < ranks; r++) {
            counts[r] = Math.toIntExact(boundaries[r + 1] - boundaries[r]);
            displs[r] = Math.toIntExact(boundaries[r]);
        }
    }

    static ShardLayout of(long[] numels, int ranks, int rank) {
        long[] offsets = new long[numels.length + 1];
        for (int i = 0; i < numels.length; i++) {
            offsets[i + 1] = offsets[i] + numels[i];
        }
        long total = offsets[numels.length];
        if (total > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("the parameters hold " + total + " floats; sharding over MPI "
                    + "supports up to " + Integer.MAX_VALUE + " (MPI's int counts)");
        }
        long[] boundaries = new long[ranks + 1];
        boundaries[ranks] = total;
        int param = 0;
        for (int r = 1; r < ranks; r++) {
            long ideal = total * r / ranks;
            // The tensor that holds element `ideal` (none when there are no elements at all).
            while (param + 1 < numels.length && offsets[param + 1] <= ideal) {
                param++;
            }
            boundaries[r] = offsets[param] + (ideal - offsets[param]) / CHUNK * CHUNK;
        }
        List<Slice> slices = new ArrayList<>();
        long from = boundaries[rank];
        long to = boundaries[rank + 1];
        for (int i = 0; i < numels.length; i++) {
            long start = Math.max(from, offsets[i]);
            long end = Math.min(to, offsets[i + 1]);
            if (start < end) {
                slices.add(new Slice(i, start - offsets[i], end - start, start));
            }
        }
        return new ShardLayout(offsets, total, boundaries, List.copyOf(slices));
    }

    long shardStart(int rank) {
        return boundaries[rank];
    }

    long shardLength(int rank) {
        return boundaries[rank + 1] - boundaries[rank];
    }
}
