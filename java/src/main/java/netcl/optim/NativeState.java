package netcl.optim;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Cleaner;

import netcl.bindings.Netcl;
import netcl.bindings.netcl_step_options;

/**
 * The native side of one {@link RMSProp}: its netcl context (its own, or a use of the caller's
 * {@link DeviceContext}) and optimizer, its references on device buffers, an arena for its own
 * memory (scratch space, the netcl_hold upcall stub) and the step arrays. Freed exactly once: by
 * {@link RMSProp#close()}, or, for an optimizer dropped without close(), by a {@link Cleaner}
 * once the RMSProp is unreachable (unclosed optimizers had kept about 1.6 MiB each until the
 * process ended). Nothing here may reference the RMSProp, which would then never become
 * unreachable.
 *
 * <p>A Cleaner runs only after a garbage collection found the optimizer unreachable, and a
 * program that drops optimizers without making much other garbage may not collect for a long
 * time while their native memory piles up (200 dropped optimizers: +303 MiB, no collection).
 * So, like direct ByteBuffers, creating a state requests a collection ({@link System#gc()}) when
 * the states not yet freed reach a threshold, and waits briefly while the Cleaner frees: the
 * threshold is {@value #GC_BATCH} at first, then twice the count left after the last request, so
 * that a program that keeps many optimizers open pays a logarithmic number of collections; frees
 * bring it back down. A program that closes its optimizers never reaches it.
 */
final class NativeState implements Runnable {
    private static final Cleaner CLEANER = Cleaner.create();
    private static final int GC_BATCH = 16;
    private static final long MAX_PAUSE_MILLIS = 64;
    /** States created and not yet freed; guarded by NativeState.class. */
    private static int unfreed;
    private static int gcThreshold = GC_BATCH;

    /** Shared: the optimizer may be used from any thread, and the Cleaner frees it on its own. */
    final Arena arena = Arena.ofShared();
    final MemorySegment scratch = arena.allocate(ValueLayout.JAVA_LONG);
    final StepLayout layout = new StepLayout();
    private final DeviceContext deviceContext;
    private final boolean ownsContext;
    final MemorySegment context;
    final MemorySegment optimizer;
    final Device device;
    final DeviceBuffers deviceBuffers;
    /** Makes native calls with every tensor's arena held open. */
    final ArenaHold hold;
    /** The step over the step arrays, and the same with stepOptions' gradient scaling. */
    final HeldStep step;
    final HeldStep scaledStep;
    final MemorySegment stepOptions;

    /**
     * Creates an optimizer on {@code context} that takes {@code path} (null: the library's
     * choice). The state closes the context when it {@code owns} it, else it has acquired a use
     * of it (the builder did) and releases that; on failure too.
     */
    NativeState(DeviceContext context, boolean owns, StepPath path) {
        NativeLibrary.load();
        deviceContext = context;
        ownsContext = owns;
        MemorySegment ctx = context.handle();
        MemorySegment opt = MemorySegment.NULL;
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment out = temp.allocate(ValueLayout.ADDRESS);
            device = context.device();
            NetclException.check(Netcl.netcl_rmsprop_create(ctx, out), "netcl_rmsprop_create");
            opt = out.get(ValueLayout.ADDRESS, 0);
            if (path != null) {
                NetclException.check(Netcl.netcl_rmsprop_set_path(opt, path.code()), "netcl_rmsprop_set_path");
            }
        } catch (RuntimeException e) {
            Netcl.netcl_rmsprop_destroy(opt);
            releaseContext();
            arena.close();
            throw e;
        }
        this.context = ctx;
        optimizer = opt;
        deviceBuffers = new DeviceBuffers(ctx, scratch);
        hold = new ArenaHold(arena);
        stepOptions = netcl_step_options.allocate(arena);
        netcl_step_options.struct_size(stepOptions, (int) netcl_step_options.sizeof());
        step = new HeldStep(opt, layout, MemorySegment.NULL);
        scaledStep = new HeldStep(opt, layout, stepOptions);
        created();
    }

    private static void created() {
        synchronized (NativeState.class) {
            if (++unfreed < gcThreshold) {
                return;
            }
        }
        System.gc();  // finds optimizers dropped unclosed; the Cleaner then frees them
        awaitCleaner();
        synchronized (NativeState.class) {
            gcThreshold = Math.max(GC_BATCH, 2 * unfreed);
        }
    }

    /**
     * Gives the Cleaner time to free what the collection found, so that creating optimizers
     * faster than it frees them does not pile them up: waits while each pause shows progress
     * (after a first pause for the references to reach it), at most about 0.1 s. Optimizers that
     * are all still reachable cost two pauses, 3 ms.
     */
    private static void awaitCleaner() {
        int before = unfreed();
        for (long pause = 1; pause <= MAX_PAUSE_MILLIS; pause *= 2) {
            try {
                Thread.sleep(pause);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            int now = unfreed();
            if (now < GC_BATCH || (now >= before && pause > 1)) {
                return;
            }
            before = now;
        }
    }

    /** States created and not yet freed, for tests. */
    static synchronized int unfreed() {
        return unfreed;
    }

    private static synchronized void freed() {
        unfreed--;
        gcThreshold = Math.min(gcThreshold, Math.max(GC_BATCH, 2 * unfreed));
    }

    private void releaseContext() {
        if (ownsContext) {
            deviceContext.close();
        } else {
            deviceContext.release();
        }
    }

    /** Frees this state when {@code owner} becomes unreachable, unless the returned cleanable ran first. */
    Cleaner.Cleanable freeWhenUnreachable(Object owner) {
        return CLEANER.register(owner, this);
    }

    /** Frees everything; the cleanable (or the constructor's failure path of the owner) calls it once. */
    @Override
    public void run() {
        Netcl.netcl_rmsprop_destroy(optimizer);
        deviceBuffers.release();
        releaseContext();
        layout.close();
        arena.close();
        freed();
    }
}
