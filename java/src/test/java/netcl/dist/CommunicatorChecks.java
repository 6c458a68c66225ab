package netcl.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@link Communicator}'s refusals, run by {@link MpiLaunchTest} under {@code mpirun -np 2}. Every
 * rank passes the same bad argument (the checks are local: a rank refused alone would leave the
 * other waiting in the collective), which must throw {@link IllegalArgumentException} with a
 * message naming the problem, with no buffer written and no time counted as communication; then
 * the collectives still work. Closed, every call throws {@link IllegalStateException}, closing
 * again does nothing, and MPI cannot start again. Prints {@code RESULT ... ok=true} per rank.
 */
public final class CommunicatorChecks {
    private static final float SENTINEL = -7.5f;
    private static int failures;

    private CommunicatorChecks() {
    }

    private interface Call {
        void run();
    }

    private static void expect(Class<? extends RuntimeException> type, String message, Call call) {
        try {
            call.run();
            report("no exception, expected '" + message + "'");
        } catch (RuntimeException e) {
            if (!type.isInstance(e) || e.getMessage() == null || !e.getMessage().contains(message)) {
                report("expected " + type.getSimpleName() + " '" + message + "', got " + e);
            }
        }
    }

    private static void report(String problem) {
        System.out.println("RESULT " + problem);
        failures++;
    }

    public static void main(String[] args) throws Exception {
        Communicator comm = Communicator.world();
        if (Communicator.world() != comm) {
            report("world() returned another communicator");
        }
        int rank = comm.rank();
        int[] counts = {3, 5};
        int[] displs = {0, 3};
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(16 * Float.BYTES, 128);
            MemorySegment b = arena.allocate(16 * Float.BYTES, 128);
            a.fill((byte) 0);
            for (long k = 0; k < 16; k++) {
                a.setAtIndex(ValueLayout.JAVA_FLOAT, k, k + 1);
                b.setAtIndex(ValueLayout.JAVA_FLOAT, k, SENTINEL);
            }
            MemorySegment closed;
            try (Arena gone = Arena.ofConfined()) {
                closed = gone.allocate(16 * Float.BYTES, 128);
            }
            AtomicReference<MemorySegment> foreign = new AtomicReference<>();
            Thread owner = new Thread(() -> foreign.set(Arena.ofConfined().allocate(16 * Float.BYTES, 128)));
            owner.start();
            owner.join();
            long nanos = comm.communicationNanos();
            Class<IllegalArgumentException> bad = IllegalArgumentException.class;

            expect(bad, "expected 2 block counts (one per rank), got 1",
                    () -> comm.reduceScatterSum(a, b, new int[] {8}));
            expect(bad, "expected 2 block counts (one per rank), got null", () -> comm.reduceScatterSum(a, b, null));
            expect(bad, "rank 1's block has count -1 at offset 3",
                    () -> comm.reduceScatterSum(a, b, new int[] {3, -1}));
            expect(bad, "send is null", () -> comm.reduceScatterSum(null, b, counts));
            expect(bad, "recv is null", () -> comm.reduceScatterSum(a, null, counts));
            expect(bad, "send must be a writable native segment",
                    () -> comm.reduceScatterSum(MemorySegment.ofArray(new float[16]), b, counts));
            expect(bad, "recv must be a writable native segment",
                    () -> comm.reduceScatterSum(a, b.asReadOnly(), counts));
            expect(bad, "send holds 4 floats, the call needs 8",
                    () -> comm.reduceScatterSum(a.asSlice(0, 16), b, counts));
            expect(bad, "recv holds 2 floats, the call needs " + counts[rank],
                    () -> comm.reduceScatterSum(a, b.asSlice(0, 8), counts));
            expect(bad, "is not aligned to 4 bytes", () -> comm.reduceScatterSum(a.asSlice(2, 40), b, counts));
            expect(bad, "send: its arena is closed", () -> comm.reduceScatterSum(closed, b, counts));
            expect(bad, "send belongs to another thread's confined arena",
                    () -> comm.reduceScatterSum(foreign.get(), b, counts));
            expect(bad, "send and recv overlap", () -> comm.reduceScatterSum(a, a.asSlice(8), counts));

            expect(bad, "expected 2 block offsets (one per rank), got 3",
                    () -> comm.allGather(a, counts, new int[] {0, 3, 6}));
            expect(bad, "rank 1's block has count 5 at offset -3", () -> comm.allGather(a, counts, new int[] {0, -3}));
            expect(bad, "buffer holds 7 floats, the call needs 8",
                    () -> comm.allGather(a.asSlice(0, 28), counts, displs));
            expect(bad, "the blocks span 2147483650 floats; MPI's int counts allow 2147483647",
                    () -> comm.allGather(a, counts, new int[] {0, Integer.MAX_VALUE - 2}));
            expect(bad, "buffer: its arena is closed", () -> comm.allGather(closed, counts, displs));

            expect(bad, "root 2 is not a rank of a world of 2", () -> comm.gather(a, b, counts, displs, 2));
            expect(bad, "root -1 is not a rank of a world of 2", () -> comm.gather(a, b, counts, displs, -1));
            // Every rank its own root here, so that every rank refuses.
            expect(bad, "recv is null", () -> comm.gather(a, null, counts, displs, rank));
            expect(bad, "send and recv overlap", () -> comm.gather(a, a, counts, displs, rank));
            expect(bad, "send holds 2 floats, the call needs " + counts[rank],
                    () -> comm.gather(a.asSlice(0, 8), b, counts, displs, rank));

            expect(bad, "values is null or empty", () -> comm.allReduceMax(new long[0]));
            expect(bad, "values is null or empty", () -> comm.allReduceMax(null));

            for (long k = 0; k < 16; k++) {
                if (a.getAtIndex(ValueLayout.JAVA_FLOAT, k) != k + 1
                        || b.getAtIndex(ValueLayout.JAVA_FLOAT, k) != SENTINEL) {
                    report("a refused call wrote element " + k);
                }
            }
            if (comm.communicationNanos() != nanos) {
                report("refused calls counted as communication");
            }
            // Still in step: a[k] = k + 1 on both ranks sums to 2(k + 1); rank 1's block starts at 3.
            comm.reduceScatterSum(a, b, counts);
            for (int k = 0; k < counts[rank]; k++) {
                if (b.getAtIndex(ValueLayout.JAVA_FLOAT, k) != 2f * (displs[rank] + k + 1)) {
                    report("after the refusals, the sum's element " + k + " is "
                            + b.getAtIndex(ValueLayout.JAVA_FLOAT, k));
                }
            }
            // The mean divides each sum by the 2 ranks: k + 1, exact.
            comm.reduceScatterMean(a, b, counts);
            for (int k = 0; k < counts[rank]; k++) {
                if (b.getAtIndex(ValueLayout.JAVA_FLOAT, k) != displs[rank] + k + 1) {
                    report("the mean's element " + k + " is " + b.getAtIndex(ValueLayout.JAVA_FLOAT, k));
                }
            }
            expect(bad, "send and recv overlap", () -> comm.reduceScatterMean(a, a.asSlice(8), counts));
            if (comm.anyRank(rank == 1) != true || comm.anyRank(false)) {
                report("anyRank is wrong");
            }
        }

        comm.close();
        Class<IllegalStateException> closedComm = IllegalStateException.class;
        String message = "the communicator is closed";
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(16 * Float.BYTES, 128);
            expect(closedComm, message, () -> comm.reduceScatterSum(a, a.asSlice(32), counts));
            expect(closedComm, message, () -> comm.reduceScatterMean(a, a.asSlice(32), counts));
            expect(closedComm, message, () -> comm.allGather(a, counts, displs));
            expect(closedComm, message, () -> comm.gather(a, null, counts, displs, 0));
            expect(closedComm, message, () -> comm.allReduceMax(new long[] {1}));
            expect(closedComm, message, () -> comm.anyRank(true));
            expect(closedComm, message, comm::barrier);
            expect(closedComm, message, () -> comm.abort(3));
        }
        comm.close();
        expect(closedComm, "MPI was finalized in this process (the world was closed); it cannot start again",
                Communicator::world);
        System.out.println("RESULT rank=" + rank + " communicator failures=" + failures + " ok=" + (failures == 0));
        System.exit(failures == 0 ? 0 : 1);
    }
}
