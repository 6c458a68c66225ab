package netcl.checkpoint;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Supplier;

import netcl.dist.Communicator;
import netcl.dist.ShardedRMSProp;
import netcl.optim.SegmentStateDict;

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
 *   <li>save: every rank checks its arguments; the writer creates the temporary file;
 *       <em>agree</em>; the state is gathered into the writer's native memory, and the writer
 *       streams the file through the same code as {@link Checkpoint}, makes it durable and
 *       renames it; <em>agree</em>, so every rank returns or throws alike.</li>
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
     * every rank calls it). Rank {@link #WRITER} gathers every rank's shard of the state into its
     * native memory (the full state: as much again as a single process's optimizer holds on its
     * device) and writes it with its own {@code tensors} (the model, the same on every
     * data-parallel rank), atomically and through the same code as
     * {@link Checkpoint#save(Path, netcl.optim.RMSProp, Map, Map)}; the other ranks' arguments are
     * checked the same way but not written. Every rank returns once the file is complete, or
     * throws: a rank that failed its own exception, the others an {@link IOException} saying so.
     */
    public static void save(Path file, ShardedRMSProp optimizer, Map<String, Tensor> tensors,
                            Map<String, String> metadata) throws IOException {
        if (optimizer == null) {
            throw new IllegalArgumentException("optimizer is null");
        }
        Communicator comm = optimizer.communicator();
        FileLayout layout = null;
        RuntimeException refused = null;
        try {
            Checkpoint.checkSaveArguments(file, tensors, metadata);
            layout = FileLayout.of(null, tensors, metadata);
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
                GatheredState.of(optimizer, null);
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
            FileLayout checked = layout;
            AtomicFile.write(file, out -> {
                progress.agreeing = true;
                agree(comm, null, notStarted);
                progress.gathering = true;
                try (Arena arena = Arena.ofConfined()) {
                    GatheredState state = GatheredState.of(optimizer, arena);
                    checked.write(out, state.plan(), state::append);
                }
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

    /** How far the writer got: whether it took part in the first agreement, and whether all ranks gathered. */
    private static final class Progress {
        boolean agreeing;
        boolean gathering;
    }

    /** The full state gathered to the writer, and the plan of the file it goes into. */
    private record GatheredState(OptimizerEntries.Plan plan, SegmentStateDict state) {

        /**
         * Gathers {@code optimizer}'s state to the writer into {@code arena} (collective); null on
         * the other ranks, which need no arena.
         */
        static GatheredState of(ShardedRMSProp optimizer, Arena arena) {
            // Holding the optimizer's lock on every rank keeps its state as planned until it is
            // gathered: a step from another thread waits.
            synchronized (optimizer) {
                OptimizerEntries.Plan plan = OptimizerEntries.Plan.of(optimizer.stateInfo(), optimizer.paramGroups());
                SegmentStateDict state = optimizer.stateDict(WRITER, arena);
                return state == null ? null : new GatheredState(plan, state);
            }
        }

        /** Appends a planned state tensor's gathered values. */
        void append(FileAppender out, OptimizerEntries.StateTensor tensor) throws IOException {
            out.append(tensor.buffer().segmentIn(state.state().get(tensor.index())));
        }
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
