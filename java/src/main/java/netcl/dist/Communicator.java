package netcl.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import netcl.bindings.mpi.NetclMpi;

/**
 * The ranks of an MPI job (Open MPI, launched by {@code mpirun}) and the collectives netcl's
 * sharded optimizer uses, called on off-heap {@link MemorySegment}s with no copy through the heap.
 * A process has one world: {@link #world()} initializes MPI at its first call and returns the same
 * communicator until {@link #close()}, which finalizes MPI; MPI cannot start again in that
 * process. Outside {@code mpirun} the world has one rank.
 *
 * <p>Every collective must be called by every rank, in the same order, with matching sizes; a
 * rank that does not call leaves the others waiting (see the README on faults). Calls are
 * serialized (MPI runs with {@code MPI_THREAD_SERIALIZED}). Time spent inside collectives adds up
 * in {@link #communicationNanos()}.
 */
public final class Communicator implements AutoCloseable {
    private static Communicator world;
    private static boolean finalized;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment handle;
    private final int rank;
    private final int size;
    private final MemorySegment counts;
    private final MemorySegment displs;
    private long communicationNanos;
    private boolean closed;

    private Communicator(MemorySegment handle, int rank, int size) {
        this.handle = handle;
        this.rank = rank;
        this.size = size;
        this.counts = arena.allocate(ValueLayout.JAVA_INT, size);
        this.displs = arena.allocate(ValueLayout.JAVA_INT, size);
    }

    /** The world of this job, MPI initialized at the first call. */
    public static synchronized Communicator world() {
        if (finalized) {
            throw new IllegalStateException("MPI was finalized in this process (the world was closed); "
                    + "it cannot start again");
        }
        if (world == null) {
            MpiLibrary.load();
            try (Arena temp = Arena.ofConfined()) {
                MemorySegment out = temp.allocate(ValueLayout.ADDRESS);
                MpiException.check(NetclMpi.netcl_mpi_world_create(out), "netcl_mpi_world_create");
                MemorySegment handle = out.get(ValueLayout.ADDRESS, 0);
                MemorySegment value = temp.allocate(ValueLayout.JAVA_INT);
                MpiException.check(NetclMpi.netcl_mpi_comm_rank(handle, value), "netcl_mpi_comm_rank");
                int rank = value.get(ValueLayout.JAVA_INT, 0);
                MpiException.check(NetclMpi.netcl_mpi_comm_size(handle, value), "netcl_mpi_comm_size");
                world = new Communicator(handle, rank, value.get(ValueLayout.JAVA_INT, 0));
            }
        }
        return world;
    }

    /** This process's rank, 0 .. size() - 1. */
    public int rank() {
        return rank;
    }

    /** The number of ranks. */
    public int size() {
        return size;
    }

    /** Nanoseconds spent inside this communicator's collectives so far. */
    public synchronized long communicationNanos() {
        return communicationNanos;
    }

    /**
     * Sums {@code send} (the sum of {@code counts} floats) element-wise over the ranks and leaves
     * this rank's block, the {@code counts[rank()]} floats after those of lower ranks, in
     * {@code recv}. MPI chooses the order of the additions (with 2 ranks there is one).
     */
    public synchronized void reduceScatterSum(MemorySegment send, MemorySegment recv, int[] blockCounts) {
        reduceScatter(send, recv, blockCounts, false);
    }

    /**
     * {@link #reduceScatterSum}, then each float of this rank's block divided by the number of
     * ranks (in C, with the same IEEE division as Java's {@code /}): the mean of data-parallel
     * gradients, {@code (g0 + g1 + ...) / size()}. The division's time counts as communication.
     */
    public synchronized void reduceScatterMean(MemorySegment send, MemorySegment recv, int[] blockCounts) {
        reduceScatter(send, recv, blockCounts, true);
    }

    private void reduceScatter(MemorySegment send, MemorySegment recv, int[] blockCounts, boolean mean) {
        checkOpen();
        long total = writeCounts(blockCounts, null);
        checkFloats("send", send, total);
        checkFloats("recv", recv, blockCounts[rank]);
        checkDisjoint(send, recv);
        long start = System.nanoTime();
        int status = mean ? NetclMpi.netcl_mpi_reduce_scatter_mean(handle, send, recv, counts)
                : NetclMpi.netcl_mpi_reduce_scatter_sum(handle, send, recv, counts);
        communicationNanos += System.nanoTime() - start;
        MpiException.check(status, mean ? "netcl_mpi_reduce_scatter_mean" : "netcl_mpi_reduce_scatter_sum");
    }

    /**
     * In place: rank r's {@code blockCounts[r]} floats at float offset {@code blockOffsets[r]} of
     * {@code buffer} reach every rank.
     */
    public synchronized void allGather(MemorySegment buffer, int[] blockCounts, int[] blockOffsets) {
        checkOpen();
        checkFloats("buffer", buffer, writeCounts(blockCounts, blockOffsets));
        long start = System.nanoTime();
        int status = NetclMpi.netcl_mpi_allgatherv(handle, buffer, counts, displs);
        communicationNanos += System.nanoTime() - start;
        MpiException.check(status, "netcl_mpi_allgatherv");
    }

    /**
     * Rank r's {@code send} (its {@code blockCounts[r]} floats) lands at float offset
     * {@code blockOffsets[r]} of {@code recv} on {@code root}; {@code recv} may be null elsewhere.
     */
    public synchronized void gather(MemorySegment send, MemorySegment recv, int[] blockCounts, int[] blockOffsets,
                                    int root) {
        checkOpen();
        if (root < 0 || root >= size) {
            throw new IllegalArgumentException("root " + root + " is not a rank of a world of " + size);
        }
        long total = writeCounts(blockCounts, blockOffsets);
        checkFloats("send", send, blockCounts[rank]);
        if (rank == root) {
            checkFloats("recv", recv, total);
            checkDisjoint(send, recv);
        }
        long start = System.nanoTime();
        int status = NetclMpi.netcl_mpi_gatherv(handle, send, blockCounts[rank], rank == root ? recv : MemorySegment.NULL,
                counts, displs, root);
        communicationNanos += System.nanoTime() - start;
        MpiException.check(status, "netcl_mpi_gatherv");
    }

    /** The element-wise largest of {@code values} over the ranks (a new array, the same on every rank). */
    public synchronized long[] allReduceMax(long[] values) {
        checkOpen();
        if (values == null || values.length == 0) {
            throw new IllegalArgumentException("values is null or empty");
        }
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment buffer = temp.allocateFrom(ValueLayout.JAVA_LONG, values);
            long start = System.nanoTime();
            int status = NetclMpi.netcl_mpi_allreduce_max(handle, buffer, values.length);
            communicationNanos += System.nanoTime() - start;
            MpiException.check(status, "netcl_mpi_allreduce_max");
            return buffer.toArray(ValueLayout.JAVA_LONG);
        }
    }

    /**
     * Whether any rank passes {@code true} (collective: one small all-reduce). Ranks that fail
     * alone would leave the others waiting in the next collective; this lets them fail together.
     */
    public boolean anyRank(boolean here) {
        return allReduceMax(new long[] {here ? 1 : 0})[0] != 0;
    }

    /** Waits until every rank has called it. */
    public synchronized void barrier() {
        checkOpen();
        long start = System.nanoTime();
        int status = NetclMpi.netcl_mpi_barrier(handle);
        communicationNanos += System.nanoTime() - start;
        MpiException.check(status, "netcl_mpi_barrier");
    }

    /**
     * Ends every process of the job with exit status {@code code} (MPI_Abort): for a rank that
     * cannot go on while the others would wait for it in a collective. Does not return.
     */
    public synchronized void abort(int code) {
        checkOpen();
        MpiException.check(NetclMpi.netcl_mpi_abort(handle, code), "netcl_mpi_abort");
    }

    /** Frees the communicator and finalizes MPI (collective); idempotent. */
    @Override
    public void close() {
        synchronized (Communicator.class) {
            synchronized (this) {
                if (closed) {
                    return;
                }
                closed = true;
                world = null;
                finalized = true;
                try {
                    MpiException.check(NetclMpi.netcl_mpi_comm_destroy(handle), "netcl_mpi_comm_destroy");
                    MpiException.check(NetclMpi.netcl_mpi_finalize(), "netcl_mpi_finalize");
                } finally {
                    arena.close();
                }
            }
        }
    }

    /** Checks one count (and offset) per rank and writes them to the native arrays; returns the span. */
    private long writeCounts(int[] blockCounts, int[] blockOffsets) {
        if (blockCounts == null || blockCounts.length != size) {
            throw new IllegalArgumentException("expected " + size + " block counts (one per rank), got "
                    + (blockCounts == null ? "null" : blockCounts.length));
        }
        if (blockOffsets != null && blockOffsets.length != size) {
            throw new IllegalArgumentException("expected " + size + " block offsets (one per rank), got "
                    + blockOffsets.length);
        }
        long span = 0;
        for (int r = 0; r < size; r++) {
            long offset = blockOffsets == null ? span : blockOffsets[r];
            if (blockCounts[r] < 0 || offset < 0) {
                throw new IllegalArgumentException("rank " + r + "'s block has count " + blockCounts[r]
                        + " at offset " + offset);
            }
            span = Math.max(span, offset + blockCounts[r]);
            counts.setAtIndex(ValueLayout.JAVA_INT, r, blockCounts[r]);
            displs.setAtIndex(ValueLayout.JAVA_INT, r, (int) offset);
        }
        if (span > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("the blocks span " + span + " floats; MPI's int counts allow "
                    + Integer.MAX_VALUE);
        }
        return span;
    }

    /**
     * A segment MPI may read and write as {@code floats} floats. Checked on every rank before any
     * communication: the checks are local, so a call refused on one rank only leaves the others
     * waiting in the collective (every rank must pass matching arguments).
     */
    private static void checkFloats(String what, MemorySegment segment, long floats) {
        if (segment == null) {
            throw new IllegalArgumentException(what + " is null");
        }
        if (!segment.scope().isAlive()) {
            throw new IllegalArgumentException(what + ": its arena is closed");
        }
        if (!segment.isNative() || segment.isReadOnly()) {
            throw new IllegalArgumentException(what + " must be a writable native segment");
        }
        if (!segment.isAccessibleBy(Thread.currentThread())) {
            throw new IllegalArgumentException(what + " belongs to another thread's confined arena");
        }
        if (segment.address() % Float.BYTES != 0) {
            throw new IllegalArgumentException(what + " at 0x" + Long.toHexString(segment.address())
                    + " is not aligned to 4 bytes (a float)");
        }
        if (segment.byteSize() < floats * Float.BYTES) {
            throw new IllegalArgumentException(what + " holds " + segment.byteSize() / Float.BYTES
                    + " floats, the call needs " + floats);
        }
    }

    /** MPI reads one buffer while it writes the other (MPI_IN_PLACE aside): they must not overlap. */
    private static void checkDisjoint(MemorySegment send, MemorySegment recv) {
        boolean overlap = send.address() < recv.address() + recv.byteSize()
                && recv.address() < send.address() + send.byteSize();
        if (overlap && send.byteSize() > 0 && recv.byteSize() > 0) {
            throw new IllegalArgumentException("send and recv overlap; MPI needs separate buffers");
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the communicator is closed");
        }
    }
}
