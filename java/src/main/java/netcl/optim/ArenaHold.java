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
 * reachable. So the call itself takes one segment of each distinct scope among never-read
 * variadic arguments ({@link HoldingCall}: the step is {@code netcl_rmsprop_step_holding}).
 * More scopes than one call takes are held by calls of {@code netcl_hold(callback, ...)} around
 * it: each calls back into Java, which makes the next call, so every hold lasts until the
 * innermost call returns. A native call without variadic arguments of its own is made from
 * such a callback ({@link #callingBack}).
 *
 * <p>The downcall handles are exact-arity handles from jextract's variadic invoker, spread from
 * arrays reused across calls ({@code apply(Object...)} would allocate per call), so a steady
 * state call allocates nothing. Measured here (2-core Xeon VM, JDK 25, JMH at 1,024 floats): a
 * call back through netcl_hold cost 60 to 75 ns more than a direct downcall, and
 * {@code RMSProp.step()} took 105 ns more than the raw C call with it; with the step holding its
 * own arenas (and the arrays passed as plain addresses, see {@link StepLayout}), 56 ns more.
 * Exceptions never leave an upcall (that would end the JVM): they are kept and rethrown by
 * {@link #run} once the chain unwinds. Not thread-safe: its owner's lock guards it.
 */
final class ArenaHold {
    /** Segments of a narrow call: the usual case (one or two arenas) in one call. */
    static final int NARROW = 4;
    /** Segments of a wide call. 2 * WIDE + 6 method handle slots: 124 pointers is the JVM's limit of 255 slots. */
    static final int WIDE = 100;
    /**
     * Distinct scopes one run holds at most. Each costs about 100 bytes of the calling thread's
     * stack while the call runs (measured before JIT compilation), and a stack overflow inside
     * an upcall ends the JVM instead of throwing: 20,000 scopes did so on a 1 MiB stack. So the
     * chain stops at about 100 KiB, and more scopes are refused before anything is held.
     */
    static final int MAX_SCOPES = 1024;
    private static final MethodHandle HOLD_NARROW = holdHandle(NARROW);

    /** Built on first use: only runs over more than NARROW distinct scopes need it. */
    private static final class Wide {
        static final MethodHandle HOLD = holdHandle(WIDE).asSpreader(MemorySegment[].class, WIDE);
    }

    /**
     * The innermost call of a run: a downcall that takes the last segments to hold among its
     * variadic pointer arguments, which the native side never reads.
     */
    @FunctionalInterface
    interface HoldingCall {
        /**
         * Makes the call holding {@code held}, NULL-padded: its first {@link #NARROW} when
         * {@code narrow}, else all {@link #WIDE}.
         */
        int call(Object[] held, boolean narrow) throws Throwable;
    }

    private final MemorySegment callback;
    /** What the callback does once every scope is held: the call of {@link #callingBack}. */
    private IntSupplier calledBack;
    private MemorySegment[] wide;
    /**
     * One segment per distinct scope, [0, count), then NULL: a run over at most NARROW scopes
     * passes this array itself, with nothing copied (a copy and the clearing of a second array
     * took about 15 ns of a 130 ns step of 16 floats). An Object[]: C2 compiles a store into an
     * array of an interface type (MemorySegment[]) as if the array were exactly Object[], which
     * it is not, so the step's first compiled code was thrown away and recompiled (seen with
     * -Xlog:deoptimization: "array_check").
     */
    private Object[] segments = nulls(NARROW);
    private int count;
    /** The first segment the current chain has not yet passed to a call. */
    private int next;
    /** The call of the current run. */
    private HoldingCall innermost;
    private Throwable failure;

    /** The upcall stub lives in {@code arena}. */
    ArenaHold(Arena arena) {
        this.callback = netcl_hold_callback.allocate(this::proceed, arena);
    }

    private static MethodHandle holdHandle(int width) {
        NativeLibrary.load();
        return Netcl.netcl_hold.makeInvoker(pointers(width)).handle();
    }

    private static Object[] nulls(int length) {
        Object[] slots = new Object[length];
        Arrays.fill(slots, MemorySegment.NULL);
        return slots;
    }

    /** The layouts of {@code width} variadic pointers, for a {@link HoldingCall}'s invoker. */
    static MemoryLayout[] pointers(int width) {
        MemoryLayout[] pointers = new MemoryLayout[width];
        Arrays.fill(pointers, Netcl.C_POINTER);
        return pointers;
    }

    /**
     * The innermost call for a native call that holds nothing itself: netcl_hold holds the last
     * segments and calls back, and {@code call} is made from there.
     */
    HoldingCall callingBack(IntSupplier call) {
        return (held, narrow) -> {
            calledBack = call;
            return narrow ? (int) HOLD_NARROW.invokeExact(callback, (MemorySegment) held[0], (MemorySegment) held[1],
                    (MemorySegment) held[2], (MemorySegment) held[3])
                    : (int) Wide.HOLD.invokeExact(callback, (MemorySegment[]) held);
        };
    }

    /** Holds {@code segment}'s scope at the next run, unless a segment of the same scope is held. */
    void add(MemorySegment segment) {
        MemorySegment.Scope scope = segment.scope();
        for (int i = count - 1; i >= 0; i--) {  // newest first: neighbouring tensors share arenas
            if (((MemorySegment) segments[i]).scope().equals(scope)) {
                return;
            }
        }
        if (count == segments.length) {
            segments = Arrays.copyOf(segments, 2 * count);
            Arrays.fill(segments, count, segments.length, MemorySegment.NULL);
        }
        segments[count++] = segment;
    }

    /** Forgets the added segments: the next run holds the scopes added after this. */
    void forget() {
        for (int i = 0; i < count; i++) {
            segments[i] = MemorySegment.NULL;
        }
        count = 0;
    }

    /**
     * Makes {@code call} with every added scope held and returns its status; keeps the segments
     * for the next run until {@link #forget} (a step over the same tensors and gradients as the
     * last adds nothing). Throws what FFM throws for a scope it cannot hold (a closed arena:
     * IllegalStateException; another thread's confined arena: WrongThreadException), and
     * IllegalArgumentException for more than {@link #MAX_SCOPES} scopes; then the call is not
     * made.
     */
    int run(HoldingCall call) {
        innermost = call;
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
            innermost = null;
            calledBack = null;
            failure = null;
            if (wide != null) {
                Arrays.fill(wide, null);
            }
        }
    }

    /** The innermost call with the remaining segments, or a netcl_hold of the next WIDE whose callback continues. */
    private int holdNext() throws Throwable {
        if (count <= NARROW) {
            next = count;
            return innermost.call(segments, true);
        }
        int remaining = count - next;
        if (wide == null) {
            wide = new MemorySegment[WIDE];
        }
        fill(wide, Math.min(remaining, WIDE));
        return remaining <= WIDE ? innermost.call(wide, remaining <= NARROW)
                : (int) Wide.HOLD.invokeExact(callback, wide);
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
            return next < count ? holdNext() : calledBack.getAsInt();
        } catch (Throwable e) {
            failure = e;
            return Netcl.NETCL_INVALID_ARGUMENT();  // never reported: run() throws the failure
        }
    }
}
