package netcl.checkpoint;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import netcl.dist.Communicator;
import netcl.dist.ShardedRMSProp;

/**
 * Checkpoints of a {@link ShardedRMSProp}, in {@link Checkpoint}'s file format: saving gathers
 * every rank's shard of the state to rank 0, which writes the file a single process with the same
 * state would write; loading gives each rank its shard. So a job resumes on any number of ranks,
 * or in a single process with {@link Checkpoint#load(Path, netcl.optim.RMSProp)}, and a single
 * process's checkpoint starts a sharded job.
 *
 * <pre>{@code
 * ShardedCheckpoint.save(file, opt, Map.of("fc1.weight", Tensor.f32(w1)), Map.of("epoch", "3"));
 * // ... later, with any number of ranks, the same model and optimizer built again:
 * Map<String, String> metadata = ShardedCheckpoint.load(file, opt, Map.of("fc1.weight", Tensor.f32(w1)));
 * }</pre>
 *
 * <p>Both calls are collective: every rank calls them, in the same order. A step that can fail
 * on some ranks only is followed by an agreement (one small all-reduce), so that the ranks fail
 * together instead of waiting in a collective that a failed rank never reaches:
 * <ul>
 *   <li>save: every rank lays the file out and checks its arguments; the writer creates the
 *       temporary file and writes the header and tensors; <em>agree</em>; the state is gathered
 *       straight into the writer's mapping; the writer makes the file durable and renames it;
 *       <em>agree</em>, so every rank returns or throws alike.</li>
 *   <li>load: every rank opens and checks the file against its optimizer and tensors;
 *       <em>agree</em>; every rank loads its shard and the tensors; <em>agree</em>.</li>
 * </ul>
 */
public final class ShardedCheckpoint {
    /** The rank that writes the file. */
    public static final int WRITER = 0;

    private ShardedCheckpoint() {
    }

    /** Saves {@code optimizer}'s full state (collective): see {@link #save(Path, ShardedRMSProp, Map, Map)}. */
    public static void save(Path file, ShardedRMSProp optimizer) throws IOException {
        save(file, optimizer, Map.of(), Map.of());
    }

    /**
     * Saves {@code optimizer}'s full state, {@code tensors} and {@code metadata} (collective:
     * every rank calls it). Rank {@link #WRITER} gathers every rank's shard of the state straight
     * into the file and writes it with its own {@code tensors} (the model, the same on every
     * data-parallel rank), atomically as {@link Checkpoint#save(Path, netcl.optim.RMSProp, Map, Map)}
     * does; the other ranks' arguments are checked the same way but not written. Every rank
     * returns once the file is complete, or throws: a rank that failed its own exception, the others
     * an {@link IOException} saying so.
     */
    /** How far the writer got: whether it took part in the first agreement, and whether all ranks gathered. */
    private static final class Progress {
        boolean agreeing;
        boolean gathering;
    }

    public static void save(Path file, ShardedRMSProp optimizer, Map<String, Tensor> tensors,
                            Map<String, String> metadata) throws IOException {
        if (optimizer == null) {
            throw new IllegalArgumentException("optimizer is null");
        }
        Communicator comm = optimizer.communicator();
        // Collective, so it comes before any check that could fail on some ranks only.
        OptimizerEntries.Plan plan = OptimizerEntries.Plan.of(optimizer.stateInfo(), optimizer.paramGroups());
        FileLayout layout = null;
        RuntimeException refused = null;
        try {
            Checkpoint.checkSaveArguments(file, tensors, metadata);
            layout = FileLayout.of(plan, null, tensors, metadata);
        } catch (IllegalArgumentException e) {
            refused = e;
        }
        Supplier<IOException> notStarted = () -> new IOException(file + ": another rank could not start "
                + "saving the checkpoint (its own exception says why); the file was not written");
        Supplier<IOException> notWritten = () -> new IOException(file + ": rank " + WRITER + " could not write "
                + "the checkpoint (its own exception says why); the file was not replaced");
        if (comm.rank() != WRITER) {
            agree(comm, refused, notStarted);
            RuntimeException failure = null;
            try {
                optimizer.stateDict(WRITER, null);
            } catch (RuntimeException e) {
                failure = e;
            }
            agree(comm, failure, notWritten);
            return;
        }
        Progress progress = new Progress();
        Exception failure = null;
        try {
            if (refused != null) {
                throw refused;
            }
            FileLayout laidOut = layout;
            AtomicFile.write(file, laidOut.size(), mapping -> {
                List<MemorySegment> stateSlices = laidOut.write(mapping);
                progress.agreeing = true;
                agree(comm, null, notStarted);
                progress.gathering = true;
                plan.copyState(allocator -> optimizer.stateDict(WRITER, allocator), stateSlices);
            });
        } catch (IOException | RuntimeException e) {
            if (!progress.agreeing) {
                agree(comm, e, notStarted);
            }
            if (!progress.gathering) {
                throw e;  // the others refused and stopped at the first agreement
            }
            failure = e;
        }
        agree(comm, failure, notWritten);
    }

    /**
     * Loads {@code file} (saved by any number of ranks, or by a single process) into
     * {@code optimizer} (collective): see {@link #load(Path, ShardedRMSProp, Map)}.
     */
    public static Map<String, String> load(Path file, ShardedRMSProp optimizer) throws IOException {
        return load(file, optimizer, Map.of());
    }

    /**
     * Loads {@code file} on every rank (collective; every rank must be able to read it): each
     * rank keeps its shard of the optimizer's state and copies the file's tensors named in
     * {@code tensors} into the given tensors' memory, as {@link Checkpoint#load(Path,
     * netcl.optim.RMSProp, netcl.optim.GradScaler, Map)} does. Every rank checks the file first;
     * if it does not fit on some rank, nothing changes on any rank and every rank throws. Returns
     * the file's metadata.
     */
    public static Map<String, String> load(Path file, ShardedRMSProp optimizer, Map<String, Tensor> tensors)
            throws IOException {
        if (optimizer == null) {
            throw new IllegalArgumentException("optimizer is null");
        }
        Communicator comm = optimizer.communicator();
        try (Arena arena = Arena.ofConfined()) {
            CheckedLoad load = null;
            Exception refused = null;
            try {
                if (file == null) {
                    throw new IllegalArgumentException("file and tensors must not be null");
                }
                Map<String, CheckedLoad.Target> targets = Checkpoint.targets(tensors);
                load = CheckedLoad.of(SafetensorsFile.open(file, arena), optimizer.paramGroups(), null, targets);
            } catch (IOException | RuntimeException e) {
                refused = e;
            }
            agree(comm, refused, () -> new CheckpointException(file, "another rank could not load it (its own "
                    + "exception says why); nothing changed"));
            RuntimeException failure = null;
            try {
                optimizer.loadStateDict(load.state());
                load.copyTensors();
            } catch (RuntimeException e) {
                failure = e;
            }
            agree(comm, failure, () -> new IllegalStateException(file + ": another rank failed to load its shard "
                    + "after every rank had checked the file (its own exception says why); the ranks' states now "
                    + "differ"));
            return Map.copyOf(load.file().metadata());
        }
    }

    /**
     * Every rank learns whether any rank failed: a failed rank throws its own exception, the
     * others {@code elsewhere}'s.
     */
    private static <E extends Exception> void agree(Communicator comm, Exception local, Supplier<E> elsewhere)
            throws IOException, E {
        boolean failed = comm.anyRank(local != null);
        if (local instanceof IOException e) {
            throw e;
        }
        if (local instanceof RuntimeException e) {
            throw e;
        }
        if (failed) {
            throw elsewhere.get();
        }
    }
}
