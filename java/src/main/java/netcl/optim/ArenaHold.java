package netcl.optim;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;
import java.util.function.IntSupplier;

import netcl.bindings.Netcl;
import netcl.bindings.netcl_hold_callback;

/**
 * Makes a native call while the arenas of the segments it uses are held open.
 *
 * <p>Why: the call gets raw addresses (inside the step's tensor array), and nothing stopped
 * another thread from closing a shared arena meanwhile: the native code then wrote into freed
 * memory (a SIGSEGV at 2^24 floats, memory the JVM had reused at 2^12). FFM has no public way to
 * acquire a scope, but its linker holds the scope of every segment that is an argument of a
 * downcall until the call returns: a shared arena's {@code close()} then throws
 * {@code IllegalStateException}, a confined one's owner is checked, an automatic one stays
 * reachable. So the call goes through {@code netcl_hold(callback, ...)}, with one segment of each
 * distinct scope among its variadic arguments; netcl_hold calls back into Java, which makes the
 * call itself. More scopes than one netcl_hold takes are chained: the callback calls netcl_hold
 * again with the next ones, so every hold lasts until the innermost call returns.
 *
 * <p>The downcall handles are exact-arity handles from jextract's variadic invoker, spread from
 * arrays reused across calls ({@code apply(Object...)} would allocate per call), so a steady
 * state call allocates nothing. Measured here (2-core Xeon VM, JDK 25): a run costs 60 to 75 ns
 * more than a direct downcall for the usual one or two scopes (one netcl_hold, one upcall).
 * Exceptions never leave the upcall (that would end the JVM): they are kept and rethrown by
 * {@link #run()} once the chain unwinds. Not thread-safe: its owner's lock guards it.
 */
final class ArenaHold {
    /** Segments per netcl_hold: the usual case in one narrow call; wide calls chain the rest. */
    private static final int NARROW = 4;
    /** 2 * WIDE + 6 method handle slots: 124 pointers is the JVM's limit of 255 slots. */
    private static final int WIDE = 100;
    /**
     * Distinct scopes one run holds at most. Each costs about 100 bytes of the calling thread's
     * stack while the call runs (measured before JIT compilation), and a stack overflow inside
     * an upcall ends the JVM instead of throwing: 20,000 scopes did so on a 1 MiB stack. So the
     * chain stops at about 100 KiB, and more scopes are refused before anything is held.
     */
    static final int MAX_SCOPES = 1024;
    private static final MethodHandle HOLD_NARROW = holdHandle(NARROW);

    /** Built on first use: only optimizers over more than NARROW distinct scopes need it. */
    private static final class Wide {
        static final MethodHandle HOLD = holdHandle(WIDE);
    }

    private final MemorySegment callback;
    /** The call of the current run. */
    private IntSupplier call;
    private final MemorySegment[] narrow = new MemorySegment[NARROW];
    private MemorySegment[] wide;
    /** One segment per distinct scope, [0, count). */
    private MemorySegment[] segments = new MemorySegment[NARROW];
    private int count;
    /** The first segment the current chain has not yet passed to netcl_hold. */
    private int next;
    private Throwable failure;

    /** The upcall stub lives in {@code arena}. */
    ArenaHold(Arena arena) {
        this.callback = netcl_hold_callback.allocate(this::proceed, arena);
    }

    private static MethodHandle holdHandle(int width) {
        NativeLibrary.load();
        MemoryLayout[] pointers = new MemoryLayout[width];
        Arrays.fill(pointers, Netcl.C_POINTER);
        return Netcl.netcl_hold.makeInvoker(pointers).handle().asSpreader(MemorySegment[].class, width);
    }

    /** Holds {@code segment}'s scope at the next run, unless a segment of the same scope is held. */
    void add(MemorySegment segment) {
        MemorySegment.Scope scope = segment.scope();
        for (int i = count - 1; i >= 0; i--) {  // newest first: neighbouring tensors share arenas
            if (segments[i].scope().equals(scope)) {
                return;
            }
        }
        if (count == segments.length) {
            segments = Arrays.copyOf(segments, 2 * count);
        }
        segments[count++] = segment;
    }

    /**
     * Makes {@code call} with every added scope held and returns its status; forgets the segments.
     * Throws what FFM throws for a scope it cannot hold (a closed arena: IllegalStateException;
     * another thread's confined arena: WrongThreadException), and IllegalArgumentException for
     * more than {@link #MAX_SCOPES} scopes; then the call is not made.
     */
    int run(IntSupplier call) {
        this.call = call;
        next = 0;
        try {
            if (count > MAX_SCOPES) {
                throw new IllegalArgumentException("the step's tensors live in " + count + " different arenas, "
                        + "more than the " + MAX_SCOPES + " a step can hold open: allocate them from fewer arenas "
                        + "(slices of one allocation also step faster)");
            }
            int status = holdNext();
            if (failure != null) {
                throw failure;
            }
            return status;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        } finally {
            this.call = null;
            failure = null;
            Arrays.fill(segments, 0, count, null);
            Arrays.fill(narrow, null);
            if (wide != null) {
                Arrays.fill(wide, null);
            }
            count = 0;
        }
    }

    /** One netcl_hold over the next segments; its callback continues with the rest. */
    private int holdNext() throws Throwable {
        int remaining = count - next;
        if (remaining <= NARROW) {
            fill(narrow, remaining);
            return (int) HOLD_NARROW.invokeExact(callback, narrow);
        }
        if (wide == null) {
            wide = new MemorySegment[WIDE];
        }
        fill(wide, Math.min(remaining, WIDE));
        return (int) Wide.HOLD.invokeExact(callback, wide);
    }

    /** Moves {@code n} segments into {@code slots}, padding with NULL (global: nothing to hold). */
    private void fill(MemorySegment[] slots, int n) {
        System.arraycopy(segments, next, slots, 0, n);
        Arrays.fill(slots, n, slots.length, MemorySegment.NULL);
        next += n;
    }

    /** The upcall of netcl_hold. */
    private int proceed() {
        try {
            return next < count ? holdNext() : call.getAsInt();
        } catch (Throwable e) {
            failure = e;
            return Netcl.NETCL_INVALID_ARGUMENT();  // never reported: run() throws the failure
        }
    }
}
