package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * The JVM keeps its signal handlers once netcl has used OpenCL: PoCL and its LLVM install their
 * own for SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGUSR2 and more when the device starts and when they
 * compile, and HotSpot needs its own (implicit null checks, safepoint polls, thread suspension):
 * with LLVM's left in place a JVM died of SIGSEGV without a crash report. A child JVM reads the
 * handlers (sigaction), starts a device, steps every variant on the kernel path and reads them
 * again: each must be the JVM's.
 */
class SignalHandlersTest {
    /** SIGILL, SIGBUS, SIGFPE, SIGSEGV, SIGUSR2 on Linux. */
    private static final int[] JVM_SIGNALS = {4, 7, 8, 11, 12};

    @Test
    void theJvmsHandlersSurviveDeviceStartAndKernelCompiles() {
        ChildJvm.Result child = ChildJvm.run(KernelSteps.class, List.of());
        assertEquals("ok", child.verdict("verdict"));
    }

    /** Steps all 16 variants on the kernel path; prints which handlers changed, or "ok". */
    public static final class KernelSteps {
        private static final MethodHandle SIGACTION = Linker.nativeLinker().downcallHandle(
                Linker.nativeLinker().defaultLookup().find("sigaction").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                        ValueLayout.ADDRESS));

        /** The handler of {@code signal}: the first field of Linux's struct sigaction (152 bytes). */
        private static long handler(int signal) throws Throwable {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment action = arena.allocate(152, 8);
                if ((int) SIGACTION.invokeExact(signal, MemorySegment.NULL, action) != 0) {
                    throw new IllegalStateException("sigaction(" + signal + ") failed");
                }
                return action.get(ValueLayout.JAVA_LONG, 0);
            }
        }

        public static void main(String[] args) throws Throwable {
            long[] before = new long[JVM_SIGNALS.length];
            for (int i = 0; i < JVM_SIGNALS.length; i++) {
                before[i] = handler(JVM_SIGNALS[i]);
            }
            try (Arena arena = Arena.ofConfined()) {
                for (int variant = 0; variant < 16; variant++) {
                    Parameter p = Parameter.wrap(TestTensors.random(arena, variant, 5000),
                            TestTensors.random(arena, variant + 100, 5000));
                    try (RMSProp opt = RMSProp.builder().path(StepPath.KERNEL)
                            .weightDecay((variant & 1) != 0 ? 0.01 : 0).maximize((variant & 2) != 0)
                            .momentum((variant & 4) != 0 ? 0.9 : 0).centered((variant & 8) != 0)
                            .build(List.of(p))) {
                        opt.step();
                        opt.step();
                    }
                }
            }
            StringBuilder changed = new StringBuilder();
            for (int i = 0; i < JVM_SIGNALS.length; i++) {
                if (handler(JVM_SIGNALS[i]) != before[i]) {
                    changed.append(" signal ").append(JVM_SIGNALS[i]);
                }
            }
            System.out.println("verdict " + (changed.isEmpty() ? "ok" : "handlers replaced:" + changed));
        }
    }
}
